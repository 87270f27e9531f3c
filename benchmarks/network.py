"""The real requirement sets, the default index, and how much envspec would download to lock them.

The index these machines reach may serve no PEP 658 metadata. A resolver then reads each candidate
wheel's METADATA from the wheel itself (uv with HTTP range requests); envspec's loopback router may
instead fetch and hash the whole file before serving it. :func:`router_reads_whole_files` finds out on
a loopback mirror, and :func:`wheel_volume` adds up what that would cost for a set, so that the
benchmark never makes envspec download torch and CUDA wheels (gigabytes) just to read their metadata.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import tempfile
from collections.abc import Mapping
from pathlib import Path

import requests
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from benchmarks.common import BenchError, write_spec
from benchmarks.fixtures import Workspace, envspec
from envspec.lock.artifacts import target_tags
from envspec.lock.installers import default_index_url
from tests.support.index import serve_index
from tests.support.wheels import build_wheel

REQUIREMENTS = Path(__file__).resolve().parent / "requirements"
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
HEAVY_PREFIXES = ("torch", "nvidia-", "triton", "cuda-")
"""Projects whose wheels are hundreds of megabytes: never downloaded when their size is unknown."""
PROBE_WHEEL_BYTES = 1 << 21


@dataclasses.dataclass(frozen=True, slots=True)
class RealSet:
    key: str
    title: str
    source: str
    requirements: tuple[str, ...]
    path: Path


def load_sets() -> list[RealSet]:
    """The files in ``benchmarks/requirements/``: ``# title:`` and ``# source:`` lines, then requirements."""
    found: list[RealSet] = []
    for path in sorted(REQUIREMENTS.glob("*.txt")):
        meta: dict[str, str] = {}
        lines: list[str] = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if line.startswith("#"):
                key, sep, value = line.lstrip("# ").partition(":")
                if sep and key in ("title", "source"):
                    meta[key] = value.strip()
                continue
            line = line.split(" #", 1)[0].strip()
            if line:
                try:
                    Requirement(line)
                except InvalidRequirement as exc:
                    raise BenchError(f"{path.name}: {line!r} is not a requirement: {exc}") from None
                lines.append(line)
        key = path.stem
        found.append(RealSet(key, meta.get("title", key), meta.get("source", "?"), tuple(lines), path))
    return found


def default_index() -> str:
    """The installer's default index, read from the installed pip at run time (as envspec does)."""
    return default_index_url()


def router_reads_whole_files(ws: Workspace) -> bool:
    """Whether ``envspec lock`` downloads a whole wheel to read its metadata from an index without PEP 658.

    One 2 MiB wheel, served on 127.0.0.1 without metadata files, locked once: a GET of the wheel
    without a Range header means the router fetched all of it.
    """
    with tempfile.TemporaryDirectory(prefix="probe-", dir=ws.root) as tmp:
        root = Path(tmp)
        padding = "#" * 100 + "\n"
        source = '"""probe"""\n' + padding * (PROBE_WHEEL_BYTES // len(padding))
        wheel = build_wheel(root / "index", "bench-probe", "1.0", module_source=source)
        with serve_index(root / "index", metadata=False) as server:
            spec = root / "probe.toml"
            write_spec(spec, server.url, ws.python, ws.target, ["bench-probe"])
            ws.setup_run(
                envspec("lock", spec, "-o", root / "pylock.toml", "--resolver", "uv"), "router probe"
            )
            whole = [
                r
                for r in server.records
                if r.method == "GET" and r.path.endswith(wheel.name) and r.range is None
            ]
    return bool(whole)


def _fits(filename: str, python: str, target: str) -> bool:
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return False
    return bool(tags & target_tags(python, target))


def wheel_volume(
    index: str, pins: Mapping[str, str], python: str, target: str
) -> tuple[int | None, list[tuple[str, int]]]:
    """Bytes of the largest target wheel of every pin (from the index's PEP 691 pages), largest first.

    None when the index gives no sizes for a heavy project (then assume the worst).
    """
    session = requests.Session()

    def size(item: tuple[str, str]) -> tuple[str, int | None]:
        name, version = item
        response = session.get(f"{index.rstrip('/')}/{name}/", headers={"Accept": JSON_ACCEPT}, timeout=60)
        response.raise_for_status()
        if not response.headers.get("Content-Type", "").startswith(JSON_ACCEPT):
            return name, None
        best = 0
        for file in response.json().get("files", []):
            filename = str(file.get("filename", ""))
            if not filename.endswith(".whl") or not _fits(filename, python, target):
                continue
            if parse_wheel_filename(filename)[1] != Version(version):
                continue
            if file.get("size") is None:
                return name, None
            best = max(best, int(file["size"]))
        return name, best

    try:
        with session, concurrent.futures.ThreadPoolExecutor(8) as pool:
            sizes = list(pool.map(size, pins.items()))
    except (requests.RequestException, ValueError) as exc:
        raise BenchError(f"could not read the default index's pages to size the set: {exc}") from None
    unknown = [n for n, b in sizes if b is None]
    known = sorted(((n, b) for n, b in sizes if b is not None), key=lambda x: -x[1])
    if any(canonicalize_name(n).startswith(HEAVY_PREFIXES) for n in unknown):
        return None, known
    return sum(b for _, b in known), known
