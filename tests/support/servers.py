"""Real static and package servers on 127.0.0.1, each a subprocess stopped by its PID: python -m
http.server, pypiserver and nginx (the ways docs/export-mirror.md says an exported mirror is served);
and :func:`in_thread` for a test's own request handler, served from a thread of the test."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseRequestHandler

__all__ = [
    "free_port",
    "http_server",
    "in_thread",
    "nginx_binary",
    "nginx_server",
    "pypiserver",
    "send_body",
]


@contextlib.contextmanager
def in_thread(handler: Callable[..., BaseRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port from a thread; yield ``http://127.0.0.1:PORT``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def send_body(handler: BaseHTTPRequestHandler, body: bytes, content_type: str) -> None:
    """Answer a request with 200 and ``body``."""
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def free_port() -> int:
    """A loopback port where nothing listens (bound, read, closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - a loopback http URL we built
    except urllib.error.HTTPError:
        return True  # it answered, if not with 200
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _running(command: list[str], url: str, log: Path, *, what: str) -> Iterator[str]:
    """Start ``command``, wait until ``url`` answers, yield it; stop the process by its PID."""
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not _answers(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@contextlib.contextmanager
def http_server(folder: Path, log: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1 serving ``folder``; its ``/simple/`` URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(folder),
    ]
    with _running(command, f"http://127.0.0.1:{port}/simple/", log, what="http.server") as url:
        yield url


@contextlib.contextmanager
def pypiserver(packages: Path, log: Path) -> Iterator[str]:
    """``pypi-server run -p PORT -i 127.0.0.1 packages`` (it builds its own pages); its ``/simple/`` URL."""
    port = free_port()
    command = [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1", str(packages)]
    with _running(command, f"http://127.0.0.1:{port}/simple/", log, what="pypiserver") as url:
        yield url


def nginx_binary() -> str | None:
    """The nginx executable (Debian installs it in /usr/sbin, not on every user's PATH), or None."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_conf(folder: Path, server_block: str) -> Path:
    """A whole nginx.conf around ``server_block``: every path (pid, logs, temp files) inside
    ``folder``, in the foreground, as root's own user when run by root (tmp_path is 0700)."""
    temp = folder / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""daemon off;
{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{
    worker_connections 64;
}}
http {{
    log_format served '$request_method $uri $status "$sent_http_content_type" "$http_user_agent"';
    access_log {folder}/access.log served;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    default_type application/octet-stream;

{server_block}
}}
""",
        encoding="utf-8",
    )
    return conf


@contextlib.contextmanager
def nginx_server(binary: str, folder: Path, server_block: str, port: int) -> Iterator[str]:
    """nginx running ``server_block`` (which listens on ``port``); its ``/simple/`` URL. The access
    log, ``folder/access.log``, holds one ``METHOD URI STATUS "CONTENT-TYPE" "USER-AGENT"`` line a
    request (the URI after nginx chose the index file)."""
    conf = nginx_conf(folder, server_block)
    command = [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
    with _running(command, f"http://127.0.0.1:{port}/simple/", folder / "nginx.out", what="nginx") as url:
        yield url
