"""Groups ``fixed`` and ``emit``: the commands whose cost is start-up, reading and writing, not resolution.

Each is timed against ``python -c pass`` (the interpreter's own start-up) in the same run, and against
an absolute goal in seconds. These runs keep one envspec cache between runs, as a user re-locking has.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import REPO, BenchError
from benchmarks.engine import Case, Log, Run, measure
from benchmarks.fixtures import Workspace, envspec, read_pylock, tool_env
from benchmarks.report import Comparison, Deadline, GroupResult

FIXED_GOAL_S = 0.15
EMIT_GOAL_S = 0.2
FIXED_GRAPH = 200
EMIT_GRAPH = 500
EMITTED = ("bootstrap.sh", "environment.yml", "Dockerfile")
DEV_SPEC = REPO / "specs" / "dev.toml"


def command(
    argv: tuple[str, ...],
    caches: Path,
    check: Callable[[Path], None] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Callable[[Path], Run]:
    def make(work: Path) -> Run:
        env = tool_env(caches, extra_env)
        return Run((argv,), env, work, check=None if check is None else lambda: check(work))

    return make


def python_pass(caches: Path) -> Case:
    return Case("python", "python -c pass", command((sys.executable, "-c", "pass"), caches))


def envspec_version(caches: Path) -> Case:
    return Case(
        "version", "python -m envspec --version", command(envspec("--version"), caches), reference=True
    )


def unchanged(lock: Path) -> Callable[[Path], None]:
    """A check that ``lock`` still has the bytes and the modification time it had before the runs."""
    before = (lock.read_bytes(), lock.stat().st_mtime_ns)

    def check(work: Path) -> None:
        del work
        if (lock.read_bytes(), lock.stat().st_mtime_ns) != before:
            raise BenchError(
                f"a no-op run rewrote {lock.name}: the lock was not fresh, or the no-op is not one"
            )

    return check


def fixed(ws: Workspace, reps: int, log: Log) -> GroupResult:
    served = ws.graph(FIXED_GRAPH)
    lock = ws.lock(served.spec, f"fixed-{FIXED_GRAPH}")
    caches = ws.folder("fixed", "caches")
    cases = [
        python_pass(caches),
        envspec_version(caches),
        Case(
            "validate",
            "envspec validate specs/dev.toml, no cache (as a spec just edited)",
            command(envspec("validate", DEV_SPEC), caches, extra_env={"ENVSPEC_NO_CACHE": "1"}),
        ),
        Case(
            "validate-again",
            "envspec validate specs/dev.toml, validated clean before (cached)",
            command(envspec("validate", DEV_SPEC), caches),
        ),
        Case(
            "noop",
            f"envspec lock, lock already fresh (no-op), {FIXED_GRAPH} pins",
            command(envspec("lock", served.spec, "-o", lock, "--resolver", "uv"), caches, unchanged(lock)),
        ),
        Case(
            "check",
            f"envspec lock --check, fresh lock, {FIXED_GRAPH} pins",
            command(envspec("lock", served.spec, "-o", lock, "--check"), caches, unchanged(lock)),
        ),
    ]
    log("fixed costs")
    outcomes = measure(cases, reps, ws.folder("fixed", "runs"), log)
    comparisons = [
        Comparison(f"{label} / python -c pass", key, "python")
        for key, label in (
            ("noop", "no-op re-lock"),
            ("check", "lock --check"),
            ("validate", "validate"),
            ("validate-again", "validate, cached"),
        )
    ]
    deadlines = [
        Deadline("no-op re-lock", "noop", FIXED_GOAL_S),
        Deadline("lock --check", "check", FIXED_GOAL_S),
        Deadline("validate one spec (no cache)", "validate", FIXED_GOAL_S),
        Deadline("validate one spec again (cached)", "validate-again", FIXED_GOAL_S),
    ]
    about = (
        f"The no-op and `--check` run on a fresh lock of the {FIXED_GRAPH}-project graph (its mirror"
        " running); `validate` checks the repository's `specs/dev.toml`, once with no cache (every"
        " run in full, as after an edit) and once with the cache its warm-up filled (the same bytes"
        " validated clean before). No run may rewrite the lock."
    )
    checks = ["the lock's bytes and modification time were the same after every run: no run re-locked"]
    return GroupResult("fixed", "Fixed costs", about, cases, outcomes, comparisons, deadlines, checks)


def emitted_all(work: Path) -> None:
    missing = [name for name in EMITTED if not (work / "out" / name).is_file()]
    if missing:
        raise BenchError(f"envspec emit --target all wrote no {', '.join(missing)}")


def emit(ws: Workspace, reps: int, log: Log) -> GroupResult:
    served = ws.graph(EMIT_GRAPH)
    lock = ws.lock(served.spec, f"emit-{EMIT_GRAPH}")
    pins = len(read_pylock(lock)[0])
    if pins != EMIT_GRAPH:
        raise BenchError(f"the lock of the {EMIT_GRAPH}-project graph has {pins} pins")
    caches = ws.folder("emit", "caches")

    def make(work: Path) -> Run:
        argv = envspec("emit", "--lock", lock, "--target", "all", "-o", work / "out")
        return Run((argv,), tool_env(caches), work, check=lambda: emitted_all(work))

    cases = [
        python_pass(caches),
        envspec_version(caches),
        Case("emit", f"envspec emit --target all, {pins}-pin lock", make),
    ]
    log("emit")
    outcomes = measure(cases, reps, ws.folder("emit", "runs"), log)
    about = (
        f"`envspec emit --lock LOCK --target all -o NEW_FOLDER` on a lock of {pins} pins (the"
        f" {EMIT_GRAPH}-project graph locked once by envspec with uv), into a new folder every run."
    )
    return GroupResult(
        "emit",
        "Emit",
        about,
        cases,
        outcomes,
        [Comparison("emit / python -c pass", "emit", "python")],
        [Deadline(f"emit --target all, {pins} pins", "emit", EMIT_GOAL_S)],
        [f"every run wrote {', '.join(EMITTED)}"],
    )
