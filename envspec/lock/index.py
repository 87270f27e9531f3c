"""Mirrors: fetch project pages from the spec's indexes, failing over in order, and fetch files.

This is the only module of the lock that talks to package indexes. Each request gets the spec's
timeout and retries; a mirror that refuses, hangs, or answers 5xx is recorded with the reason and
the next one is tried. A project missing from one mirror (404) is looked for on the next as well.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import requests
from packaging.utils import NormalizedName, canonicalize_name

from envspec.errors import EnvspecError
from envspec.lock.plan import IndexRef, LockPlan
from envspec.lock.simple import ACCEPT, IndexFile, IndexPageError, parse_index_page

USER_AGENT = "envspec"


class MirrorError(EnvspecError):
    """No mirror could answer; the message lists each one tried and why it failed."""


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    mirror: str
    url: str
    reason: str

    def __str__(self) -> str:
        return f"{self.mirror} ({self.url}): {self.reason}"


@dataclasses.dataclass(frozen=True, slots=True)
class ProjectPage:
    """A project's files as one index lists them."""

    project: NormalizedName
    index: IndexRef
    index_url: str
    files: tuple[IndexFile, ...]


class _NotFoundError(Exception):
    pass


class _UnavailableError(Exception):
    pass


def _when(text: str) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if isinstance(exc, requests.Timeout) or "timed out" in lowered:
        return "no answer within the timeout"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def http_session() -> requests.Session:
    """A new HTTP session with the policy of every index request envspec makes.

    ``trust_env`` stays on, so the user's network settings apply (proxies, ``NO_PROXY``, a CA bundle in
    ``REQUESTS_CA_BUNDLE``); which indexes are consulted is decided by the caller alone. Callers pass a
    timeout with each request.
    """
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


@dataclasses.dataclass(frozen=True, slots=True)
class Fetched:
    """The body :func:`fetch_bytes` read, its Content-Type, and the URL it came from after redirects."""

    body: bytes
    content_type: str
    url: str


def fetch_bytes(session: requests.Session, url: str, *, timeout: float, accept: str | None = None) -> Fetched:
    """GET one URL once (no retries, no failover): a page or a ``.metadata`` file.

    Raises MirrorError naming the URL and why it could not be read (any answer but 200 included).
    """
    hint = "check the URL and the network (proxy, CA bundle), or allow a longer timeout"
    try:
        response = session.get(url, headers={"Accept": accept} if accept else {}, timeout=timeout)
    except requests.RequestException as exc:
        raise MirrorError(f"cannot read {url}: {_reason(exc)}", hint=hint) from None
    with response:
        if response.status_code != 200:
            status = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
            raise MirrorError(f"cannot read {url}: {status}", hint=hint)
        return Fetched(response.content, response.headers.get("Content-Type", ""), response.url)


class IndexClient:
    """Fetches pages and files for one lock, with failover across the plan's mirrors.

    Thread-safe: the loopback router calls it from several request threads at once.
    """

    def __init__(self, plan: LockPlan, default_url: Callable[[], str]) -> None:
        self.plan = plan
        self._default_url = default_url
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pages: dict[tuple[str, NormalizedName], ProjectPage | None] = {}
        self._project_locks: dict[NormalizedName, threading.Lock] = {}
        self.failures: list[Failure] = []
        self.dead: set[str] = set()  # mirrors that failed once are not asked again in this lock
        self.served_by: dict[NormalizedName, ProjectPage] = {}

    # -- plumbing --------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = http_session()
            self._local.session = session
        return session

    def close(self) -> None:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None:
            session.close()

    def url_of(self, index: IndexRef) -> str:
        url = index.url if index.url is not None else self._default_url()
        return url.rstrip("/") + "/"

    def _record(self, index: IndexRef, url: str, reason: str) -> None:
        with self._lock:
            self.failures.append(Failure(index.name, url, reason))

    def _get(self, url: str, *, accept: str | None = None, stream: bool = False) -> requests.Response:
        """GET with retries; raises _NotFoundError (404) or _UnavailableError (every try failed)."""
        attempts = self.plan.retries + 1
        last = "no attempt"
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(0.2 * 2 ** (attempt - 1), 2.0))
            try:
                headers = {"Accept": accept} if accept else {}
                response = self._session().get(url, headers=headers, timeout=self.plan.timeout, stream=stream)
            except requests.RequestException as exc:
                last = _reason(exc)
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
    def page_from(self, index: IndexRef, project: str) -> ProjectPage | None:
        """One index's page for a project (cached): None when the index does not have the project.

        Raises _UnavailableError when the index cannot answer.
        """
        name = canonicalize_name(project)
        key = (index.name, name)
        with self._lock:
            if key in self._pages:
                return self._pages[key]
        base = self.url_of(index)
        page_url = urljoin(base, f"{name}/")
        try:
            response = self._get(page_url, accept=ACCEPT)
            try:
                files = parse_index_page(response.content, response.headers.get("Content-Type", ""), page_url)
            finally:
                response.close()
            page: ProjectPage | None = ProjectPage(name, index, base, self._uploaded_in_time(index, files))
        except _NotFoundError:
            page = None
        except (_UnavailableError, IndexPageError, requests.RequestException) as exc:
            self._record(index, base, str(exc))
            with self._lock:
                self.dead.add(index.name)
            raise _UnavailableError(str(exc)) from None
        with self._lock:
            self._pages[key] = page
        return page

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

    def project(self, project: str) -> ProjectPage | None:
        """A project's page from its scoped index, or from the first general mirror that has it.

        Returns None when every index answered that it does not have the project; raises
        MirrorError when no index could answer at all.
        """
        name = canonicalize_name(project)
        with self._lock:
            project_lock = self._project_locks.setdefault(name, threading.Lock())
        with project_lock:
            if name in self.served_by:
                return self.served_by[name]
            answered = False
            for index in self.candidates(name):
                if index.name in self.dead:
                    continue
                try:
                    page = self.page_from(index, name)
                except _UnavailableError:
                    continue
                answered = True
                if page is not None and page.files:
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
            raise MirrorError(f"cannot download {name} from {where}: {_reason(exc)}") from None
        return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}

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
