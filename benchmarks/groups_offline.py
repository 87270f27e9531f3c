"""Group ``offline`` (issue 11): a working venv from one lock, online and offline, and fetch throughput.

One synthetic graph of :data:`OFFLINE_GRAPH` projects whose wheels are padded to 0.2-2 MB each, so
that bytes matter, served on 127.0.0.1. Set-up (untimed) locks it, emits ``bootstrap.sh``, fills a
store with ``envspec fetch`` and writes a pack with ``envspec pack``. Two tables follow:

- *time to a working env*, cold, a new venv every run: ``bootstrap.sh`` online, ``bootstrap.sh
  --offline STORE``, ``bash PACK``, all ``--installer uv``, against ``uv venv`` + ``uv pip sync
  --require-hashes`` (the peer) and ``python -m venv`` + ``pip install -r requirements.in``
  (resolving the spec's unpinned top-level requirements); every venv must hold exactly the locked pins;
- *fetch throughput*: ``envspec fetch LOCK --store EMPTY`` against ``curl --parallel`` downloading the
  same URLs with the same parallelism; every file fetched must have the lock's sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import shutil
import statistics
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import (
    PLATFORM_MACHINES,
    BenchError,
    Graph,
    build_graph,
    design_sized_graph,
    write_spec,
)
from benchmarks.engine import Case, Log, Run, measure
from benchmarks.fixtures import Workspace, envspec, hashed_requirements, read_pylock, tool_env
from benchmarks.groups_install import checks_for, installed
from benchmarks.mirror import serve_static
from benchmarks.report import Comparison, GroupResult

OFFLINE_GRAPH = 200
"""Projects in the graph (all are pinned): about 220 MB of wheels to install, several files per job."""
PAD_MIN, PAD_MAX = 200_000, 2_000_000
"""Bytes of padding in each wheel that can be installed (the others stay tiny: no one downloads them)."""
JOBS = 4
"""Files downloaded at a time, by envspec fetch (its default) and by curl."""


@dataclasses.dataclass(frozen=True, slots=True)
class LockedFile:
    name: str
    url: str
    sha256: str
    size: int


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    index: str
    graph: Graph
    lock: Path
    script: Path
    store: Path
    pack: Path
    requirements: Path  # name==version --hash=... from the lock
    requirements_in: Path  # the spec's top-level requirements, unpinned
    files: tuple[LockedFile, ...]
    errors: Callable[[], list[str]]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def padded_source(name: str, version: str, *, padded: bool) -> str:
    """The wheel's ``__init__.py``: ``__version__`` and, when ``padded``, comment lines of random digits
    (wheels are stored, not deflated, so the wheel grows by as much)."""
    text = f'"""{name} {version}: a padded benchmark distribution."""\n\n__version__ = "{version}"\n'
    if not padded:
        return text
    rng = random.Random(f"{name}=={version}")  # noqa: S311 - reproducible, not secret
    digits = rng.randbytes(rng.randrange(PAD_MIN, PAD_MAX) // 79 * 38).hex()
    return text + "".join(f"# {digits[i : i + 76]}\n" for i in range(0, len(digits), 76))


def build_padded_graph(root: Path, python: str, machine: str, size: int) -> Graph:
    """The ``size``-project graph of ``synthetic``, its wheels for this host padded."""

    def source(name: str, version: str, fits_host: bool) -> str:
        return padded_source(name, version, padded=fits_host)

    return build_graph(root, python, machine, design_sized_graph(python, machine, size), source)


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def locked_files(lock: Path, store: Path) -> tuple[LockedFile, ...]:
    """The lock's files that the set-up ``envspec fetch`` put into ``store`` (those this host installs);
    an error when the store holds anything else or any of them is damaged."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    listed = {
        str(w["hashes"]["sha256"]): LockedFile(str(w["name"]), str(w["url"]), str(w["hashes"]["sha256"]), 0)
        for package in data.get("packages", [])
        for w in package.get("wheels", [])
    }
    stored = {p.name: p for p in (store / "sha256").iterdir() if p.is_file()}
    unknown = sorted(set(stored) - set(listed))
    if unknown or not stored:
        raise BenchError(f"set-up: the store holds {len(stored)} files, {len(unknown)} of them not locked")
    for digest, path in stored.items():
        if sha256_of(path) != digest:
            raise BenchError(f"set-up: the store's {digest} has other bytes")
    files = [dataclasses.replace(listed[d], size=p.stat().st_size) for d, p in stored.items()]
    return tuple(sorted(files, key=lambda f: f.name))


def check_files(label: str, files: tuple[LockedFile, ...], where: Callable[[LockedFile], Path]) -> None:
    """Every locked file is where the case put it, with the lock's sha256."""
    for f in files:
        path = where(f)
        if not path.is_file() or sha256_of(path) != f.sha256:
            raise BenchError(f"{label}: {f.name} is missing or has other bytes ({path})")


class OfflineBench:
    """The two tables of the group; their shared set-up is made once, on first use."""

    def __init__(self, ws: Workspace, reps: int, log: Log) -> None:
        self.ws, self.reps, self.log = ws, reps, log
        self._prepared: Prepared | BenchError | None = None

    def prepared(self) -> Prepared:
        if self._prepared is None:
            try:
                self._prepared = self._prepare()
            except BenchError as exc:
                self._prepared = exc
        if isinstance(self._prepared, BenchError):
            raise self._prepared
        return self._prepared

    def _prepare(self) -> Prepared:
        ws = self.ws
        home = ws.folder("offline")
        graph = build_padded_graph(home / "index", ws.python, PLATFORM_MACHINES[ws.target], OFFLINE_GRAPH)
        mirror = ws.hold(serve_static(home / "index"))
        spec = home / "bench.toml"
        write_spec(spec, mirror.url, ws.python, ws.target, graph.top)
        requirements_in = home / "requirements.in"
        requirements_in.write_text("".join(f"{n}\n" for n in graph.top), encoding="utf-8")
        lock = ws.lock(spec, f"offline-{OFFLINE_GRAPH}")
        requirements = home / "requirements.txt"
        requirements.write_text(hashed_requirements(lock), encoding="utf-8")
        script = ws.emit_venv(lock, "offline")
        store, pack = home / "store", home / "bench.pack.sh"
        self.log("set-up: envspec fetch and envspec pack")
        ws.setup_run(envspec("fetch", lock, "--store", store), "envspec fetch")
        ws.setup_run(envspec("pack", lock, "-o", pack, "--store", store), "envspec pack")
        files = locked_files(lock, store)
        self.log(
            f"offline graph: {len(graph.projects)} projects, {graph.files} wheels; the lock installs"
            f" {len(files)} files, {sum(f.size for f in files) / 1e6:.0f} MB;"
            f" the pack is {pack.stat().st_size / 1e6:.0f} MB"
        )
        return Prepared(
            mirror.url,
            graph,
            lock,
            script,
            store,
            pack,
            requirements,
            requirements_in,
            files,
            lambda: mirror.errors,
        )

    def _env(self, work: Path) -> dict[str, str]:
        """Fresh caches, uv's folder first on PATH (bootstrap.sh looks for uv there), temporary files
        (the pack's unpacked folder) inside the run's folder."""
        env = tool_env(work, {"TMPDIR": str(work)})
        env["PATH"] = ":".join([str(Path(self.ws.uv).parent), env.get("PATH", "")])
        return env

    def install_cases(self, p: Prepared) -> list[Case]:
        python, uv = sys.executable, self.ws.uv
        options = ("--python", python, "--installer", "uv")

        def bootstrap(*before: str) -> Callable[[Path], Run]:
            def make(work: Path) -> Run:
                argv = ("bash", *before, "--prefix", str(work / "env"), *options)
                return Run((argv,), self._env(work), work, work / "env")

            return make

        def uv_sync(work: Path) -> Run:
            env = work / "env"
            venv = (uv, "venv", "--no-config", "--quiet", "--python", python, str(env))
            sync = (uv, "pip", "sync", "--no-config", "--quiet", "--python", str(env / "bin" / "python"))
            flags = ("--require-hashes", "--index-url", p.index, "--cache-dir", str(work / "uv-cache"))
            return Run((venv, (*sync, *flags, str(p.requirements))), self._env(work), work, env)

        def pip_resolving(work: Path) -> Run:
            env = work / "env"
            pip = (str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--index-url", p.index)
            flags = ("--cache-dir", str(work / "pip-cache"), "-r", str(p.requirements_in))
            return Run(((python, "-m", "venv", str(env)), (*pip, *flags)), self._env(work), work, env)

        return [
            Case("online", "bootstrap.sh, online", bootstrap(str(p.script)), installed),
            Case(
                "store",
                "bootstrap.sh --offline STORE",
                bootstrap(str(p.script), "--offline", str(p.store)),
                installed,
            ),
            Case("pack", "bash PACK", bootstrap(str(p.pack)), installed),
            Case("uv", "uv venv + uv pip sync --require-hashes, online", uv_sync, installed),
            Case(
                "pip",
                "python -m venv + pip install -r requirements.in (resolving), online",
                pip_resolving,
                installed,
            ),
        ]

    def installs(self) -> GroupResult:
        p = self.prepared()
        cases = self.install_cases(p)
        labels = {c.key: c.label for c in cases}
        self.log("Offline installs, synthetic")
        outcomes = measure(cases, self.reps, self.ws.folder("offline", "runs"), self.log)
        about = (
            f"A new venv with the {len(p.files)} pins of a {OFFLINE_GRAPH}-project graph whose wheels are"
            f" padded to 0.2-2 MB ({p.size / 1e6:.0f} MB in all, not deflated; {p.graph.files} wheels on the"
            " mirror) from one lock, cold,"
            " all on 127.0.0.1. The bootstrap.sh cases use `--installer uv`; the store was filled with"
            " `envspec fetch` and the pack written with `envspec pack` before the timed runs. pip"
            " resolves the spec's unpinned top-level requirements against the mirror. No goals:"
            " informational ratios."
        )
        comparisons = [
            Comparison(f"{labels[k]} / {labels['uv']}", k, "uv") for k in ("store", "pack", "online", "pip")
        ]
        comparisons.append(Comparison(f"{labels['store']} / {labels['online']}", "store", "online"))
        result = GroupResult("offline", "Offline installs, synthetic", about, cases, outcomes, comparisons)
        checks_for(cases, result, read_pylock(p.lock)[0])
        result.warnings += [f"the mirror raised: {e}" for e in p.errors()[:3]]
        return result

    def fetch_cases(self, p: Prepared) -> list[Case]:
        def envspec_fetch(work: Path) -> Run:
            store = work / "store"
            argv = envspec("fetch", p.lock, "--store", store, "--jobs", str(JOBS))

            def check() -> None:
                check_files("envspec fetch", p.files, lambda f: store / "sha256" / f.sha256)

            return Run((argv,), tool_env(work), work, check=check)

        def curl(work: Path) -> Run:
            out = work / "files"
            out.mkdir()
            argv = ["curl", "-q", "--noproxy", "*", "--parallel", "--parallel-max", str(JOBS), "--fail"]
            argv += ["-sS", "--remote-name-all", "--output-dir", str(out), *(f.url for f in p.files)]

            def check() -> None:
                check_files("curl", p.files, lambda f: out / f.name)

            return Run((tuple(argv),), tool_env(work), work, check=check)

        def start_up(work: Path) -> Run:
            return Run((envspec("--version"),), tool_env(work), work)

        return [
            Case("envspec-fetch", f"envspec fetch LOCK --store EMPTY --jobs {JOBS}", envspec_fetch),
            Case("curl", f"curl --parallel --parallel-max {JOBS}, the same URLs", curl),
            Case("start-up", "python -m envspec --version (envspec's start-up)", start_up, reference=True),
        ]

    def fetch(self) -> GroupResult:
        p = self.prepared()
        if shutil.which("curl") is None:
            raise BenchError("the fetch throughput table needs curl on PATH")
        cases = self.fetch_cases(p)
        self.log("Fetch throughput, synthetic")
        outcomes = measure(cases, self.reps, self.ws.folder("offline", "fetch-runs"), self.log)
        about = (
            f"Every file of the same lock ({len(p.files)} wheels, {p.size / 1e6:.0f} MB) downloaded from the"
            f" loopback mirror into an empty folder, {JOBS} at a time: `envspec fetch` (checks each file's"
            " size and sha256 while it streams, names it by its digest) against curl (the link's raw speed);"
            " envspec's start-up, which its time includes, for reference. MB/s = the files' bytes / median s."
        )
        comparison = Comparison(f"{cases[0].label} / {cases[1].label}", "envspec-fetch", "curl")
        result = GroupResult(
            "offline-fetch", "Fetch throughput, synthetic", about, cases, outcomes, [comparison]
        )
        medians = {c.key: statistics.median(outcomes[c.key].times) for c in cases}
        for case in cases[:2]:
            result.checks.append(f"{case.label}: {p.size / 1e6 / medians[case.key]:.0f} MB/s (median)")
        net = medians["envspec-fetch"] - medians["start-up"]
        if net > 0:
            result.checks.append(f"envspec fetch less its start-up: {p.size / 1e6 / net:.0f} MB/s")
        result.checks.append(f"every run of both left all {len(p.files)} files with the lock's sha256")
        result.warnings += [f"the mirror raised: {e}" for e in p.errors()[:3]]
        return result
