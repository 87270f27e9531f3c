"""Read the facts from the indexes over HTTP, with the session and failure wording of envspec's lock."""

from __future__ import annotations

import hashlib

import requests
from packaging.utils import canonicalize_name

from envspec.compat import Compat
from envspec.lock.net import fetch_bytes, http_session
from envspec.lock.simple import ACCEPT, IndexFile, parse_index_page
from tools.compat_refresh.errors import RefreshError
from tools.compat_refresh.facts import (
    COMPANIONS,
    CompanionFacts,
    IndexFacts,
    companion_candidates,
    companion_floor,
    torch_pin,
    torch_python_facts,
    torch_variant_facts,
)


def project_url(index_url: str, project: str) -> str:
    """A project's page on a simple repository: ``<index>/<normalized name>/``."""
    return index_url.rstrip("/") + "/" + canonicalize_name(project) + "/"


def check_metadata(file: IndexFile, body: bytes) -> str:
    """A ``.metadata`` file's text, once its digest matches the one the index page gave (if any)."""
    if file.metadata_hash is not None and file.metadata_hash[0] in hashlib.algorithms_available:
        algorithm, expected = file.metadata_hash
        if hashlib.new(algorithm, body).hexdigest() != expected:
            raise RefreshError(
                f"{file.metadata_url}: {algorithm} does not match the index page",
                hint="the index serves inconsistent files; retry later or use another index",
            )
    return body.decode("utf-8", errors="replace")


def fetch_project(session: requests.Session, index_url: str, project: str, timeout: float) -> list[IndexFile]:
    """The files a project page lists (PEP 691 JSON preferred, PEP 503 HTML accepted)."""
    page = fetch_bytes(session, project_url(index_url, project), timeout=timeout, accept=ACCEPT)
    return parse_index_page(page.body, page.content_type, page.url)


def fetch_metadata(session: requests.Session, file: IndexFile, timeout: float) -> str:
    """The core metadata the index serves beside a file (PEP 658), checked against its digest."""
    return check_metadata(file, fetch_bytes(session, file.metadata_url, timeout=timeout, accept="*/*").body)


def gather_facts(compat: Compat, index_url: str, torch_index: str | None, timeout: float) -> IndexFacts:
    """Read everything the comparison needs from the indexes (the only place that does HTTP)."""
    with http_session() as session:
        pythons = torch_python_facts(fetch_project(session, index_url, "torch", timeout))
        variants = (
            torch_variant_facts(fetch_project(session, torch_index, "torch", timeout))
            if torch_index
            else None
        )
        companions: dict[str, CompanionFacts] = {}
        for name in COMPANIONS:
            files = fetch_project(session, index_url, name, timeout)
            chosen, missing = companion_candidates(files, companion_floor(compat, name))
            pins = {
                release: torch_pin(fetch_metadata(session, file, timeout)) for release, file in chosen.items()
            }
            companions[name] = CompanionFacts(pins, missing)
    return IndexFacts(pythons, variants, companions)
