"""The loopback router: one simple index on 127.0.0.1 that resolvers see instead of the spec's indexes.

pip-tools and uv are each given exactly one index URL, this router's. For every project it answers
from the one place the plan allows (the project's scoped index, or the general mirrors in failover
order) and renders a PEP 503 page whose links point back at the router, with the upstream hashes.
A file (or its PEP 658 metadata) the resolver asks for is downloaded from upstream and judged by
:class:`~envspec.lock.trust.Verifier` before it is served, so the resolver only ever reads bytes
that match the published hashes, and a lying mirror fails over the same way under every resolver.
So resolution is hermetic (no other index can be consulted), scoping holds whatever the resolver's
own index strategy is, a dead mirror fails over, and envspec learns which index served each project.
"""

from __future__ import annotations

import contextlib
import html
import http.server
import shutil
import threading
from collections.abc import Iterator
from urllib.parse import quote, unquote

from packaging.utils import NormalizedName, canonicalize_name

from envspec.errors import EnvspecError
from envspec.lock.index import MirrorError
from envspec.lock.simple import IndexFile
from envspec.lock.trust import Verifier


def render_page(project: str, files: tuple[IndexFile, ...], files_url: str | None = None) -> str:
    """A PEP 503 project page (with PEP 592 yanking and PEP 658 metadata markers).

    With ``files_url``, links point at ``files_url + <file name>`` instead of the upstream URLs.
    """
    lines = ["<!DOCTYPE html>", f"<html><head><title>Links for {html.escape(project)}</title></head><body>"]
    for file in sorted(files, key=lambda f: f.filename):
        url = file.url if files_url is None else files_url + quote(file.filename)
        href = url + (f"#sha256={file.sha256}" if file.sha256 else "")
        attrs = [f'href="{html.escape(href, quote=True)}"']
        if file.requires_python:
            attrs.append(f'data-requires-python="{html.escape(file.requires_python, quote=True)}"')
        if file.metadata:
            value = f"{file.metadata_hash[0]}={file.metadata_hash[1]}" if file.metadata_hash else "true"
            attrs.append(f'data-dist-info-metadata="{value}" data-core-metadata="{value}"')
        if file.yanked:
            attrs.append('data-yanked=""')
        lines.append(f"<a {' '.join(attrs)}>{html.escape(file.filename)}</a><br/>")
    lines.append("</body></html>")
    return "\n".join(lines) + "\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _RouterServer
    # keep-alive: resolvers open many connections at once, and reusing them saves a handshake each
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002 - quiet: the lock reports
        return

    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = [unquote(p) for p in self.path.split("?", 1)[0].split("/") if p]
        if parts == ["simple"]:
            self._send(200, "<!DOCTYPE html><html><body></body></html>\n")
            return
        if len(parts) == 3 and parts[0] == "files":
            self._file(canonicalize_name(parts[1]), parts[2])
            return
        if len(parts) != 2 or parts[0] != "simple":
            self._send(404, "not found\n", "text/plain")
            return
        project = canonicalize_name(parts[1])
        try:
            page = self.server.client.project(project)
        except MirrorError as exc:
            self._fail(exc)
            return
        if page is None:
            self._send(404, f"{project} is on none of the indexes\n", "text/plain")
            return
        self._send(200, render_page(project, page.files, f"/files/{quote(project)}/"))

    def _fail(self, exc: EnvspecError) -> None:
        with self.server.lock:
            self.server.errors.append(exc)
        self._send(502, f"{exc}\n", "text/plain")

    def _file(self, project: NormalizedName, filename: str) -> None:
        verifier = self.server.verifier
        try:
            if filename.endswith(".metadata"):
                body = verifier.metadata(project, filename.removesuffix(".metadata"))
                self._send_bytes(body)
                return
            verified = verifier.file(project, filename)
        except EnvspecError as exc:
            self._fail(exc)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(verified.size))
        self.end_headers()
        if self.command != "HEAD":
            with verified.path.open("rb") as handle:
                shutil.copyfileobj(handle, self.wfile, 1 << 20)

    def _send_bytes(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _RouterServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # uv opens dozens of connections at once; the default backlog of 5 drops them

    def __init__(self, verifier: Verifier) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.verifier = verifier
        self.client = verifier.client
        self.lock = threading.Lock()
        self.errors: list[EnvspecError] = []  # why a page or file could not be served, in order


@contextlib.contextmanager
def serve(verifier: Verifier) -> Iterator[_RouterServer]:
    """Run the router for the duration of a resolution; its URL is ``http://127.0.0.1:PORT/simple/``."""
    server = _RouterServer(verifier)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def router_url(server: _RouterServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/simple/"
