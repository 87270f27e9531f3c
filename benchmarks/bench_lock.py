"""What ``envspec lock`` costs on top of the resolvers it runs, measured on one loopback mirror.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_lock --reps 5 --json /tmp/bench.json

The benchmark generates a synthetic package graph (about 80 projects in layers, each depending on 2-3
projects of the next layer, some with several versions, a version conflict that needs backtracking
and a few projects with platform wheels only), builds its wheels with ``tests.support.wheels`` and
serves them with ``tests.support.index`` on 127.0.0.1. Every case then locks the same requirements
against that one mirror, with pip and uv configuration switched off (``isolated_env``), so that
nothing but 127.0.0.1 is ever contacted:

- bare ``pip-compile --generate-hashes`` and bare ``uv pip compile --generate-hashes``, each with a
  fresh cache per run (the reference a user would otherwise run by hand);
- ``envspec lock --resolver pip-tools`` and ``envspec lock --resolver uv`` into a fresh output file
  per run (so that each run resolves);
- the no-op re-lock (the lock is already fresh) and, for reference, interpreter start-up
  (``python -c pass``, ``python -m envspec --version``) and both bare tools without hashes.

Every case is run once to warm up and then ``--reps`` times; the cases are interleaved within a rep,
in an order that rotates from rep to rep, so that a burst of load on a shared machine touches every
case rather than one. The pins of every run are parsed and compared across all four lockers.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from benchmarks.common import (
    PLATFORM_MACHINES,
    REPO,
    RUN_TIMEOUT_S,
    SEED,
    BenchError,
    Graph,
    Hashes,
    Pins,
    build_graph,
    parse_pylock,
    parse_requirements_txt,
    summary,
    tool_versions,
    write_spec,
)
from envspec.lock.resolvers import host_platform
from envspec.platforms import UV_TARGETS
from tests.support.index import serve_index
from tests.support.isolation import isolated_env, uv_executable

NOOP_GOAL_S = 0.3
OVERHEAD_GOAL = 1.10

# --------------------------------------------------------------------------------------------------
# cases


@dataclasses.dataclass(frozen=True, slots=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    output: Path | None  # the file whose pins are checked, if any
    expect_stderr: str | None = None  # text that must appear on stderr (the no-op says "up to date")


@dataclasses.dataclass(frozen=True, slots=True)
class Case:
    key: str
    label: str
    make: Callable[[Path], Invocation]
    output_format: str | None = None  # "requirements" or "pylock"
    reference: bool = False


@dataclasses.dataclass(slots=True)
class Outcome:
    times: list[float] = dataclasses.field(default_factory=list)
    pins: Pins | None = None
    hashes: Hashes | None = None
    inconsistent_runs: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Setup:
    mirror_url: str
    spec: Path
    requirements_in: Path
    noop_lock: Path
    python: str
    uv_platform: str
    uv: str


def make_cases(s: Setup) -> list[Case]:
    py = sys.executable

    def pip_compile(hashes: bool) -> Callable[[Path], Invocation]:
        def make(work: Path) -> Invocation:
            out = work / "requirements.txt"
            argv = [py, "-m", "piptools", "compile", *(["--generate-hashes"] if hashes else [])]
            argv += ["--quiet", "--no-header", "--no-annotate", "--strip-extras"]
            argv += ["--index-url", s.mirror_url, "--cache-dir", str(work / "piptools-cache")]
            argv += ["--output-file", str(out), str(s.requirements_in)]
            env = {**isolated_env(), "PIP_CACHE_DIR": str(work / "pip-cache")}
            return Invocation(argv, env, work, out)

        return make

    def uv_compile(hashes: bool) -> Callable[[Path], Invocation]:
        def make(work: Path) -> Invocation:
            out = work / "requirements.txt"
            argv = [s.uv, "pip", "compile", *(["--generate-hashes"] if hashes else [])]
            argv += ["--no-config", "--quiet", "--no-header", "--no-annotate"]
            argv += ["--index-url", s.mirror_url, "--python-version", s.python]
            argv += ["--python-platform", s.uv_platform, "--cache-dir", str(work / "uv-cache")]
            argv += ["--output-file", str(out), str(s.requirements_in)]
            return Invocation(argv, isolated_env(), work, out)

        return make

    def envspec_lock(resolver: str) -> Callable[[Path], Invocation]:
        def make(work: Path) -> Invocation:
            out = work / "pylock.toml"
            argv = [py, "-m", "envspec", "lock", str(s.spec), "-o", str(out), "--resolver", resolver]
            return Invocation(argv, isolated_env(), work, out)

        return make

    def noop(work: Path) -> Invocation:
        argv = [py, "-m", "envspec", "lock", str(s.spec), "-o", str(s.noop_lock), "--resolver", "uv"]
        return Invocation(argv, isolated_env(), work, None, expect_stderr="up to date")

    def command(*argv: str) -> Callable[[Path], Invocation]:
        return lambda work: Invocation(list(argv), isolated_env(), work, None)

    return [
        Case("pip-compile", "bare pip-compile --generate-hashes", pip_compile(True), "requirements"),
        Case("uv", "bare uv pip compile --generate-hashes", uv_compile(True), "requirements"),
        Case("envspec-pip-tools", "envspec lock --resolver pip-tools", envspec_lock("pip-tools"), "pylock"),
        Case("envspec-uv", "envspec lock --resolver uv", envspec_lock("uv"), "pylock"),
        Case("noop", "envspec lock, lock already fresh (no-op)", noop),
        Case(
            "pip-compile-nohash",
            "bare pip-compile, no hashes",
            pip_compile(False),
            "requirements",
            reference=True,
        ),
        Case(
            "uv-nohash", "bare uv pip compile, no hashes", uv_compile(False), "requirements", reference=True
        ),
        Case("python", "python -c pass", command(py, "-c", "pass"), reference=True),
        Case(
            "envspec-version",
            "python -m envspec --version",
            command(py, "-m", "envspec", "--version"),
            reference=True,
        ),
    ]


def run_once(case: Case, scratch: Path, outcome: Outcome, *, record: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"{case.key}-", dir=scratch))
    try:
        inv = case.make(work)
        start = time.perf_counter()
        result = subprocess.run(
            inv.argv,
            cwd=inv.cwd,
            env=inv.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise BenchError(
                f"{case.label} failed (exit {result.returncode}): {shlex.join(inv.argv)}\n"
                + (result.stderr + result.stdout)[-3000:]
            )
        if inv.expect_stderr is not None and inv.expect_stderr not in result.stderr:
            raise BenchError(f"{case.label}: expected {inv.expect_stderr!r} on stderr, got {result.stderr!r}")
        if inv.output is not None:
            text = inv.output.read_text(encoding="utf-8")
            try:
                parsed = (
                    parse_pylock(text) if case.output_format == "pylock" else parse_requirements_txt(text)
                )
            except (ValueError, KeyError, tomllib.TOMLDecodeError) as exc:
                raise BenchError(
                    f"{case.label} wrote {inv.output.name}, which cannot be read: {exc}"
                ) from None
            if outcome.pins is None:
                outcome.pins, outcome.hashes = parsed
            elif parsed != (outcome.pins, outcome.hashes):
                outcome.inconsistent_runs += 1
        if record:
            outcome.times.append(elapsed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# where envspec's time goes: the phases build_lock reports, timed in a child process

PHASES = (
    ("validate", "load the compatibility data, validate the spec"),
    ("prepare", "plan, resolver --version, start the router"),
    ("resolve", "the resolver subprocess, through the router"),
    ("artifacts", "choose and hash each pin's files from the index pages"),
    ("render", "render the lockfile"),
)


def breakdown(spec: Path, resolver: str) -> dict[str, float]:
    """Seconds per phase of one lock in this process, envspec's modules imported beforehand.

    The benchmark runs it in a child process (``--phases-of``), never next to the mirror's threads:
    in one process the mirror and envspec's router would compete for one GIL.
    """
    from envspec.compat import load_compat
    from envspec.lint import LintContext
    from envspec.lock.build import LockOptions, build_lock
    from envspec.lock.render import render_lock
    from envspec.validate import validate_file

    marks: list[tuple[str, float]] = []

    def progress(message: str) -> None:
        marks.append((message.split(" ", 1)[0], time.perf_counter()))

    start = time.perf_counter()
    compat = load_compat()
    report = validate_file(spec, compat, LintContext(cores=os.cpu_count()))
    if report.loaded is None:
        raise BenchError(f"the benchmark's spec is invalid: {report}")
    validated = time.perf_counter()
    lock = build_lock(report.loaded, compat, LockOptions(resolver=resolver), progress=progress)
    built = time.perf_counter()
    render_lock(lock)
    rendered = time.perf_counter()
    seen = dict(marks)
    if set(seen) != {"resolving", "hashing"}:
        raise BenchError(f"build_lock reported phases {sorted(seen)}, not 'resolving' and 'hashing'")
    return {
        "validate": validated - start,
        "prepare": seen["resolving"] - validated,
        "resolve": seen["hashing"] - seen["resolving"],
        "artifacts": built - seen["hashing"],
        "render": rendered - built,
    }


def measure_breakdown(spec: Path, reps: int, cwd: Path) -> dict[str, dict[str, float]]:
    """The median of each phase over ``reps`` locks, each in a fresh child process, per resolver."""
    result: dict[str, dict[str, float]] = {}
    for resolver in ("pip-tools", "uv"):
        runs: list[dict[str, float]] = []
        for _ in range(reps):
            argv = [
                sys.executable,
                "-m",
                "benchmarks.bench_lock",
                "--phases-of",
                str(spec),
                "--resolver",
                resolver,
            ]
            done = subprocess.run(
                argv,
                cwd=cwd,
                env={**isolated_env(), "PYTHONPATH": str(REPO)},
                capture_output=True,
                text=True,
                check=False,
                timeout=RUN_TIMEOUT_S,
            )
            if done.returncode != 0:
                raise BenchError(f"{shlex.join(argv)} failed:\n{done.stderr[-3000:]}")
            runs.append({k: float(v) for k, v in json.loads(done.stdout).items()})
        result[resolver] = {phase: statistics.median(r[phase] for r in runs) for phase, _ in PHASES}
    return result


# --------------------------------------------------------------------------------------------------
# checks and report


def pin_differences(outcomes: Mapping[str, Outcome], labels: Mapping[str, str]) -> list[str]:
    """One line per project whose pin is not the same in every locker's output."""
    locked = {key: o.pins for key, o in outcomes.items() if o.pins is not None}
    names = sorted({n for pins in locked.values() for n in pins})
    lines: list[str] = []
    for name in names:
        versions = {key: pins.get(name, "-") for key, pins in locked.items()}
        if len(set(versions.values())) > 1:
            lines.append(f"{name}: " + ", ".join(f"{labels[k]} {v}" for k, v in versions.items()))
    return lines


def hash_problems(outcomes: Mapping[str, Outcome]) -> list[str]:
    """envspec lists per pin only the files the target can install; each must carry a sha256 that the
    bare tool of the same resolver also listed for that pin."""
    problems: list[str] = []
    for ours, theirs in (("envspec-pip-tools", "pip-compile"), ("envspec-uv", "uv")):
        mine, bare = outcomes[ours].hashes or {}, outcomes[theirs].hashes or {}
        for name, digests in sorted(mine.items()):
            if not digests:
                problems.append(f"{ours}: {name} has no hash")
            elif not digests <= bare.get(name, frozenset()):
                problems.append(f"{ours}: {name} has a sha256 that bare {theirs} did not list")
    return problems


def ratios(outcomes: Mapping[str, Outcome], ours: str, theirs: str) -> dict[str, float]:
    """Ratio of the medians, of the minimums, and the median of the per-rep ratios (same rep, close in
    time, so load that hits both cancels out)."""
    a, b = outcomes[ours].times, outcomes[theirs].times
    return {
        "median": statistics.median(a) / statistics.median(b),
        "min": min(a) / min(b),
        "paired-median": statistics.median(x / y for x, y in zip(a, b, strict=True)),
    }


LOCKERS = ("pip-compile", "uv", "envspec-pip-tools", "envspec-uv")
RATIO_ROWS = (
    ("envspec pip-tools / bare pip-compile", "envspec-pip-tools/pip-compile"),
    ("envspec uv / bare uv", "envspec-uv/uv"),
)


def render_table(
    cases: Sequence[Case],
    outcomes: Mapping[str, Outcome],
    ratio_table: Mapping[str, Mapping[str, float]],
    phases: Mapping[str, Mapping[str, float]],
) -> str:
    phase_labels = [f"{phase}: {what}" for phase, what in PHASES]
    rest_label = "rest: start-up, imports, CLI, write (CLI median - phases)"
    width = max(len(label) for label in [*(c.label for c in cases), *phase_labels, rest_label]) + 2
    lines = [f"{'case':<{width}}{'median s':>10}{'min s':>10}{'max s':>10}"]
    in_reference = False
    for case in cases:
        if case.reference and not in_reference:
            lines.append("reference:")
            in_reference = True
        s = summary(outcomes[case.key].times)
        lines.append(f"{case.label:<{width}}{s['median']:10.3f}{s['min']:10.3f}{s['max']:10.3f}")
    lines += ["", f"{'ratio':<{width}}{'median':>10}{'min':>10}{'paired':>10}   goal <= {OVERHEAD_GOAL:.2f}"]
    for label, key in RATIO_ROWS:
        r = ratio_table[key]
        verdict = "met" if r["median"] <= OVERHEAD_GOAL else "NOT met"
        lines.append(
            f"{label:<{width}}{r['median']:10.2f}{r['min']:10.2f}{r['paired-median']:10.2f}   {verdict}"
        )
    noop = statistics.median(outcomes["noop"].times)
    verdict = "met" if noop <= NOOP_GOAL_S else "NOT met"
    lines.append(
        f"{'no-op re-lock, median s':<{width}}{noop:10.3f}{'':20}   goal <= {NOOP_GOAL_S} s: {verdict}"
    )
    lines += ["", f"{'envspec lock phases, median s (separate runs)':<{width}}{'pip-tools':>10}{'uv':>10}"]
    for (phase, _), label in zip(PHASES, phase_labels, strict=True):
        lines.append(f"{label:<{width}}{phases['pip-tools'][phase]:10.3f}{phases['uv'][phase]:10.3f}")
    rest = [
        statistics.median(outcomes[key].times) - sum(phases[resolver].values())
        for key, resolver in (("envspec-pip-tools", "pip-tools"), ("envspec-uv", "uv"))
    ]
    lines.append(f"{rest_label:<{width}}{rest[0]:10.3f}{rest[1]:10.3f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# main


@dataclasses.dataclass(slots=True)
class Measured:
    graph: Graph
    cases: list[Case]
    outcomes: dict[str, Outcome]
    phases: dict[str, dict[str, float]]
    versions: dict[str, str]
    mirror_requests: int


def measure(reps: int, python: str, target: str) -> Measured:
    """Build the graph, serve it, run every case (warm-up + reps), then the phase breakdown."""
    uv = uv_executable()
    with tempfile.TemporaryDirectory(prefix="envspec-bench-") as tmp:
        root, scratch = Path(tmp) / "index", Path(tmp) / "runs"
        scratch.mkdir()
        graph = build_graph(root, python, PLATFORM_MACHINES[target])
        with serve_index(root) as index:
            spec = Path(tmp) / "bench.toml"
            write_spec(spec, index.url, python, target, graph.top)
            requirements_in = Path(tmp) / "requirements.in"
            requirements_in.write_text("".join(f"{n}\n" for n in graph.top), encoding="utf-8")
            setup = Setup(
                mirror_url=index.url,
                spec=spec,
                requirements_in=requirements_in,
                noop_lock=Path(tmp) / "pylock.noop.toml",
                python=python,
                uv_platform=UV_TARGETS[target],
                uv=uv,
            )
            cases = make_cases(setup)
            outcomes = {c.key: Outcome() for c in cases}
            versions = tool_versions(uv)
            print(
                f"graph: {len(graph.projects)} projects, {graph.files} wheels, {graph.multi_version} with"
                f" several versions, {graph.platform_only} with platform wheels only; mirror {index.url}",
                file=sys.stderr,
            )
            # the no-op case starts from a fresh lock
            run_envspec_lock(spec, setup.noop_lock, "uv", Path(tmp))
            for case in cases:
                print(f"warm-up: {case.label}", file=sys.stderr)
                run_once(case, scratch, outcomes[case.key], record=False)
            for rep in range(reps):
                print(f"rep {rep + 1}/{reps}", file=sys.stderr)
                shift = rep % len(cases)
                for case in cases[shift:] + cases[:shift]:
                    run_once(case, scratch, outcomes[case.key], record=True)
            print("phase breakdown", file=sys.stderr)
            phases = measure_breakdown(spec, reps, scratch)
            if index.errors:
                print(f"warning: the index server raised: {index.errors[:3]}", file=sys.stderr)
            requests = len(index.requests)
    return Measured(graph, cases, outcomes, phases, versions, requests)


def run_envspec_lock(spec: Path, output: Path, resolver: str, cwd: Path) -> None:
    argv = [sys.executable, "-m", "envspec", "lock", str(spec), "-o", str(output), "--resolver", resolver]
    done = subprocess.run(
        argv, cwd=cwd, env=isolated_env(), capture_output=True, text=True, check=False, timeout=RUN_TIMEOUT_S
    )
    if done.returncode != 0:
        raise BenchError(f"{shlex.join(argv)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def build_report(
    m: Measured, argv: Sequence[str], started: datetime.datetime, load: Sequence[list[float]]
) -> dict[str, object]:
    labels = {c.key: c.label for c in m.cases}
    return {
        "date": started.isoformat(timespec="seconds"),
        "command": shlex.join([".venv/bin/python", "-m", "benchmarks.bench_lock", *argv]),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load-average-before": load[0],
            "load-average-after": load[1],
            "note": "shared and noisy: compare ratios, not absolute seconds",
        },
        "versions": m.versions,
        "graph": {
            "projects": len(m.graph.projects),
            "wheels": m.graph.files,
            "multi-version": m.graph.multi_version,
            "platform-only": m.graph.platform_only,
            "top": list(m.graph.top),
            "seed": SEED,
        },
        "cases": {
            c.key: {"label": c.label, "reference": c.reference, "times": m.outcomes[c.key].times}
            | summary(m.outcomes[c.key].times)
            for c in m.cases
        },
        "ratios": {key: ratios(m.outcomes, *key.split("/")) for _, key in RATIO_ROWS},
        "phases": m.phases,
        "goals": {"overhead-ratio": OVERHEAD_GOAL, "noop-seconds": NOOP_GOAL_S},
        "pins": {key: m.outcomes[key].pins for key in LOCKERS},
        "pin-differences": pin_differences({k: m.outcomes[k] for k in LOCKERS}, labels),
        "hash-problems": hash_problems(m.outcomes),
        "inconsistent-runs": {k: o.inconsistent_runs for k, o in m.outcomes.items() if o.inconsistent_runs},
        "mirror": {"requests": m.mirror_requests},
    }


def print_report(m: Measured, reps: int, date: str, load: Sequence[list[float]]) -> None:
    print(
        f"\nenvspec lock benchmark, {date}: {reps} reps after 1 warm-up;"
        f" {len(m.graph.projects)} projects, {m.graph.files} wheels on one loopback mirror"
    )
    print(", ".join(f"{k} {v}" for k, v in m.versions.items()))
    print(
        f"NOTE: this machine is shared and noisy ({os.cpu_count()} CPUs, load average {load[0]} before,"
        f" {load[1]} after): absolute seconds vary between runs and machines; compare the ratios."
    )
    print()
    ratio_table = {key: ratios(m.outcomes, *key.split("/")) for _, key in RATIO_ROWS}
    print(render_table(m.cases, m.outcomes, ratio_table, m.phases))
    print()
    labels = {c.key: c.label for c in m.cases}
    differences = pin_differences({k: m.outcomes[k] for k in LOCKERS}, labels)
    if differences:
        print("WARNING: the bare tools and envspec do not lock the same pins:")
        for line in differences:
            print(f"  {line}")
    else:
        pins = m.outcomes["envspec-uv"].pins or {}
        print(f"pins: bare pip-compile, bare uv and envspec (both resolvers) lock the same {len(pins)} pins")
    for line in hash_problems(m.outcomes):
        print(f"WARNING: {line}")
    for key, outcome in m.outcomes.items():
        if outcome.inconsistent_runs:
            print(f"WARNING: {labels[key]} locked other pins or hashes in {outcome.inconsistent_runs} runs")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description="Time envspec lock against bare pip-compile and uv.")
    parser.add_argument("--reps", type=int, default=5, help="measured runs per case (default 5)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to PATH as JSON")
    parser.add_argument("--phases-of", type=Path, metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--resolver", default="uv", help=argparse.SUPPRESS)
    args = parser.parse_args(args_list)
    if args.phases_of is not None:  # the child process of measure_breakdown
        print(json.dumps(breakdown(args.phases_of, args.resolver)))
        return 0
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    target = host_platform()
    if target not in PLATFORM_MACHINES:
        print(f"this benchmark runs on Linux x86_64 or aarch64, not {platform.platform()}", file=sys.stderr)
        return 2
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    started = datetime.datetime.now(datetime.UTC)
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        measured = measure(args.reps, python, target)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    load_after = [round(x, 2) for x in os.getloadavg()]
    report = build_report(measured, args_list, started, (load_before, load_after))
    print_report(measured, args.reps, str(report["date"]), (load_before, load_after))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
