"""Groups ``synthetic`` and ``real``: ``envspec lock`` against the bare resolvers, cold and warm caches.

Every case locks the same requirements against the same index. The bare tools get the options envspec
gives them that change the answer (Python version, platform, wheels only, no extras in the output), so
that all of them lock the same target. "Cold" gives every run fresh caches (envspec's own through
``ENVSPEC_CACHE_DIR``, the tools' through ``--cache-dir``, anything else through ``XDG_CACHE_HOME``);
"warm" keeps one set of caches per case from its warm-up run on.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from benchmarks.common import BenchError, Pins
from benchmarks.engine import Case, Limits, Log, Outcome, Run, measure
from benchmarks.fixtures import Workspace, envspec, read_pylock, read_requirements, spec_text, tool_env
from benchmarks.network import RealSet, default_index, wheel_volume
from benchmarks.report import Comparison, GroupResult

UV_GOAL = 1.2
PIP_TOOLS_GOAL = 1.05
REAL_PYTHON = "3.11"
REAL_TARGET = "linux-x86_64"
TEMPERATURES = ("cold", "warm")

Maker = Callable[[Path], Run]


def uv_compile(ws: Workspace, index: str, requirements_in: Path, caches: Path | None, python: str) -> Maker:
    """Bare ``uv pip compile --generate-hashes``; ``caches`` None: fresh caches in every run's folder."""

    def make(work: Path) -> Run:
        home, out = caches or work, work / "requirements.txt"
        argv: tuple[str, ...] = (
            ws.uv,
            "pip",
            "compile",
            "--generate-hashes",
            "--no-config",
            "--quiet",
            "--no-header",
        )
        argv += ("--no-annotate", "--strip-extras", "--only-binary", ":all:", "--index-url", index)
        argv += ("--python-version", python, "--python-platform", ws.uv_platform)
        argv += ("--cache-dir", str(home / "uv-cache"), "--output-file", str(out), str(requirements_in))
        return Run((argv,), tool_env(home), work, out)

    return make


# what any `envspec lock` imports before it can resolve: the floor under its time, with nothing done
LOCK_IMPORTS = "import envspec.lockcmd, envspec.lock.build, envspec.lock.render"


def floor(uv: Maker) -> Maker:
    """The floor under ``envspec lock --resolver uv``: a Python that imports what the lock needs, then
    the bare uv run ``uv`` makes (same caches). envspec's own work is what it takes beyond this."""

    def make(work: Path) -> Run:
        run = uv(work)
        return dataclasses.replace(run, steps=((sys.executable, "-c", LOCK_IMPORTS), *run.steps))

    return make


def floor_cases(temp: str, uv: Maker) -> tuple[Case, list[Comparison]]:
    """The floor case of one temperature and its two ratios (no goal: they explain the others)."""
    label = f"*floor:* envspec's imports, then bare uv, {temp}"
    case = Case(f"floor-{temp}", label, floor(uv), read_requirements)
    return case, [
        Comparison(f"floor / bare uv --generate-hashes, {temp}", f"floor-{temp}", f"uv-{temp}"),
        Comparison(f"envspec uv / floor, {temp}", f"envspec-uv-{temp}", f"floor-{temp}"),
    ]


def pip_compile(index: str, requirements_in: Path, caches: Path | None) -> Maker:
    """Bare ``pip-compile`` without hashes (the peer the goal names), with pip's cache beside its own."""

    def make(work: Path) -> Run:
        home, out = caches or work, work / "requirements.txt"
        argv: tuple[str, ...] = (
            sys.executable,
            "-m",
            "piptools",
            "compile",
            "--quiet",
            "--no-header",
            "--no-annotate",
        )
        argv += ("--strip-extras", "--index-url", index, "--cache-dir", str(home / "piptools-cache"))
        argv += ("--output-file", str(out), str(requirements_in))
        return Run((argv,), tool_env(home, {"PIP_CACHE_DIR": str(home / "pip-cache")}), work, out)

    return make


def envspec_lock(spec: Path, resolver: str, caches: Path | None) -> Maker:
    """``envspec lock`` into a new file in every run, so that every run resolves."""

    def make(work: Path) -> Run:
        home, out = caches or work, work / "pylock.toml"
        return Run((envspec("lock", spec, "-o", out, "--resolver", resolver),), tool_env(home), work, out)

    return make


def lock_checks(
    cases: Sequence[Case],
    outcomes: Mapping[str, Outcome],
    hash_pairs: Sequence[tuple[str, str]],
    expected_pins: int | None = None,
) -> tuple[list[str], list[str]]:
    """Same pins from every locker, envspec's hashes among the bare tool's, every run like the first."""
    labels = {c.key: c.label for c in cases}
    locked = {c.key: outcomes[c.key].pins for c in cases if outcomes[c.key].pins is not None}
    checks: list[str] = []
    warnings: list[str] = []
    names = sorted({n for pins in locked.values() if pins for n in pins})
    for name in names:
        versions = {key: (pins or {}).get(name, "-") for key, pins in locked.items()}
        if len(set(versions.values())) > 1:
            warnings.append(f"{name} differs: " + ", ".join(f"{labels[k]} {v}" for k, v in versions.items()))
    counts = {len(pins or {}) for pins in locked.values()}
    if not warnings:
        checks.append(f"all {len(locked)} lockers locked the same {max(counts, default=0)} pins")
    if expected_pins is not None and counts != {expected_pins}:
        warnings.append(f"expected {expected_pins} pins, the lockers gave {sorted(counts)}")
    problems = 0
    for ours, theirs in hash_pairs:
        mine, bare = outcomes[ours].hashes or {}, outcomes[theirs].hashes or {}
        for name, digests in sorted(mine.items()):
            if not digests or not digests <= bare.get(name, frozenset()):
                problems += 1
                warnings.append(f"{labels[ours]}: {name} has a sha256 that {labels[theirs]} did not list")
    if hash_pairs and not problems:
        checks.append("every sha256 in envspec's locks is among the bare uv's `--hash` values for that pin")
    unstable = [labels[k] for k, o in outcomes.items() if o.inconsistent_runs]
    if unstable:
        warnings.append("runs gave other pins or hashes than the first run: " + ", ".join(unstable))
    else:
        checks.append("every run of each case gave the same pins and hashes as its first run")
    return checks, warnings


def synthetic(ws: Workspace, size: int, reps: int, log: Log) -> GroupResult:
    served = ws.graph(size)
    warm = ws.folder(f"synthetic-{size}", "warm")
    cases: list[Case] = []
    explained: list[Comparison] = []
    for temp in TEMPERATURES:

        def caches(key: str, temp: str = temp) -> Path | None:
            return warm / key if temp == "warm" else None

        uv = uv_compile(ws, served.url, served.requirements_in, caches("uv"), ws.python)
        floor_case, floor_ratios = floor_cases(
            temp, uv_compile(ws, served.url, served.requirements_in, caches("floor"), ws.python)
        )
        explained += floor_ratios
        cases += [
            Case(f"uv-{temp}", f"bare uv pip compile --generate-hashes, {temp}", uv, read_requirements),
            Case(
                f"envspec-uv-{temp}",
                f"envspec lock --resolver uv, {temp}",
                envspec_lock(served.spec, "uv", caches("envspec-uv")),
                read_pylock,
            ),
            floor_case,
            Case(
                f"pip-compile-{temp}",
                f"bare pip-compile (no hashes), {temp}",
                pip_compile(served.url, served.requirements_in, caches("pip-compile")),
                read_requirements,
            ),
            Case(
                f"envspec-pip-tools-{temp}",
                f"envspec lock --resolver pip-tools, {temp}",
                envspec_lock(served.spec, "pip-tools", caches("envspec-pip-tools")),
                read_pylock,
            ),
        ]
    log(f"synthetic graph of {size}")
    outcomes = measure(cases, reps, ws.folder(f"synthetic-{size}", "runs"), log)
    comparisons = [
        comparison
        for temp in TEMPERATURES
        for comparison in (
            Comparison(
                f"envspec uv / bare uv --generate-hashes, {temp}", f"envspec-uv-{temp}", f"uv-{temp}", UV_GOAL
            ),
            Comparison(
                f"envspec pip-tools / bare pip-compile, {temp}",
                f"envspec-pip-tools-{temp}",
                f"pip-compile-{temp}",
                PIP_TOOLS_GOAL,
            ),
        )
    ] + explained
    pairs = [(f"envspec-{r}-{t}", f"uv-{t}") for t in TEMPERATURES for r in ("uv", "pip-tools")]
    checks, warnings = lock_checks(cases, outcomes, pairs, expected_pins=size)
    g = served.graph
    about = (
        f"{len(g.projects)} projects in 5 layers, {g.files} wheels ({g.multi_version} projects with 3"
        f" releases, {g.platform_only} with platform wheels only, one conflict that needs backtracking)"
        f" on one loopback mirror; the spec requires the {len(g.top)} top-layer projects."
    )
    return GroupResult(
        f"synthetic-{size}",
        f"Synthetic graph, {size} projects",
        about,
        cases,
        outcomes,
        comparisons,
        [],
        checks,
        warnings,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedSet:
    index: str
    home: Path
    requirements_in: Path
    spec: Path
    pins: Pins
    volume: int | None  # bytes of the pins' target wheels; None: unknown
    largest: list[tuple[str, int]]


def prepare_real(ws: Workspace, rs: RealSet, log: Log) -> PreparedSet:
    """The set's requirements file and spec, a reference lock by bare uv (set-up) and its wheels' size."""
    index = default_index()
    home = ws.folder("real", rs.key)
    requirements_in = home / "requirements.in"
    requirements_in.write_text("".join(f"{line}\n" for line in rs.requirements), encoding="utf-8")
    spec = home / "spec.toml"
    spec.write_text(spec_text(f"bench-{rs.key}", REAL_PYTHON, REAL_TARGET, rs.requirements), encoding="utf-8")
    log(f"real set {rs.key}: a reference lock with bare uv (set-up)")
    reference = uv_compile(ws, index, requirements_in, home / "setup-caches", REAL_PYTHON)(home)
    ws.setup_run(reference.steps[0], f"bare uv on {rs.key}")
    assert reference.output is not None  # noqa: S101 - uv_compile always names its output
    pins = read_requirements(reference.output)[0]
    if not pins:
        raise BenchError(f"bare uv locked nothing for {rs.key}")
    volume, largest = wheel_volume(index, pins, REAL_PYTHON, REAL_TARGET)
    return PreparedSet(index, home, requirements_in, spec, pins, volume, largest)


def too_big(prepared: PreparedSet, cap_mb: int, router_whole_files: bool) -> str | None:
    """Why envspec must not lock this set here (it would download more than the cap), or None."""
    volume = prepared.volume
    if not router_whole_files or (volume is not None and volume <= cap_mb * 1_000_000):
        return None
    heaviest = ", ".join(f"{n} {b / 1e6:.0f} MB" for n, b in prepared.largest[:4])
    size = "an unknown amount" if volume is None else f"about {volume / 1e6:,.0f} MB"
    return (
        "the index serves no PEP 658 metadata and envspec's router downloads every wheel it serves to the"
        f" resolver in full, which here would be {size} per lock ({heaviest}), over the --max-download-mb"
        f" cap of {cap_mb} MB"
    )


def real(
    ws: Workspace, rs: RealSet, reps: int, log: Log, cap_mb: int, router_whole_files: bool
) -> GroupResult:
    """One real requirement set against the default index; envspec is left out where it would download
    more than ``cap_mb`` megabytes (see ``benchmarks.network``)."""
    prepared = prepare_real(ws, rs, log)
    index, home, requirements_in, spec = (
        prepared.index,
        prepared.home,
        prepared.requirements_in,
        prepared.spec,
    )
    pins, volume = prepared.pins, prepared.volume
    reason = too_big(prepared, cap_mb, router_whole_files)
    with_envspec = reason is None
    warnings = [] if reason is None else [f"envspec lock not measured: {reason}"]
    cases: list[Case] = []
    explained: list[Comparison] = []
    for temp in TEMPERATURES:
        warm = home / "warm" if temp == "warm" else None
        cases.append(
            Case(
                f"uv-{temp}",
                f"bare uv pip compile --generate-hashes, {temp}",
                uv_compile(ws, index, requirements_in, warm and warm / "uv", REAL_PYTHON),
                read_requirements,
            )
        )
        if with_envspec:
            cases.append(
                Case(
                    f"envspec-uv-{temp}",
                    f"envspec lock --resolver uv, {temp}",
                    envspec_lock(spec, "uv", warm and warm / "envspec"),
                    read_pylock,
                )
            )
            floor_case, floor_ratios = floor_cases(
                temp, uv_compile(ws, index, requirements_in, warm and warm / "floor", REAL_PYTHON)
            )
            cases.append(floor_case)
            explained += floor_ratios
    log(f"real set {rs.key}")
    limits = Limits(max_download=cap_mb * 1_000_000)
    outcomes = measure(cases, reps, ws.folder("real", rs.key, "runs"), log, limits)
    comparisons = (
        [
            Comparison(f"envspec uv / bare uv --generate-hashes, {t}", f"envspec-uv-{t}", f"uv-{t}", UV_GOAL)
            for t in TEMPERATURES
        ]
        + explained
        if with_envspec
        else []
    )
    pairs = [(f"envspec-uv-{t}", f"uv-{t}") for t in TEMPERATURES] if with_envspec else []
    checks, more = lock_checks(cases, outcomes, pairs)
    checks.append(
        "a probe on a loopback mirror without PEP 658 metadata found that envspec's router "
        + (
            "downloads whole wheels"
            if router_whole_files
            else "reads a wheel's metadata without downloading it"
        )
    )
    if volume is not None:
        checks.append(
            f"the target wheels of these pins add up to {volume / 1e6:,.0f} MB (none were installed)"
        )
    about = (
        f"`benchmarks/requirements/{rs.path.name}`, from {rs.source}: {len(rs.requirements)}"
        f" requirement{'s' if len(rs.requirements) != 1 else ''},"
        f" {len(pins)} pins, locked for Python {REAL_PYTHON} on {REAL_TARGET} against the default index"
        " (pip's built-in one, read from pip at run time)."
    )
    return GroupResult(
        f"real-{rs.key}",
        f"Real set: {rs.title}",
        about,
        cases,
        outcomes,
        comparisons,
        [],
        checks,
        warnings + more,
        network=True,
    )
