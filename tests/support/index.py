"""Package indexes on 127.0.0.1: a real PEP 503 simple index, and mirrors that misbehave.

``serve_index(root)`` serves the distributions in the flat folder ``root``:

- ``/simple/`` lists the projects; ``/simple/<normalized-name>/`` lists a project's files as
  PEP 503 HTML, or as PEP 691 JSON (api-version 1.1, with PEP 700 ``versions``, ``size`` and
  ``upload-time``) when the Accept header prefers ``application/vnd.pypi.simple.v1+json``.
  Non-normalized project URLs redirect (301) to the normalized one.
- ``/files/<file>`` serves the file, with ``Content-Length`` and single ``Range: bytes=`` requests
  (206/416), for GET and HEAD; ``/files/<wheel>.metadata`` serves the wheel's METADATA (PEP 658).

The folder is rescanned on every request (file bytes are cached by mtime and size), so a test may
drop a new release into ``root`` while the server runs.  Every request is recorded (``.requests``).

``serve_faulty(mode, ...)`` serves a mirror that misbehaves; see :data:`FAULT_MODES`.
"""

from __future__ import annotations

import hashlib
import html
import io
import json as jsonlib
import re
import socket
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from tests.support.wheels import read_wheel_metadata, tamper_wheel

__all__ = [
    "DEFAULT_UPLOAD_TIME",
    "FAULT_MODES",
    "HOST",
    "JSON_CONTENT_TYPE",
    "FaultMode",
    "IndexServer",
    "RequestRecord",
    "serve_faulty",
    "serve_index",
    "wants_json",
]

HOST = "127.0.0.1"
DEFAULT_UPLOAD_TIME = "2024-01-01T00:00:00Z"
JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"

FaultMode = Literal["refuse", "hang", "error", "tamper-bytes", "tamper-index"]
FAULT_MODES: tuple[FaultMode, ...] = get_args(FaultMode)
"""The ways ``serve_faulty`` can misbehave:

- ``refuse``: the URL points at a 127.0.0.1 port where nothing listens (connection refused).
- ``hang``: connections are accepted and requests read, but nothing is ever answered, until the
  server stops (or ``hang_seconds`` pass, then the connection is closed without an answer).
- ``error``: every request is answered with ``status`` (HTTP 503 by default).
- ``tamper-bytes``: pages advertise the true hashes (and sizes) of the files in ``root``, but
  ``/files/`` serves different bytes (a modified wheel, still valid: see ``tamper_wheel``).
- ``tamper-index``: serves modified copies of the wheels *consistently*: pages advertise the
  hashes of the modified bytes, which are what ``/files/`` serves.  Alone it looks like a
  healthy index; only a comparison with the real index (or a lock) shows its hashes differ.
"""

_SimpleMode = Literal["normal", "hang", "error", "tamper-bytes", "tamper-index"]
_PROJECT_PATH = re.compile(r"/simple/(?P<name>[^/]+)(?P<slash>/?)")
_RANGE = re.compile(r"bytes=(?P<start>\d*)-(?P<end>\d*)")
_JSON_TYPES = {JSON_CONTENT_TYPE, "application/vnd.pypi.simple.latest+json"}
_HTML_TYPES = {
    "application/vnd.pypi.simple.v1+html",
    "application/vnd.pypi.simple.latest+html",
    "text/html",
    "text/*",
    "*/*",
}


def wants_json(accept: str) -> bool:
    """PEP 691 negotiation: JSON when the Accept header rates a JSON type at least as high as any HTML one."""
    json_q = html_q = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in _JSON_TYPES:
            json_q = max(json_q, q)
        elif media in _HTML_TYPES:
            html_q = max(html_q, q)
    return json_q > 0 and json_q >= html_q


@dataclass(frozen=True)
class RequestRecord:
    """One request an index received."""

    method: str
    path: str
    """The percent-decoded path, without query string."""
    accept: str | None
    range: str | None
    if_none_match: str | None = None
    """The ETag a conditional request named (project pages carry one; a match is answered 304)."""


@dataclass(frozen=True)
class _File:
    filename: str
    project: str
    version: str
    advertised_sha256: str
    advertised_size: int
    served: bytes
    requires_python: str | None
    metadata: bytes | None
    upload_time: str

    @property
    def metadata_sha256(self) -> str | None:
        return None if self.metadata is None else hashlib.sha256(self.metadata).hexdigest()


def _parse_name(filename: str) -> tuple[str, str] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return name, str(version)
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return name, str(version)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _sdist_pkg_info(data: bytes) -> bytes | None:
    if not data.startswith(b"\x1f\x8b"):
        return None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                extracted = archive.extractfile(member)
                return None if extracted is None else extracted.read()
    return None


def _tamper(filename: str, data: bytes) -> bytes:
    if filename.endswith(".whl"):
        return tamper_wheel(data)
    return data[:-1] + bytes([data[-1] ^ 0xFF]) if data else b"tampered"


class _Catalog:
    """The distributions in ``root``, as a mode presents them; rescanned on each use."""

    def __init__(self, root: Path, mode: _SimpleMode, upload_times: Mapping[str, str] | None) -> None:
        self.root = root
        self.mode = mode
        self.upload_times = dict(upload_times or {})
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[int, int], _File]] = {}

    def _load(self, path: Path, project: str, version: str) -> _File:
        data = path.read_bytes()
        if path.name.endswith(".whl"):
            metadata: bytes | None = read_wheel_metadata(data)
            header_source = metadata
        else:
            metadata = None
            header_source = _sdist_pkg_info(data)
        requires_python = None
        if header_source is not None:
            headers = HeaderParser().parsestr(header_source.decode("utf-8"))
            requires_python = headers.get("Requires-Python")
        served = data if self.mode == "normal" else _tamper(path.name, data)
        advertised = served if self.mode == "tamper-index" else data
        return _File(
            filename=path.name,
            project=project,
            version=version,
            advertised_sha256=hashlib.sha256(advertised).hexdigest(),
            advertised_size=len(advertised),
            served=served,
            requires_python=requires_python,
            metadata=metadata,
            upload_time=self.upload_times.get(path.name, DEFAULT_UPLOAD_TIME),
        )

    def files(self) -> dict[str, _File]:
        found: dict[str, _File] = {}
        with self._lock:
            for path in sorted(self.root.iterdir()):
                parsed = _parse_name(path.name)
                if parsed is None or not path.is_file():
                    continue
                st = path.stat()
                key = (st.st_mtime_ns, st.st_size)
                cached = self._cache.get(path.name)
                if cached is None or cached[0] != key:
                    cached = (key, self._load(path, *parsed))
                    self._cache[path.name] = cached
                found[path.name] = cached[1]
        return found

    def projects(self) -> dict[str, list[_File]]:
        projects: dict[str, list[_File]] = {}
        for entry in self.files().values():
            projects.setdefault(entry.project, []).append(entry)
        return dict(sorted(projects.items()))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # handler threads are tracked and joined (bounded) by ``close``

    def __init__(
        self,
        port: int,
        *,
        mode: _SimpleMode,
        catalog: _Catalog | None,
        json: bool,
        metadata: bool,
        status: int,
        hang_seconds: float,
        hashes: bool = True,
    ) -> None:
        self.mode = mode
        self.catalog = catalog
        self.json = json
        self.metadata = metadata
        self.hashes = hashes
        self.page_cache_control = "max-age=0, must-revalidate"  # what project pages say of caching
        self.status = status
        self.hang_seconds = hang_seconds
        self.release = threading.Event()
        self.log: list[RequestRecord] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self._active: dict[threading.Thread, socket.socket] = {}
        super().__init__((HOST, port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self._active[threading.current_thread()] = request
        try:
            super().finish_request(request, client_address)
        finally:
            with self.lock:
                self._active.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002 - the base's signature
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return  # clients drop connections (aborted range reads, timeouts): not a server fault
        with self.lock:
            self.errors.append(repr(error))

    def record(self, record: RequestRecord) -> None:
        with self.lock:
            self.log.append(record)

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving, wake hanging handlers, cut open connections, join, close the socket."""
        self.release.set()
        self.shutdown()
        with self.lock:
            active = dict(self._active)
        for conn in active.values():
            with suppress(OSError):  # the handler may have closed it meanwhile
                conn.shutdown(socket.SHUT_RDWR)
        for thread in active:
            thread.join(timeout)
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: with Nagle on, a reused connection stalls ~40 ms
    disable_nagle_algorithm = True
    server_version = "envspec-test-index/1"
    sys_version = ""
    timeout = 10  # idle keep-alive connections end after this many seconds

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log on stderr."""

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    # -- responses ---------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _text(
        self, status: int, message: str, *, head: bool, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8", head=head, headers=headers)

    def _redirect(self, location: str, *, head: bool) -> None:
        self._text(HTTPStatus.MOVED_PERMANENTLY, f"see {location}", head=head, headers={"Location": location})

    # -- routing -----------------------------------------------------------------------------

    def _dispatch(self, *, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.server.record(
            RequestRecord(
                self.command,
                path,
                self.headers.get("Accept"),
                self.headers.get("Range"),
                self.headers.get("If-None-Match"),
            )
        )
        mode = self.server.mode
        if mode == "hang":
            self.server.release.wait(self.server.hang_seconds)
            self.close_connection = True
            return
        if mode == "error":
            status = HTTPStatus(self.server.status)
            self._text(status, f"{status.value} {status.phrase}", head=head)
            return
        try:
            self._route(path, head=head)
        except (ConnectionError, TimeoutError):
            raise
        except Exception as error:
            with self.server.lock:
                self.server.errors.append(f"{path}: {error!r}")
            self._text(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {error!r}", head=head)

    def _route(self, path: str, *, head: bool) -> None:
        catalog = self.server.catalog
        assert catalog is not None
        if path == "/simple":
            self._redirect("/simple/", head=head)
        elif path == "/simple/":
            self._project_list(catalog, head=head)
        elif match := _PROJECT_PATH.fullmatch(path):
            name = match["name"]
            normalized = canonicalize_name(name)
            if name != normalized or not match["slash"]:
                self._redirect(f"/simple/{quote(normalized)}/", head=head)
                return
            files = catalog.projects().get(normalized)
            if files is None:
                self._text(HTTPStatus.NOT_FOUND, f"no project {normalized}", head=head)
            else:
                self._project_page(normalized, files, head=head)
        elif path.startswith("/files/") and "/" not in path[len("/files/") :]:
            self._file(catalog, path[len("/files/") :], head=head)
        else:
            self._text(HTTPStatus.NOT_FOUND, f"not found: {path}", head=head)

    def _wants_json(self) -> bool:
        return self.server.json and wants_json(self.headers.get("Accept") or "")

    def _project_list(self, catalog: _Catalog, *, head: bool) -> None:
        names = list(catalog.projects())
        if self._wants_json():
            doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
            self._json(doc, head=head)
            return
        links = "\n".join(f'    <a href="{html.escape(quote(n))}/">{html.escape(n)}</a><br>' for n in names)
        self._html("Simple index", links, head=head)

    def _project_page(self, project: str, files: list[_File], *, head: bool) -> None:
        with_metadata = self.server.metadata
        if self._wants_json():
            base = f"http://{HOST}:{self.server.server_address[1]}/files/"
            entries: list[dict[str, object]] = []
            for f in files:
                core: dict[str, str] | bool = False
                if with_metadata and f.metadata_sha256 is not None:
                    core = {"sha256": f.metadata_sha256}
                entries.append(
                    {
                        "filename": f.filename,
                        "url": base + quote(f.filename),
                        "hashes": {"sha256": f.advertised_sha256} if self.server.hashes else {},
                        "requires-python": f.requires_python,
                        "size": f.advertised_size,
                        "upload-time": f.upload_time,
                        "core-metadata": core,
                        "dist-info-metadata": core,
                        "yanked": False,
                    }
                )
            versions = sorted({f.version for f in files}, key=Version)
            doc = {"meta": {"api-version": "1.1"}, "name": project, "versions": versions, "files": entries}
            self._json(doc, head=head)
            return
        links = []
        for f in files:
            href = f"../../files/{quote(f.filename)}"
            if self.server.hashes:
                href += f"#sha256={f.advertised_sha256}"
            attrs = [f'href="{html.escape(href)}"']
            if f.requires_python is not None:
                attrs.append(f'data-requires-python="{html.escape(f.requires_python)}"')
            if with_metadata and f.metadata_sha256 is not None:
                attrs.append(f'data-core-metadata="sha256={f.metadata_sha256}"')
                attrs.append(f'data-dist-info-metadata="sha256={f.metadata_sha256}"')
            links.append(f"    <a {' '.join(attrs)}>{html.escape(f.filename)}</a><br>")
        self._html(f"Links for {project}", "\n".join(links), head=head)

    def _html(self, title: str, body: str, *, head: bool) -> None:
        page = (
            "<!DOCTYPE html>\n<html>\n  <head>\n"
            '    <meta name="pypi:repository-version" content="1.1">\n'
            f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
            f"    <h1>{html.escape(title)}</h1>\n{body}\n  </body>\n</html>\n"
        )
        self._page(page.encode(), HTML_CONTENT_TYPE, head=head)

    def _json(self, doc: object, *, head: bool) -> None:
        body = jsonlib.dumps(doc, indent=2, sort_keys=True).encode()
        self._page(body, JSON_CONTENT_TYPE, head=head)

    def _page(self, body: bytes, content_type: str, *, head: bool) -> None:
        """A page with an ``ETag``; a conditional request naming it gets 304 and no body."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"Vary": "Accept", "Cache-Control": self.server.page_cache_control, "ETag": etag}
        if self.headers.get("If-None-Match") == etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            return
        self._send(HTTPStatus.OK, body, content_type, head=head, headers=headers)

    def _file(self, catalog: _Catalog, filename: str, *, head: bool) -> None:
        files = catalog.files()
        if filename.endswith(".metadata") and filename not in files:
            entry = files.get(filename.removesuffix(".metadata"))
            if entry is None or entry.metadata is None or not self.server.metadata:
                self._text(HTTPStatus.NOT_FOUND, f"no metadata for {filename}", head=head)
            else:
                self._send(HTTPStatus.OK, entry.metadata, "application/octet-stream", head=head)
            return
        entry = files.get(filename)
        if entry is None:
            self._text(HTTPStatus.NOT_FOUND, f"no file {filename}", head=head)
            return
        self._ranged(entry.served, head=head)

    def _ranged(self, body: bytes, *, head: bool) -> None:
        size = len(body)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "max-age=31536000, immutable"}
        wanted = self.headers.get("Range")
        match = _RANGE.fullmatch(wanted.strip()) if wanted else None
        if match is None or not (match["start"] or match["end"]):
            # no Range, a malformed one or a multi-range request: the whole body
            self._send(HTTPStatus.OK, body, "application/octet-stream", head=head, headers=headers)
            return
        if match["start"]:
            start = int(match["start"])
            end = min(int(match["end"]), size - 1) if match["end"] else size - 1
        else:
            start, end = max(size - int(match["end"]), 0), size - 1
            if int(match["end"]) == 0:
                start = size  # an empty suffix cannot be satisfied
        if start >= size or start > end:
            headers["Content-Range"] = f"bytes */{size}"
            self._text(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                "range not satisfiable",
                head=head,
                headers=headers,
            )
            return
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send(
            HTTPStatus.PARTIAL_CONTENT,
            body[start : end + 1],
            "application/octet-stream",
            head=head,
            headers=headers,
        )


@dataclass
class IndexServer:
    """A running (or, for mode ``refuse``, deliberately absent) index on 127.0.0.1."""

    port: int
    mode: FaultMode | Literal["normal"]
    root: Path | None
    _server: _Server | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``"""
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The index URL to hand to pip/uv: ``http://127.0.0.1:PORT/simple``."""
        return f"{self.base_url}/simple"

    def project_url(self, name: str) -> str:
        """``http://127.0.0.1:PORT/simple/<normalized-name>/``"""
        return f"{self.url}/{quote(canonicalize_name(name))}/"

    def file_url(self, filename: str) -> str:
        """``http://127.0.0.1:PORT/files/<file>``"""
        return f"{self.base_url}/files/{quote(filename)}"

    @property
    def records(self) -> list[RequestRecord]:
        """A snapshot of the requests received so far, in order."""
        if self._server is None:
            return []
        with self._server.lock:
            return list(self._server.log)

    @property
    def requests(self) -> list[str]:
        """A snapshot of the (percent-decoded) paths requested so far, in order."""
        return [r.path for r in self.records]

    def requested_projects(self) -> set[str]:
        """The normalized project names whose ``/simple/<name>/`` page was asked for."""
        found: set[str] = set()
        for path in self.requests:
            if match := _PROJECT_PATH.fullmatch(path):
                found.add(canonicalize_name(match["name"]))
        return found

    def requested_files(self) -> list[str]:
        """The file names asked for under ``/files/`` (``.metadata`` requests included)."""
        return [p.removeprefix("/files/") for p in self.requests if p.startswith("/files/")]

    def set_page_cache_control(self, value: str) -> None:
        """The ``Cache-Control`` header of project pages from now on (default: revalidate every time)."""
        if self._server is not None:
            self._server.page_cache_control = value

    def clear_requests(self) -> None:
        if self._server is not None:
            with self._server.lock:
                self._server.log.clear()

    @property
    def errors(self) -> list[str]:
        """Unexpected exceptions raised while handling requests (should stay empty)."""
        if self._server is None:
            return []
        with self._server.lock:
            return list(self._server.errors)


def _free_port() -> int:
    """A loopback port where nothing listens (bound, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def _running(
    make: Callable[[], _Server], mode: FaultMode | Literal["normal"], root: Path | None
) -> Iterator[IndexServer]:
    server = make()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"index-{mode}", daemon=True
    )
    thread.start()
    try:
        yield IndexServer(port=server.server_address[1], mode=mode, root=root, _server=server)
    finally:
        server.close()
        thread.join(5)


@contextmanager
def serve_index(
    root: Path,
    *,
    json: bool = True,
    metadata: bool = True,
    upload_times: Mapping[str, str] | None = None,
    port: int = 0,
    hashes: bool = True,
) -> Iterator[IndexServer]:
    """Serve the distributions in the flat folder ``root`` as a simple index on 127.0.0.1.

    ``json=False`` answers HTML whatever the Accept header asks; ``metadata=False`` serves no
    PEP 658 metadata (and advertises none).  ``upload_times`` maps file names to PEP 700
    ``upload-time`` values (default :data:`DEFAULT_UPLOAD_TIME`).  ``port=0`` picks a free port.
    ``hashes=False`` publishes no file hashes (an index that leaves hashing to its clients).
    """
    with _serve(
        "normal", root, json=json, metadata=metadata, upload_times=upload_times, port=port, hashes=hashes
    ) as server:
        yield server


@contextmanager
def serve_faulty(
    mode: FaultMode,
    root: Path | None = None,
    *,
    port: int = 0,
    json: bool = True,
    metadata: bool = True,
    upload_times: Mapping[str, str] | None = None,
    status: int = HTTPStatus.SERVICE_UNAVAILABLE,
    hang_seconds: float = 30.0,
    hashes: bool = True,
) -> Iterator[IndexServer]:
    """Serve a mirror that misbehaves as ``mode`` says (see :data:`FAULT_MODES`).

    The tamper modes need ``root`` (the folder the honest index serves).  ``status`` is the
    answer of mode ``error``; ``hang_seconds`` bounds how long mode ``hang`` holds each request
    (leaving the context releases them at once).  ``hashes=False`` publishes no file hashes.
    """
    if mode not in FAULT_MODES:
        raise ValueError(f"unknown fault mode {mode!r}; expected one of {FAULT_MODES}")
    if mode.startswith("tamper") and root is None:
        raise ValueError(f"mode {mode!r} needs the root folder of the index it tampers with")
    with _serve(
        mode,
        root,
        json=json,
        metadata=metadata,
        upload_times=upload_times,
        port=port,
        status=status,
        hang_seconds=hang_seconds,
        hashes=hashes,
    ) as server:
        yield server


@contextmanager
def _serve(
    mode: FaultMode | Literal["normal"],
    root: Path | None,
    *,
    json: bool,
    metadata: bool,
    upload_times: Mapping[str, str] | None,
    port: int,
    status: int = HTTPStatus.SERVICE_UNAVAILABLE,
    hang_seconds: float = 30.0,
    hashes: bool = True,
) -> Iterator[IndexServer]:
    if mode == "refuse":
        yield IndexServer(port=port or _free_port(), mode=mode, root=root)
        return
    simple_mode: _SimpleMode = mode
    catalog = None
    if root is not None and simple_mode not in ("hang", "error"):
        catalog = _Catalog(root, simple_mode, upload_times)
    elif simple_mode == "normal":
        raise ValueError("serve_index needs a root folder")

    def make() -> _Server:
        return _Server(
            port,
            mode=simple_mode,
            catalog=catalog,
            json=json,
            metadata=metadata,
            status=status,
            hang_seconds=hang_seconds,
            hashes=hashes,
        )

    with _running(make, mode, root) as server:
        yield server
