"""Mirrors: fetch project pages from the spec's indexes, failing over in order, and fetch files.

This is the only module of the lock that talks to package indexes. Each request gets the spec's
timeout and retries; a mirror that refuses, hangs, or answers 5xx is recorded with the reason and
the next one is tried. A project missing from one mirror (404) is looked for on the next as well.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import requests
from packaging.utils import NormalizedName, canonicalize_name

from envspec.lock.diskcache import CachedPage, DiskCache, fresh_for
from envspec.lock.net import MirrorError, http_session, reason_of
from envspec.lock.pages import ProjectPage
from envspec.lock.plan import IndexRef, LockPlan
from envspec.lock.simple import ACCEPT, IndexFile, IndexPageError, parse_index_page

__all__ = ["Failure", "IndexClient", "MirrorError", "OnRaw", "ProjectPage"]

OnRaw = Callable[[CachedPage], None]  # gets a page as the index sent it, to pass on unchanged


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    mirror: str
    url: str
    reason: str

    def __str__(self) -> str:
        return f"{self.mirror} ({self.url}): {self.reason}"


class _NotFoundError(Exception):
    pass


class _UnavailableError(Exception):
    pass


def _once(callback: OnRaw) -> OnRaw:
    """``callback``, called for the first page only."""
    called: list[bool] = []

    def first(raw: CachedPage) -> None:
        if not called:
            called.append(True)
            callback(raw)

    return first


def _when(text: str) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


class IndexClient:
    """Fetches pages and files for one lock, with failover across the plan's mirrors.

    Thread-safe: the loopback router calls it from several request threads at once.
    """

    def __init__(
        self, plan: LockPlan, default_url: Callable[[], str], cache: DiskCache | None = None
    ) -> None:
        self.plan = plan
        self.cache = cache
        self._default_url = default_url
        self._shared: requests.Session | None = None
        self._lock = threading.Lock()
        self._pages: dict[tuple[str, NormalizedName], ProjectPage | None] = {}
        self._project_locks: dict[NormalizedName, threading.Lock] = {}
        self.failures: list[Failure] = []
        self.dead: set[str] = set()  # mirrors that failed once are not asked again in this lock
        self.served_by: dict[NormalizedName, ProjectPage] = {}
        self.passed_unchecked = False  # a page went to the resolver unparsed, then failed its checks

    # -- plumbing --------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        """One session for every thread: its connection pools are thread-safe, and one session loads
        the CA bundle once (a session per router thread spent 0.1 s of CPU each on it)."""
        with self._lock:
            if self._shared is None:
                self._shared = http_session()
            return self._shared

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()

    def url_of(self, index: IndexRef) -> str:
        url = index.url if index.url is not None else self._default_url()
        return url.rstrip("/") + "/"

    def _record(self, index: IndexRef, url: str, reason: str) -> None:
        """Keep the first failure of a mirror (which is then not asked again): requests already in
        flight when it failed fail too, and would repeat the same warning once each."""
        with self._lock:
            if all(f.mirror != index.name for f in self.failures):
                self.failures.append(Failure(index.name, url, reason))

    def _get(
        self,
        url: str,
        *,
        accept: str | None = None,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """GET with retries; raises _NotFoundError (404) or _UnavailableError (every try failed)."""
        attempts = self.plan.retries + 1
        last = "no attempt"
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(0.2 * 2 ** (attempt - 1), 2.0))
            try:
                sent = {**(headers or {}), **({"Accept": accept} if accept else {})}
                response = self._session().get(url, headers=sent, timeout=self.plan.timeout, stream=stream)
            except requests.RequestException as exc:
                last = reason_of(exc)
                continue
            if response.status_code == 404:
                response.close()
                raise _NotFoundError(url)
            if response.status_code >= 500 or response.status_code == 429:
                last = f"HTTP {response.status_code}"
                response.close()
                continue
            if response.status_code >= 400:
                response.close()
                raise _UnavailableError(f"HTTP {response.status_code}")
            return response
        raise _UnavailableError(last)

    # -- pages -----------------------------------------------------------------------------------
    def page_from(self, index: IndexRef, project: str, on_raw: OnRaw | None = None) -> ProjectPage | None:
        """One index's page for a project (cached): None when the index does not have the project.

        With ``on_raw``, a PEP 691 page that may go to the resolver unchanged is handed to it as
        soon as it arrives, before it is parsed or stored (see :meth:`project`).
        Raises _UnavailableError when the index cannot answer.
        """
        name = canonicalize_name(project)
        key = (index.name, name)
        with self._lock:
            if key in self._pages:
                return self._pages[key]
        base = self.url_of(index)
        page_url = urljoin(base, f"{name}/")
        handed = False
        try:
            raw, store = self._fetch_page(page_url)
            if on_raw is not None and self._may_pass_on(raw):
                on_raw(raw)
                handed = True
            if store and self.cache is not None:
                self.cache.store_page(page_url, ACCEPT, raw)
            page: ProjectPage | None = self._parse(name, index, base, raw)
            if handed and (page is None or page.raw is None):
                self.passed_unchecked = True  # e.g. a relative link: the resolver saw the wrong page
        except _NotFoundError:
            page = None
        except (_UnavailableError, IndexPageError, requests.RequestException) as exc:
            self._record(index, base, str(exc))
            with self._lock:
                self.dead.add(index.name)
                if handed:
                    self.passed_unchecked = True
            raise _UnavailableError(str(exc)) from None
        with self._lock:
            self._pages[key] = page
        return page

    def _may_pass_on(self, raw: CachedPage) -> bool:
        """Whether a page, unparsed, may go to the resolver as the index sent it: a PEP 691 page
        with nothing for ``[lock] exclude_newer`` to cut. It must also turn out whole when parsed
        (absolute links, a valid ``files`` list); a page that does not sets ``passed_unchecked``."""
        media_type = raw.content_type.partition(";")[0].strip().lower()
        json_page = media_type.startswith("application/vnd.pypi.simple.") and media_type.endswith("+json")
        return json_page and self.plan.exclude_newer is None

    def _fetch_page(self, page_url: str) -> tuple[CachedPage, bool]:
        """A page's bytes: from the disk cache while the index's ``max-age`` says it is fresh, or when
        the index says it is unchanged; else from the index. The flag says whether the disk cache
        should keep the page (the caller stores it once the resolver has it)."""
        cached = self.cache.page(page_url, ACCEPT) if self.cache is not None else None
        if cached is not None and cached.is_fresh(time.time()):
            return cached, False
        response = self._get(page_url, accept=ACCEPT, headers=cached.validators() if cached else None)
        with response:
            lifetime = fresh_for(response.headers)
            fresh_until = time.time() + lifetime if lifetime else None
            if response.status_code == 304 and cached is not None:
                if fresh_until is None and cached.fresh_until is None:
                    return cached, False  # nothing new to keep
                page = dataclasses.replace(cached, fresh_until=fresh_until)
            else:
                page = CachedPage(
                    response.content,
                    response.headers.get("Content-Type", ""),
                    response.url or page_url,
                    response.headers.get("ETag"),
                    response.headers.get("Last-Modified"),
                    fresh_until,
                )
        return page, True

    def _parse(self, name: NormalizedName, index: IndexRef, base: str, raw: CachedPage) -> ProjectPage:
        """A page as a :class:`ProjectPage`, cut at ``[lock] exclude_newer``: JSON entries stay as sent."""
        media_type = raw.content_type.partition(";")[0].strip().lower()
        if media_type.startswith("application/vnd.pypi.simple.") and media_type.endswith("+json"):
            try:
                document = json.loads(raw.body)
            except ValueError as exc:
                raise IndexPageError(f"{raw.url}: invalid JSON ({exc})") from None
            entries = document.get("files") if isinstance(document, dict) else None
            if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("filename"), str) and isinstance(e.get("url"), str)
                for e in entries
            ):
                raise IndexPageError(f"{raw.url}: the JSON page has no valid 'files' list")
            kept = self._entries_in_time(index, entries)
            whole = len(kept) == len(entries) and all(
                e["url"].startswith(("https://", "http://")) for e in kept
            )
            return ProjectPage(name, index, base, page_url=raw.url, entries=kept, raw=raw if whole else None)
        files = parse_index_page(raw.body, raw.content_type, raw.url)
        return ProjectPage(name, index, base, page_url=raw.url, files=self._uploaded_in_time(index, files))

    def _entries_in_time(self, index: IndexRef, entries: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
        cutoff = self.plan.exclude_newer
        if cutoff is None:
            return list(entries)
        limit = _when(cutoff)
        if any(not isinstance(e.get("upload-time"), str) for e in entries):
            raise IndexPageError(
                f"{index.name} gives no upload times (PEP 700), which [lock] exclude_newer needs",
            )
        try:
            return [e for e in entries if _when(e["upload-time"]) <= limit]
        except ValueError as exc:
            raise IndexPageError(f"{index.name} gives an upload time envspec cannot read: {exc}") from None

    def _uploaded_in_time(self, index: IndexRef, files: list[IndexFile]) -> tuple[IndexFile, ...]:
        """The files uploaded no later than ``[lock] exclude_newer`` (all of them when it is unset)."""
        cutoff = self.plan.exclude_newer
        if cutoff is None:
            return tuple(files)
        limit = _when(cutoff)
        if any(f.upload_time is None for f in files):
            raise IndexPageError(
                f"{index.name} gives no upload times (PEP 700), which [lock] exclude_newer needs",
            )
        try:
            return tuple(f for f in files if f.upload_time is not None and _when(f.upload_time) <= limit)
        except ValueError as exc:
            raise IndexPageError(f"{index.name} gives an upload time envspec cannot read: {exc}") from None

    def candidates(self, project: str) -> tuple[IndexRef, ...]:
        scoped = self.plan.index_for(project)
        return (scoped,) if scoped is not None else self.plan.mirrors

    def project(self, project: str, on_raw: OnRaw | None = None) -> ProjectPage | None:
        """A project's page from its scoped index, or from the first general mirror that has it.

        Returns None when every index answered that it does not have the project; raises
        MirrorError when no index could answer at all. ``on_raw`` (the router's, in passthrough)
        gets the serving index's page as it arrived, when it may go on unchanged, so that the
        resolver waits for no parsing or disk write; ``passed_unchecked`` is set when that page then
        fails its checks, and the lock resolves again without passthrough.
        """
        name = canonicalize_name(project)
        with self._lock:
            project_lock = self._project_locks.setdefault(name, threading.Lock())
        if on_raw is not None:
            on_raw = _once(on_raw)  # a failed-over mirror's page must not make a second answer
        with project_lock:
            if name in self.served_by:
                return self.served_by[name]
            answered = False
            for index in self.candidates(name):
                if index.name in self.dead:
                    continue
                try:
                    page = self.page_from(index, name, on_raw)
                except _UnavailableError:
                    continue
                answered = True
                if page:
                    self.served_by[name] = page
                    return page
            if not answered:
                tried = [f for f in self.failures if f.mirror in {i.name for i in self.candidates(name)}]
                raise MirrorError(
                    f"no mirror could serve {name}: " + "; ".join(map(str, tried)),
                    hint="check the mirrors' URLs and the network, or raise [network] timeout",
                )
            return None

    def other_pages(self, project: str) -> list[ProjectPage]:
        """The project's page on every other reachable general mirror (for cross-checking hashes)."""
        name = canonicalize_name(project)
        served = self.served_by.get(name)
        pages: list[ProjectPage] = []
        if self.plan.index_for(name) is not None:
            return pages
        for index in self.plan.mirrors:
            if (served is not None and index.name == served.index.name) or index.name in self.dead:
                continue
            try:
                page = self.page_from(index, name)
            except _UnavailableError:
                continue
            if page is not None:
                pages.append(page)
        return pages

    # -- files -----------------------------------------------------------------------------------
    def download(self, url: str, dest: Path, *, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
        """Stream a file to ``dest`` (with the plan's timeout and retries): its hex digests.

        Raises MirrorError with the reason (refused, timeout, HTTP status, a dropped connection);
        ``dest`` is removed then.
        """
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        where = urlsplit(url).netloc
        try:
            response = self._get(url, stream=True)
        except _NotFoundError:
            raise MirrorError(f"cannot download {name} from {where}: HTTP 404") from None
        except _UnavailableError as exc:
            raise MirrorError(f"cannot download {name} from {where}: {exc}") from None
        digests = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
        try:
            with response, dest.open("wb") as handle:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    handle.write(chunk)
                    for digest in digests.values():
                        digest.update(chunk)
        except (requests.RequestException, OSError) as exc:
            dest.unlink(missing_ok=True)
            raise MirrorError(f"cannot download {name} from {where}: {reason_of(exc)}") from None
        return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}

    def open_range(self, url: str, wanted: str) -> requests.Response | None:
        """A streamed 206 answer for one ``Range`` of a file, or None (no range support, any error)."""
        try:
            response = self._get(url, stream=True, headers={"Range": wanted})
        except (_NotFoundError, _UnavailableError):
            return None
        if response.status_code != 206:
            response.close()
            return None
        return response

    def fetch_small(self, url: str, limit: int = 16 << 20) -> bytes:
        """A small file (PEP 658 metadata) in memory, with retries; MirrorError with the reason."""
        try:
            response = self._get(url)
        except _NotFoundError:
            raise MirrorError(f"{url}: HTTP 404") from None
        except _UnavailableError as exc:
            raise MirrorError(f"{url}: {exc}") from None
        with response:
            body = response.content
        if len(body) > limit:
            raise MirrorError(f"{url}: larger than {limit} bytes")
        return body

    def size_of(self, file: IndexFile) -> int | None:
        """A file's size from a HEAD request (None when the server does not say)."""
        try:
            response = self._session().head(file.url, timeout=self.plan.timeout, allow_redirects=True)
        except requests.RequestException:
            return None
        with response:
            length = response.headers.get("Content-Length")
            return int(length) if response.ok and length and length.isdigit() else None
