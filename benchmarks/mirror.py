"""A loopback simple index for large synthetic graphs: every page rendered once, then served from memory.

``tests.support.index.serve_index`` rescans its folder, under one lock, on every request, so that tests
may add files while it runs. At 860 wheels that is about 13 ms a request, all requests in a row: the
mirror, not the lockers, would set the time of a 500-project lock. :func:`serve_static` serves the same
wheels the same way (PEP 503 HTML or PEP 691 JSON by the Accept header, sha256 hashes, Requires-Python,
PEP 658 metadata, ``ETag`` with 304 answers, keep-alive) from pages rendered when it starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import html
import json
import sys
import threading
from collections.abc import Iterator
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tests.support.index import wants_json
from tests.support.wheels import read_wheel_metadata

HOST = "127.0.0.1"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html; charset=utf-8"
UPLOAD_TIME = "2024-01-01T00:00:00Z"


@dataclasses.dataclass(frozen=True, slots=True)
class _Body:
    data: bytes
    content_type: str
    etag: str | None = None  # pages only: files are immutable


def _page(data: bytes, content_type: str) -> _Body:
    return _Body(data, content_type, '"' + hashlib.sha256(data).hexdigest()[:32] + '"')


def _html(title: str, links: list[str]) -> bytes:
    body = "\n".join(links)
    return (
        '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.1">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n{body}\n  </body>\n</html>\n"
    ).encode()


@dataclasses.dataclass(frozen=True, slots=True)
class _Wheel:
    filename: str
    sha256: str
    metadata_sha256: str
    requires_python: str | None
    size: int
    version: str

    def link(self) -> str:
        attrs = [f'href="../../files/{html.escape(quote(self.filename))}#sha256={self.sha256}"']
        if self.requires_python is not None:
            attrs.append(f'data-requires-python="{html.escape(self.requires_python)}"')
        attrs.append(f'data-core-metadata="sha256={self.metadata_sha256}"')
        attrs.append(f'data-dist-info-metadata="sha256={self.metadata_sha256}"')
        return f"    <a {' '.join(attrs)}>{html.escape(self.filename)}</a><br>"

    def entry(self, base_url: str) -> dict[str, object]:
        return {
            "filename": self.filename,
            "url": f"{base_url}/files/{quote(self.filename)}",
            "hashes": {"sha256": self.sha256},
            "requires-python": self.requires_python,
            "size": self.size,
            "upload-time": UPLOAD_TIME,
            "core-metadata": {"sha256": self.metadata_sha256},
            "dist-info-metadata": {"sha256": self.metadata_sha256},
            "yanked": False,
        }


def render(root: Path, base_url: str) -> dict[str, tuple[_Body, _Body | None]]:
    """Path -> (HTML or plain body, JSON body or None) for every page and file the index serves."""
    routes: dict[str, tuple[_Body, _Body | None]] = {}
    projects: dict[str, list[_Wheel]] = {}
    for path in sorted(root.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(path.name)
        data = path.read_bytes()
        metadata = read_wheel_metadata(data)
        requires_python = HeaderParser().parsestr(metadata.decode("utf-8")).get("Requires-Python")
        routes[f"/files/{path.name}"] = (_Body(data, "application/octet-stream"), None)
        routes[f"/files/{path.name}.metadata"] = (_Body(metadata, "application/octet-stream"), None)
        wheel = _Wheel(
            path.name,
            hashlib.sha256(data).hexdigest(),
            hashlib.sha256(metadata).hexdigest(),
            requires_python,
            len(data),
            str(version),
        )
        projects.setdefault(canonicalize_name(name), []).append(wheel)
    for project, wheels in projects.items():
        doc = {
            "meta": {"api-version": "1.1"},
            "name": project,
            "versions": sorted({w.version for w in wheels}, key=Version),
            "files": [w.entry(base_url) for w in wheels],
        }
        routes[f"/simple/{project}/"] = (
            _page(_html(f"Links for {project}", [w.link() for w in wheels]), HTML_TYPE),
            _page(json.dumps(doc, indent=2, sort_keys=True).encode(), JSON_TYPE),
        )
    names = sorted(projects)
    listing = [f'    <a href="{html.escape(quote(n))}/">{html.escape(n)}</a><br>' for n in names]
    index_doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
    routes["/simple/"] = (
        _page(_html("Simple index", listing), HTML_TYPE),
        _page(json.dumps(index_doc).encode(), JSON_TYPE),
    )
    return routes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # resolvers open dozens of connections at once

    def __init__(self, root: Path) -> None:
        super().__init__((HOST, 0), _Handler)
        self.routes = render(root, f"http://{HOST}:{self.server_address[1]}")
        self.lock = threading.Lock()
        self.requests = 0
        self.errors: list[str] = []

    def handle_error(self, request: object, client_address: object) -> None:  # noqa: ARG002 - base signature
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):  # clients drop connections: not a fault
            with self.lock:
                self.errors.append(repr(error))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    timeout = 10

    def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002 - silence the request log
        return

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        with self.server.lock:
            self.server.requests += 1
        path = unquote(urlsplit(self.path).path)
        if path.startswith("/simple/") and not path.endswith("/"):
            path += "/"
        if path.startswith("/simple/") and path.count("/") == 3:
            path = "/simple/" + canonicalize_name(path.split("/")[2]) + "/"
        found = self.server.routes.get(path)
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, _Body(b"not found\n", "text/plain"), head=head)
            return
        plain, as_json = found
        body = as_json if as_json is not None and wants_json(self.headers.get("Accept", "")) else plain
        self._send(HTTPStatus.OK, body, head=head)

    def _send(self, status: HTTPStatus, body: _Body, *, head: bool) -> None:
        if body.etag is not None and self.headers.get("If-None-Match") == body.etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", body.etag)
            self.send_header("Vary", "Accept")
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", body.content_type)
        self.send_header("Content-Length", str(len(body.data)))
        if body.etag is not None:
            self.send_header("ETag", body.etag)
            self.send_header("Vary", "Accept")
            self.send_header("Cache-Control", "max-age=0, must-revalidate")
        else:
            self.send_header("Cache-Control", "max-age=31536000, immutable")
        self.end_headers()
        if not head:
            self.wfile.write(body.data)


@dataclasses.dataclass(frozen=True, slots=True)
class StaticMirror:
    url: str
    _server: _Server

    @property
    def requests(self) -> int:
        return self._server.requests

    @property
    def errors(self) -> list[str]:
        return list(self._server.errors)


@contextlib.contextmanager
def serve_static(root: Path) -> Iterator[StaticMirror]:
    """Serve the wheels in ``root`` on 127.0.0.1 until the context ends; the URL ends in ``/simple``."""
    server = _Server(root)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield StaticMirror(f"http://{HOST}:{server.server_address[1]}/simple", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
