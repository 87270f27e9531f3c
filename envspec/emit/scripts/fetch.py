"""envspec's file fetcher, run by bootstrap.sh: every locked file, hash-checked, with per-file failover.

It runs on the interpreter of the environment being built (inside the new venv for pip; for uv on
the interpreter itself, while the venv is made), Python 3.8 or newer, standard library only, and
reads a manifest with one line per candidate file: ``sha256 size project filename url``. For each
project it picks the file the installer takes best (wheel tags, else the sdist) and fetches it from, in
order: the URL the lock recorded, the lock's other indexes, then the ``--mirror`` indexes (looked up
on their project pages by file name). A file counts only when its size and sha256 are the lock's.
Each failure is printed with its real cause, each fetched file with a progress line, and a summary
at the end. Exit status: 0 when every file is fetched, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import html.parser
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not on POSIX: no claim on partial files (a store is then one fetch at a time)
    fcntl = None  # type: ignore[assignment]

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
USER_AGENT = "envspec-bootstrap"
CHUNK = 1 << 20
PAGE_LIMIT = 64 << 20  # no project page is this large; a mirror that sends more is refused


def say(message: str) -> None:
    sys.stderr.write("envspec: " + message + "\n")
    sys.stderr.flush()


def die_with_parent() -> None:
    """Exit as soon as the script that started us is gone (SIGKILL included): no orphan downloads."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # no prctl here: the watcher below still notices, within half a second

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


class Entry:
    def __init__(self, sha256: str, size: int, project: str, filename: str, url: str) -> None:
        self.sha256 = sha256
        self.size = size
        self.project = project
        self.filename = filename
        self.url = url


def read_manifest(path: str) -> dict[str, list[Entry]]:
    projects: dict[str, list[Entry]] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 5 or len(parts[0]) != 64 or not parts[1].isdigit():
                raise SystemExit(f"envspec: error: {path}:{number}: not a manifest line")
            entry = Entry(parts[0], int(parts[1]), parts[2], parts[3], parts[4])
            projects.setdefault(entry.project, []).append(entry)
    return projects


def supported_tags() -> list[str] | None:
    """The interpreter's wheel tags, best first: from pip's copy of packaging, else packaging, else
    computed here; None where none of those can tell (then the emitter's order decides)."""
    for module in ("pip._vendor.packaging.tags", "packaging.tags"):
        try:
            tags = __import__(module, fromlist=["sys_tags"])
            return [str(tag) for tag in tags.sys_tags()]
        except Exception:  # noqa: S112 - not installed here: try the next way
            continue
    return computed_tags()


MANYLINUX_ARCHS = {"x86_64", "aarch64", "ppc64", "ppc64le", "s390x", "loongarch64", "riscv64"}
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def computed_tags() -> list[str] | None:
    """``packaging.tags.sys_tags()`` (26.3 and later) for the common case, without packaging.

    An interpreter with neither pip nor packaging (a uv-built environment, a system Python without
    pip) still needs the right wheel. Only 64-bit CPython on glibc Linux is covered, without debug
    or free-threaded builds and without a ``_manylinux`` module; elsewhere the answer is None.
    """
    import importlib.util
    import platform
    import struct
    import sysconfig

    if sys.implementation.name != "cpython" or platform.system() != "Linux" or struct.calcsize("P") != 8:
        return None
    if sysconfig.get_config_var("Py_DEBUG") or sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None
    machine = sysconfig.get_platform().replace(".", "_").replace("-", "_").replace(" ", "_")
    arch = machine[len("linux_") :] if machine.startswith("linux_") else ""
    try:
        libc, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").split()
        major, minor = (int(part) for part in version.split(".")[:2])
    except (AttributeError, OSError, ValueError):
        return None  # musl, or a libc that does not say
    if arch not in MANYLINUX_ARCHS or libc != "glibc" or major != 2 or importlib.util.find_spec("_manylinux"):
        return None
    platforms = [f"linux_{arch}"]
    for glibc in range(minor, 4 if arch == "x86_64" else 16, -1):
        platforms.append(f"manylinux_2_{glibc}_{arch}")
        if glibc in LEGACY_MANYLINUX:
            platforms.append(f"{LEGACY_MANYLINUX[glibc]}_{arch}")
    version_minor = sys.version_info[1]
    cpython = f"cp3{version_minor}"
    pythons = [f"py3{version_minor}", "py3", *(f"py3{older}" for older in range(version_minor - 1, -1, -1))]
    tags = [f"{cpython}-{abi}-{p}" for abi in (cpython, "abi3", "none") for p in platforms]
    tags += [f"cp3{older}-abi3-{p}" for older in range(version_minor - 1, 1, -1) for p in platforms]
    tags += [f"{python}-none-{p}" for python in pythons for p in platforms]
    return [*tags, f"{cpython}-none-any", *(f"{python}-none-any" for python in pythons)]


def wheel_tags(filename: str) -> list[str]:
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        return []
    python, abi, platform = parts[-3:]
    return [f"{p}-{a}-{pl}" for p in python.split(".") for a in abi.split(".") for pl in platform.split(".")]


def choose(entries: list[Entry], ranking: list[str] | None) -> Entry | None:
    """The file of one project to install here: the best-ranked wheel, else the sdist."""
    wheels = [e for e in entries if e.filename.endswith(".whl")]
    sdists = [e for e in entries if not e.filename.endswith(".whl")]
    if ranking is None:
        return wheels[0] if wheels else (sdists[0] if sdists else None)
    rank = {tag: i for i, tag in enumerate(ranking)}
    best: tuple[int, Entry] | None = None
    for wheel in wheels:
        score = min((rank[t] for t in wheel_tags(wheel.filename) if t in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, wheel)
    if best is not None:
        return best[1]
    return sdists[0] if sdists else None


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        html.parser.HTMLParser.__init__(self, convert_charrefs=True)
        self.base: str | None = None
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "base" and self.base is None:
            self.base = values.get("href")
        elif tag == "a":
            self._href = values.get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


class Failure(Exception):  # noqa: N818 - a failed source, reported, not an error of this program
    def __init__(self, reason: str, *, dead: bool = False) -> None:
        Exception.__init__(self, reason)
        self.reason = reason
        self.dead = dead  # the host itself did not answer: do not ask it again in this run


def reason_of(exc: BaseException, timeout: float) -> Failure:  # noqa: PLR0911 - one answer per cause
    if isinstance(exc, urllib.error.HTTPError):
        return Failure(f"HTTP {exc.code} {exc.reason or ''}".rstrip(), dead=exc.code >= 500)
    cause = getattr(exc, "reason", exc)
    if isinstance(cause, ConnectionRefusedError):
        return Failure("connection refused", dead=True)
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return Failure(f"no answer within {timeout:g} s", dead=True)
    if isinstance(cause, socket.gaierror):
        return Failure("unknown host", dead=True)
    if isinstance(cause, ssl.SSLError):
        return Failure(f"TLS error: {cause}", dead=True)
    if isinstance(cause, OSError):
        return Failure(f"connection failed: {cause.strerror or cause}", dead=True)
    return Failure(str(cause) or type(cause).__name__)


class Fetcher:
    def __init__(self, options: argparse.Namespace) -> None:
        self.timeout = options.timeout
        self.retries = options.retries
        self.dest = options.dest
        self.offline: str | None = options.offline
        # keep what a broken download got in its .part file and continue it next time (a store)
        self.resume: bool = getattr(options, "resume", False)
        self.indexes: list[str] = []
        for given in [*options.lock_index, *options.mirror]:
            url = given or default_index()
            if url and url.rstrip("/") + "/" not in self.indexes:
                self.indexes.append(url.rstrip("/") + "/")
        if "" in [*options.lock_index, *options.mirror] and default_index() is None and not options.offline:
            say("no pip here to name the default index: only the recorded URLs and named indexes are tried")
        self.lock = threading.Lock()
        self.dead: dict[str, str] = {}
        self.pages: dict[tuple[str, str], dict[str, str]] = {}
        self.done = 0
        self.bytes = 0
        self.planned = 0  # the bytes this run is to fetch, for the progress lines (0: not shown)

    def _open(self, url: str, accept: str | None = None, start: int = 0) -> IO[bytes]:
        headers = {"User-Agent": USER_AGENT}
        if accept:
            headers["Accept"] = accept
        if start:
            headers["Range"] = f"bytes={start}-"
        last = Failure("no attempt")
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
            try:
                request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) from the lock
                response: IO[bytes] = urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
                return response
            except Exception as exc:
                last = reason_of(exc, self.timeout)
                if isinstance(exc, urllib.error.HTTPError) and exc.code < 500 and exc.code != 429:
                    break
        raise last

    def _host_failed(self, url: str) -> str | None:
        host = urllib.parse.urlsplit(url).netloc
        with self.lock:
            return self.dead.get(host)

    def _mark(self, url: str, failure: Failure) -> None:
        if not failure.dead:
            return
        host = urllib.parse.urlsplit(url).netloc
        with self.lock:
            new = host not in self.dead
            self.dead.setdefault(host, failure.reason)
        if new:
            say(f"{host}: {failure.reason}; not asking it again in this run")

    def _page_links(self, index: str, project: str) -> dict[str, str]:
        key = (index, project)
        with self.lock:
            if key in self.pages:
                return self.pages[key]
        url = index + project + "/"
        with self._open(url, ACCEPT) as response:
            body = response.read(PAGE_LIMIT + 1)
            if len(body) > PAGE_LIMIT:
                raise Failure(f"its page for {project} is larger than {PAGE_LIMIT >> 20} MiB")
            page_url: str = getattr(response, "url", url)
            kind: str = getattr(response, "headers", {}).get("Content-Type", "")
        links: dict[str, str] = {}
        if "json" in kind:
            for item in json.loads(body.decode("utf-8")).get("files", []):
                links[item["filename"]] = urllib.parse.urljoin(page_url, item["url"])
        else:
            parser = _Links()
            parser.feed(body.decode("utf-8", "replace"))
            base = urllib.parse.urljoin(page_url, parser.base) if parser.base else page_url
            for href, text in parser.links:
                absolute = urllib.parse.urldefrag(urllib.parse.urljoin(base, href))[0]
                name = text or urllib.parse.unquote(absolute.rsplit("/", 1)[-1])
                links[name] = absolute
        with self.lock:
            self.pages[key] = links
        return links

    def _sources(self, entry: Entry) -> Iterator[tuple[str, Callable[[], str]]]:
        """(label, callable giving a URL) for each place to try, in order."""
        if self.offline is not None:
            folder = Path(self.offline)
            # a store that `envspec fetch` filled (files named by sha256), an exported mirror or an
            # unpacked pack (files/<name>), or a plain folder of files
            places = (
                folder / "sha256" / entry.sha256,
                folder / "files" / entry.filename,
                folder / entry.filename,
            )
            yield str(folder), lambda: str(next((p for p in places if p.is_file()), places[-1]))
            return
        yield entry.url, lambda: entry.url
        for index in self.indexes:
            if entry.url.startswith(index):
                continue
            yield index, lambda index=index: self._lookup(index, entry)  # type: ignore[misc]

    def _lookup(self, index: str, entry: Entry) -> str:
        failed = self._host_failed(index)
        if failed:
            raise Failure(f"skipped: it failed earlier ({failed})")
        try:
            links = self._page_links(index, entry.project)
        except Failure as failure:
            self._mark(index, failure)
            raise
        except ValueError as exc:
            raise Failure(f"unreadable project page: {exc}") from None
        if entry.filename not in links:
            raise Failure(f"does not list {entry.filename}")
        link = links[entry.filename]
        scheme = urllib.parse.urlsplit(link).scheme
        allowed = ("http", "https", "file") if index.startswith("file:") else ("http", "https")
        if scheme not in allowed:
            raise Failure(f"its page links {entry.filename} to a {scheme}: URL, which is refused")
        return link

    def _get(self, url: str, entry: Entry, part: Path, *, resume: bool = True) -> None:
        if self.offline is not None:
            self._get_local(Path(url), entry, part)
            return
        failed = self._host_failed(url)
        if failed:
            raise Failure(f"skipped: it failed earlier ({failed})")
        start = partial_size(part, entry.size) if self.resume and resume else 0
        try:
            source = self._open(url, start=start)
        except Failure as failure:
            self._mark(url, failure)
            raise
        digest = hashlib.sha256()
        if start and is_continuation(source, start, entry.size):
            say(f"continuing {entry.filename} after the {human(start)} an earlier fetch got")
            with part.open("rb") as done:  # the bytes fetched before count in the digest
                for block in iter(lambda: done.read(CHUNK), b""):
                    digest.update(block)
        else:
            start = 0
        try:
            with source, part.open("ab" if start else "wb") as out:
                size = copy_counted(source, out, digest, start, entry.size)
        except Exception as exc:
            cause = reason_of(exc, self.timeout)
            self._mark(url, cause)
            raise cause from None  # what arrived stays in the .part file, for a later resume
        try:
            check(entry, size, digest)
        except Failure:
            part.unlink(missing_ok=True)
            if start:  # the bytes kept from before may be what was wrong: once more, from the start
                self._get(url, entry, part, resume=False)
                return
            raise

    def _get_local(self, path: Path, entry: Entry, part: Path) -> None:
        """``path`` checked into ``part``: a hard link to it where the file system allows (no copy of
        gigabytes from a store on the same disk), else a copy; refused unless size and sha256 match."""
        if not path.is_file():
            raise Failure("not in the folder")
        part.unlink(missing_ok=True)
        try:
            os.link(path, part)
            linked = True
        except OSError:
            linked = False
        digest = hashlib.sha256()
        with (part if linked else path).open("rb") as source, contextlib.ExitStack() as stack:
            out = None if linked else stack.enter_context(part.open("wb"))
            size = copy_counted(source, out, digest, 0, entry.size)
        try:
            check(entry, size, digest)
        except Failure:
            part.unlink(missing_ok=True)
            raise

    def target(self, entry: Entry) -> Path:
        """Where a fetched file goes (``envspec fetch`` names it by its sha256 in a store)."""
        return Path(self.dest) / entry.filename

    def fetch(self, entry: Entry, total: int) -> list[str]:
        """Fetch one file; returns the failures (empty when it was fetched)."""
        started = time.monotonic()
        target = self.target(entry)
        with claimed(Path(f"{target}.part"), shared=self.resume) as (part, resume):
            return self._fetch(entry, total, started, target, part, resume)

    def _fetch(
        self, entry: Entry, total: int, started: float, target: Path, part: Path, resume: bool
    ) -> list[str]:
        tried: list[str] = []
        for label, locate in self._sources(entry):
            try:
                url = locate()
                self._get(url, entry, part, resume=resume)
            except Failure as failure:
                tried.append(f"{label}: {failure.reason}")
                if failure.reason.startswith("REFUSED"):
                    say(f"{failure.reason} {label}; trying the next source")
                continue
            except Exception as exc:  # an unexpected failure of one source: report it, try the next
                tried.append(f"{label}: {exc}")
                continue
            part.replace(target)
            with self.lock:
                self.done += 1
                self.bytes += entry.size
                number, so_far = self.done, self.bytes
            source = urllib.parse.urlsplit(url).netloc or label
            seconds = time.monotonic() - started
            counter = f"[{number:>{len(str(total))}}/{total}"
            counter += f", {human(so_far)} of {human(self.planned)}]" if self.planned else "]"
            say(f"{counter} {entry.filename}  {human(entry.size)}  from {source} ({seconds:.1f} s)")
            return []
        if not resume:
            part.unlink(missing_ok=True)
        return tried


@contextlib.contextmanager
def claimed(part: Path, *, shared: bool) -> Iterator[tuple[Path, bool]]:
    """The partial file to write, and whether to continue what it holds.

    In a store (``shared``), where two fetches may run at once, ``part`` is claimed with a lock;
    when another process holds it, this one writes a file of its own from the start (both produce
    the same bytes, and each is renamed whole). Elsewhere (a build's own folder) ``part`` is used
    as it is, never continued.
    """
    if not shared or fcntl is None:
        yield part, False
        return
    handle = os.open(part, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the same file still has that name (not renamed away by the fetch that held it)
            mine = os.path.samestat(os.fstat(handle), part.stat())
        except OSError:
            mine = False
        if mine:
            try:
                yield part, True
            finally:
                left = os.fstat(handle)
                if left.st_nlink and left.st_size == 0:
                    part.unlink(missing_ok=True)  # nothing to continue: no empty file left behind
        else:
            own = part.with_name(f"{part.name}.{os.getpid()}.{threading.get_ident()}")
            try:
                yield own, False
            finally:
                own.unlink(missing_ok=True)
    finally:
        os.close(handle)


def partial_size(part: Path, size: int) -> int:
    """How many bytes an earlier attempt left in ``part`` to continue from (0: start afresh)."""
    try:
        have = part.stat().st_size
    except OSError:
        return 0
    return have if 0 < have < size else 0


def is_continuation(response: IO[bytes], start: int, size: int) -> bool:
    """Whether ``response`` answers a ``Range: bytes=start-`` request with exactly the rest."""
    status = getattr(response, "status", 200)
    ranged = getattr(response, "headers", {}).get("Content-Range", "")
    return bool(status == 206 and ranged.replace(" ", "") == f"bytes{start}-{size - 1}/{size}")


def copy_counted(source: IO[bytes], out: IO[bytes] | None, digest: Any, size: int, limit: int) -> int:
    """Copy ``source`` into ``out`` (None: only hash it), stopping past ``limit`` bytes in all;
    returns the size reached, ``size`` being what was there already."""
    while True:
        block = source.read(CHUNK)
        if not block:
            return size
        size += len(block)
        if size > limit:
            return size
        digest.update(block)
        if out is not None:
            out.write(block)


def check(entry: Entry, size: int, digest: Any) -> None:
    if size != entry.size:
        got = f"more than {entry.size}" if size > entry.size else str(size)
        raise Failure(f"REFUSED: {got} bytes, the lock says {entry.size} (tampered or corrupted)")
    if digest.hexdigest() != entry.sha256:
        raise Failure(
            f"REFUSED: sha256 {digest.hexdigest()[:16]}... differs from the lock's"
            f" {entry.sha256[:16]}... (tampered or corrupted)"
        )


def default_index() -> str | None:
    """The installer's default index (pip's own constant), or None when pip is not importable."""
    try:
        from pip._internal.models.index import PyPI

        url: str = PyPI.simple_url
        return url
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fetch.py")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--lock-index", action="append", default=[])
    parser.add_argument("--mirror", action="append", default=[])
    parser.add_argument("--offline")
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--installer", choices=("pip", "uv"), default="pip")
    parser.add_argument("--requirements", help="write the installer's list of the fetched files here")
    options = parser.parse_args(argv)
    die_with_parent()
    socket.setdefaulttimeout(options.timeout)
    # pip installs what its own tags accept; uv ranks as packaging does today, which is computed here
    ranking = computed_tags() if options.installer == "uv" else None
    if ranking is None:
        ranking = supported_tags()
    chosen = []
    for project, entries in sorted(read_manifest(options.manifest).items()):
        entry = choose(entries, ranking)
        if entry is None:
            say(f"error: no locked file of {project} installs on this interpreter ({sys.version.split()[0]})")
            return 1
        chosen.append(entry)
    Path(options.dest).mkdir(parents=True, exist_ok=True)
    fetcher = Fetcher(options)
    fetcher.planned = sum(e.size for e in chosen)
    started = time.monotonic()
    total = len(chosen)
    where = f"{options.offline} (offline)" if options.offline else "the lock's URLs"
    say(f"fetching {total} files ({human(sum(e.size for e in chosen))}) from {where}")
    failed: list[tuple[Entry, list[str]]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(options.jobs, total or 1))) as pool:
        futures = {pool.submit(fetcher.fetch, entry, total): entry for entry in chosen}
        for future in concurrent.futures.as_completed(futures):
            tried = future.result()
            if tried:
                failed.append((futures[future], tried))
    if failed:
        for entry, tried in sorted(failed, key=lambda item: item[0].filename):
            say(f"error: could not fetch {entry.filename} (sha256 {entry.sha256[:16]}...):")
            for line in tried:
                say("  " + line)
        say(f"{len(failed)} of {total} files could not be fetched")
        return 1
    say(f"fetched {total} files ({human(fetcher.bytes)}) in {time.monotonic() - started:.1f} s")
    if options.requirements:
        # each file named by its own URL: the installer reads no folder (pip, given --find-links,
        # lists the whole folder once per requirement, which took longer than installing)
        dest = Path(options.dest).resolve()
        lines = [f"{e.project} @ {(dest / e.filename).as_uri()} --hash=sha256:{e.sha256}\n" for e in chosen]
        Path(options.requirements).write_text("".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
