"""The persistent part of a lock's fetching: index pages and content-addressed blobs on disk.

Pages are kept with their ``ETag``/``Last-Modified`` and revalidated on use (a conditional request;
the index answers 304 when nothing changed), except while the index's own ``Cache-Control: max-age``
says the page is fresh (PyPI says ten minutes), as pip and uv do. Blobs (files and PEP 658
metadata) are stored under the hash an index published for them and checked against it again when
read, so nothing in the cache can change a lock. Every write is atomic (temporary file, then
rename); a cache that cannot be read or written is simply a miss.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

_HEX = frozenset("0123456789abcdef")
MAX_FRESH_SECONDS = 3600  # an index's max-age is honoured up to an hour, whatever it says


def fresh_for(headers: Mapping[str, str]) -> float:
    """How many seconds a response may be used without asking again: its ``Cache-Control: max-age``
    less its ``Age``; 0 for ``no-cache``, ``no-store``, no max-age, or anything unreadable."""
    directives = [d.strip().lower() for d in (headers.get("Cache-Control") or "").split(",")]
    if "no-cache" in directives or "no-store" in directives:
        return 0.0
    ages = [d.removeprefix("max-age=") for d in directives if d.startswith("max-age=")]
    try:
        lifetime = float(ages[0]) - float(headers.get("Age") or 0) if len(ages) == 1 else 0.0
    except ValueError:
        return 0.0
    return min(max(lifetime, 0.0), MAX_FRESH_SECONDS) if math.isfinite(lifetime) else 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    content_type: str
    url: str  # after redirects
    etag: str | None = None
    last_modified: str | None = None
    fresh_until: float | None = None  # seconds since the epoch: until then, no need to ask again

    def is_fresh(self, now: float) -> bool:
        """Whether the index's ``max-age`` still covers this page (never beyond the cap from now)."""
        return self.fresh_until is not None and now < self.fresh_until <= now + MAX_FRESH_SECONDS

    def validators(self) -> dict[str, str]:
        """The headers of a conditional request for this page."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes, read in blocks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DiskCache:
    """One cache folder (``envspec.cache.cache_dir()``): ``pages/`` and ``blobs/<algorithm>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _write(self, path: Path, data: bytes) -> None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                Path(temp).replace(path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise

    # -- pages ----------------------------------------------------------------------------------
    def _page_path(self, url: str, accept: str) -> Path:
        key = hashlib.sha256(f"{url}\n{accept}".encode()).hexdigest()
        return self.root / "pages" / key[:2] / key

    def page(self, url: str, accept: str) -> CachedPage | None:
        """The stored page for a URL and Accept header, if it is whole; None otherwise."""
        path = self._page_path(url, accept)
        try:
            data = path.read_bytes()
            head, _, body = data.partition(b"\n")
            meta = json.loads(head)
            if hashlib.sha256(body).hexdigest() != meta["sha256"] or meta["request"] != url:
                return None
            fresh_until = meta.get("fresh_until")
            return CachedPage(
                body,
                str(meta["content_type"]),
                str(meta["url"]),
                meta.get("etag"),
                meta.get("last_modified"),
                float(fresh_until) if isinstance(fresh_until, int | float) else None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store_page(self, url: str, accept: str, page: CachedPage) -> None:
        if not (page.etag or page.last_modified or page.fresh_until):
            return  # nothing to revalidate with and not fresh: storing it would save nothing
        meta = {
            "request": url,
            "url": page.url,
            "content_type": page.content_type,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "fresh_until": page.fresh_until,
            "sha256": hashlib.sha256(page.body).hexdigest(),
        }
        self._write(self._page_path(url, accept), json.dumps(meta).encode() + b"\n" + page.body)

    # -- blobs ----------------------------------------------------------------------------------
    def _blob_path(self, algorithm: str, digest: str) -> Path | None:
        if algorithm not in hashlib.algorithms_guaranteed or not digest or not set(digest) <= _HEX:
            return None
        return self.root / "blobs" / algorithm / digest[:2] / digest

    def blob(self, algorithm: str, digest: str) -> Path | None:
        """The stored file whose ``algorithm`` digest is ``digest``, checked now; None on a miss."""
        path = self._blob_path(algorithm, digest)
        if path is None or not path.is_file():
            return None
        try:
            if file_digest(path, algorithm) == digest:
                return path
            path.unlink()  # damaged: drop it
        except OSError:
            pass
        return None

    def store_blob(self, algorithm: str, digest: str, source: Path) -> None:
        """Keep a copy of ``source`` (already checked by the caller) under its digest."""
        path = self._blob_path(algorithm, digest)
        if path is None or path.is_file():
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            os.close(fd)
            try:
                shutil.copyfile(source, temp)
                Path(temp).replace(path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise

    def store_bytes(self, algorithm: str, digest: str, data: bytes) -> None:
        path = self._blob_path(algorithm, digest)
        if path is not None and not path.is_file():
            self._write(path, data)
