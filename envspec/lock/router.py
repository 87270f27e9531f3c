"""The loopback router: one simple index on 127.0.0.1 that resolvers see instead of the spec's indexes.

pip-tools and uv are each given exactly one index URL, this router's. For every project it answers
from the one place the plan allows (the project's scoped index, or the general mirrors in failover
order). A page that one index serves whole goes on byte for byte (``passthrough``); otherwise the
router writes a page whose links point back at itself, with the upstream hashes, and a file (or its
PEP 658 metadata) the resolver asks for is downloaded from upstream and judged by
:class:`~envspec.lock.trust.Verifier` before it is served, so the resolver only ever reads bytes that
match the published hashes and a lying mirror is failed over (:func:`serve` says when which applies).
So resolution is hermetic (no other index can be consulted), scoping holds whatever the resolver's
own index strategy is, a dead mirror fails over, and envspec learns which index served each project.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import http.server
import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from packaging.utils import NormalizedName, canonicalize_name

from envspec.errors import EnvspecError, UsageError
from envspec.fsio import write_atomic
from envspec.lock.diskcache import CachedPage
from envspec.lock.index import IndexClient, MirrorError
from envspec.lock.simple import SIMPLE_JSON, IndexFile
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


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _quoted(filename: str) -> str:
    """``filename`` for a URL path: as is in the common case, percent-quoted otherwise."""
    return filename if _PLAIN.issuperset(filename) else quote(filename)


def render_json(project: str, entries: list[Mapping[str, Any]], files_url: str) -> str:
    """A PEP 691 project page: the index's own entries, passed on with only their URLs changed.

    Parsing and re-rendering every file of a large project (thousands of wheels) would cost more than
    the resolution itself; each entry keeps its hashes, metadata and yanked markers as sent.
    """
    files = [{**entry, "url": files_url + _quoted(entry["filename"])} for entry in entries]
    return json.dumps({"meta": {"api-version": "1.0"}, "name": project, "files": files})


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _RouterServer
    # keep-alive: resolvers open many connections at once, and reusing them saves a handshake each
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002 - quiet: the lock reports
        return

    def _send(self, status: int, body: str | bytes, content_type: str = "text/html; charset=utf-8") -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_page(self, body: str | bytes, content_type: str, max_age: int = 0) -> None:
        """A project page the resolver may keep: for ``max_age`` seconds (what is left of the index's
        own ``max-age`` for a page passed on unchanged), then asking again with its ETag.

        The ETag is the digest of the bytes sent, so the router answers 304 only when the resolver
        holds exactly this page: a page another spec's mirrors gave under the same URL never passes.
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        etag = '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'
        unchanged = etag in (self.headers.get("If-None-Match") or "")
        self.send_response(304 if unchanged else 200)
        self.send_header("ETag", etag)
        self.send_header("Cache-Control", f"max-age={max_age}, must-revalidate")
        if unchanged:
            self.end_headers()
            return
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = [unquote(p) for p in self.path.split("?", 1)[0].split("/") if p]
        if not parts or parts[0] != self.server.key:
            self._send(404, "not found\n", "text/plain")
            return
        parts = parts[1:]
        if parts == ["simple"]:
            self._send(200, "<!DOCTYPE html><html><body></body></html>\n")
            return
        if len(parts) == 3 and parts[0] == "files":
            self._file(canonicalize_name(parts[1]), parts[2])
            return
        if len(parts) != 2 or parts[0] != "simple":
            self._send(404, "not found\n", "text/plain")
            return
        self._project_page(canonicalize_name(parts[1]))

    def _project_page(self, project: NormalizedName) -> None:
        self._answered = False  # set when the page was passed on before it was parsed
        accepts_json = SIMPLE_JSON in (self.headers.get("Accept") or "")
        early = self._pass_on if self.server.passthrough and accepts_json else None
        try:
            page = self.server.client.project(project, early)
        except MirrorError as exc:
            if not self._answered:
                self._fail(exc)
            return
        if self._answered:
            return
        if page is None:
            self._send(404, f"{project} is on none of the indexes\n", "text/plain")
            return
        host, port = self.server.server_address[:2]
        files_url = f"http://{host!s}:{port}/{self.server.key}/files/{quote(project)}/"
        if self.server.passthrough and page.raw is not None and accepts_json:
            self._pass_on(page.raw)
        elif page.entries is not None and accepts_json:
            self._send_page(render_json(project, page.entries, files_url), SIMPLE_JSON)
        else:
            self._send_page(render_page(project, page.files, files_url), "text/html; charset=utf-8")

    def _pass_on(self, raw: CachedPage) -> None:
        """The index's own page, byte for byte: absolute links, nothing filtered. The resolver reads
        files from upstream itself, and envspec judges the pinned files' hashes after resolution."""
        left = (raw.fresh_until or 0) - time.time()
        max_age = int(left) if raw.is_fresh(time.time()) else 0
        self._send_page(raw.body, raw.content_type, max_age)
        self._answered = True

    def _fail(self, exc: EnvspecError) -> None:
        with self.server.lock:
            self.server.errors.append(exc)
        self._send(502, f"{exc}\n", "text/plain")

    def _file(self, project: NormalizedName, filename: str) -> None:
        """A file for the resolver: a whole file only once verified; a byte range (a resolver reading a
        wheel's METADATA from its zip index, where the index publishes no PEP 658 file) straight from
        the upstream file, as the resolver would read it without the router."""
        verifier = self.server.verifier
        try:
            if filename.endswith(".metadata"):
                self._send_bytes(verifier.metadata(project, filename.removesuffix(".metadata")))
                return
            url, size = verifier.locate(project, filename)
            if self.command == "HEAD" and size is not None:
                self._file_headers(200, {"Content-Length": str(size)})
                return
            wanted = self.headers.get("Range")
            if wanted and self.command == "GET" and self._pass_range(url, wanted):
                return
            verified = verifier.file(project, filename)
        except EnvspecError as exc:
            self._fail(exc)
            return
        self._file_headers(200, {"Content-Length": str(verified.size)})
        if self.command != "HEAD":
            with verified.path.open("rb") as handle:
                shutil.copyfileobj(handle, self.wfile, 1 << 20)

    def _file_headers(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _pass_range(self, url: str, wanted: str) -> bool:
        """Relay one byte range of the upstream file; False when upstream sent no 206 (then the whole,
        verified file is served instead)."""
        response = self.server.client.open_range(url, wanted)
        if response is None:
            return False
        with response:
            kept = ("Content-Length", "Content-Range")
            headers = {k: response.headers[k] for k in kept if k in response.headers}
            self._file_headers(206, headers)
            for chunk in response.iter_content(chunk_size=1 << 16):
                self.wfile.write(chunk)
        return True

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

    def __init__(self, verifier: Verifier, *, passthrough: bool, port: int, key: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.passthrough = passthrough
        self.key = key
        self.verifier = verifier
        self.client = verifier.client
        self.lock = threading.Lock()
        self.errors: list[EnvspecError] = []  # why a page or file could not be served, in order

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A resolver that hangs up (uv stops at the first 502 and resets its other connections) is
        no error of the router's: say nothing. Anything else is a bug, reported as socketserver does."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _bind(verifier: Verifier, *, passthrough: bool, port_file: Path | None, key: str) -> _RouterServer:
    """The router on the port it had last time (so that the resolvers' caches, which are keyed by
    the index URL, stay warm), or on any free port when that one is taken; the port is kept."""
    wanted = 0
    if port_file is not None:
        with contextlib.suppress(OSError, ValueError):
            wanted = int(port_file.read_text(encoding="ascii").strip() or 0)
        if not 1024 <= wanted <= 65535:  # a damaged or hand-edited file: any free port
            wanted = 0
    try:
        server = _RouterServer(verifier, passthrough=passthrough, port=wanted, key=key)
    except OSError:
        if not wanted:
            raise
        server = _RouterServer(verifier, passthrough=passthrough, port=0, key=key)
    bound = int(server.server_address[1])
    if port_file is not None and bound != wanted:
        with contextlib.suppress(UsageError):  # a cache that cannot be written is only slower
            write_atomic(port_file, f"{bound}\n".encode("ascii"))
    return server


def router_key(client: IndexClient, *, passthrough: bool) -> str:
    """The first segment of the router's URLs: a digest of where its pages come from.

    The port is reused from one lock to the next, so a resolver's cache may hold pages from an
    earlier lock under the same URL; a different set of mirrors, scoping or cut-off (or the other
    mode) gives a different URL, and so never an earlier lock's pages.
    """
    plan = client.plan
    sources = [
        [client.url_of(m) for m in plan.mirrors],
        {name: client.url_of(index) for name, index in sorted(plan.scoped.items())},
        plan.exclude_newer,
        passthrough,
    ]
    return hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def serve(
    verifier: Verifier, *, passthrough: bool = False, port_file: Path | None = None
) -> Iterator[_RouterServer]:
    """Run the router for the duration of a resolution; its URL is ``http://127.0.0.1:PORT/KEY/simple/``.

    ``port_file`` keeps the port from one lock to the next (see :func:`_bind`), and the URL's first
    segment names the mirrors behind it (see :func:`router_key`).

    With ``passthrough``, a JSON page that one index serves whole (nothing cut by ``exclude_newer``,
    absolute links) goes to the resolver byte for byte, links to upstream included: the router then
    parses and re-renders nothing. uv reads a wheel's metadata by byte ranges; pip downloads whole files and
    checks each against the page's hash itself, so a lying mirror stops it, and the lock resolves
    again without ``passthrough``: every link then points back at the router, where each download is
    checked and a lying mirror is failed over.
    """
    key = router_key(verifier.client, passthrough=passthrough)
    server = _bind(verifier, passthrough=passthrough, port_file=port_file, key=key)
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
    return f"http://{host!s}:{port}/{server.key}/simple/"
