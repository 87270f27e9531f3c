"""Group ``profile``: where one ``envspec lock --resolver uv`` spends its time, by function, under cProfile.

The lock runs in a child process (``python -m benchmarks.profile_lock SPEC``) that calls
``envspec.lock.build.build_lock`` in-process, never next to the loopback mirror (one GIL for both
would distort it). Two profiles come back: the main thread's in wall time (what the user waits for,
the resolver subprocess included), and the other threads' (the router's handlers, downloaders) in
CPU time, added up over the threads, so that a handler idling on a kept-alive connection counts
nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from benchmarks.common import REPO, RUN_TIMEOUT_S, BenchError
from benchmarks.engine import Log
from benchmarks.fixtures import Workspace, tool_env
from benchmarks.report import ProfileResult, ProfileRow

PROFILE_GRAPH = 200
TOP = 25


def _where(filename: str, line: int, function: str) -> str:
    """``path:line(function)`` with the path shortened to the package it belongs to."""
    if filename == "~":
        return function
    path = filename.replace("\\", "/")
    for anchor in ("/site-packages/", f"{REPO.as_posix()}/", "/lib/python3."):
        if anchor in path:
            path = path.split(anchor, 1)[1]
            if anchor == "/lib/python3.":
                path = "stdlib/" + path.split("/", 1)[-1]
            break
    return f"{path}:{line}({function})"


def profile_lock(spec: Path, top: int) -> dict[str, object]:
    """Lock ``spec`` with uv in this process under cProfile; the ``top`` functions by cumulative time."""
    from envspec.compat import load_compat
    from envspec.lint import LintContext
    from envspec.lock.build import LockOptions, build_lock
    from envspec.validate import validate_file

    compat = load_compat()
    report = validate_file(spec, compat, LintContext(cores=os.cpu_count()))
    if report.loaded is None:
        raise BenchError(f"the profiled spec is invalid: {report}")
    per_thread: list[cProfile.Profile] = []

    def start_thread_profiler(frame: FrameType, event: str, arg: object) -> None:
        del frame, event, arg
        profiler = cProfile.Profile(time.thread_time)
        per_thread.append(profiler)
        profiler.enable()  # replaces this hook for the rest of the thread

    main = cProfile.Profile(time.perf_counter)
    threading.setprofile(start_thread_profiler)
    start = time.perf_counter()
    main.enable()
    try:
        build_lock(report.loaded, compat, LockOptions(resolver="uv"))
    finally:
        main.disable()
        threading.setprofile(None)
    wall = time.perf_counter() - start
    threads = pstats.Stats(per_thread[0]) if per_thread else None
    for profiler in per_thread[1:]:
        assert threads is not None  # noqa: S101 - set just above
        threads.add(profiler)
    return {
        "wall_s": wall,
        "threads": len(per_thread),
        "main": _rows(pstats.Stats(main), top),
        "others": [] if threads is None else _rows(threads, top),
    }


def _rows(stats: pstats.Stats, top: int) -> list[dict[str, object]]:
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    ordered = sorted(raw.items(), key=lambda item: -item[1][3])[:top]
    return [
        {"function": _where(*key), "calls": calls, "own_s": own, "cumulative_s": cumulative}
        for key, (_, calls, own, cumulative, _) in ordered
    ]


def profile(ws: Workspace, log: Log) -> ProfileResult:
    served = ws.graph(PROFILE_GRAPH)
    log(f"profile: one lock of the {PROFILE_GRAPH}-project graph under cProfile")
    caches = ws.folder("profile", "caches")
    argv = [sys.executable, "-m", "benchmarks.profile_lock", str(served.spec), "--top", str(TOP)]
    env = tool_env(caches, {"PYTHONPATH": str(REPO)})
    done = subprocess.run(
        argv, cwd=ws.root, env=env, capture_output=True, text=True, check=False, timeout=RUN_TIMEOUT_S
    )
    if done.returncode != 0:
        raise BenchError(f"the profiled lock failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout)
    about = (
        f"One `build_lock` of the {PROFILE_GRAPH}-project graph with uv, cold, in a child process: wall"
        f" {data['wall_s']:.3f} s under the profiler (which slows Python code down). The top {TOP}"
        " functions by cumulative time (`own` leaves out callees): first the main thread in wall time,"
        f" then the {data['threads']} other threads (the router's request handlers, downloaders) in CPU"
        " time, added up."
    )
    return ProfileResult(
        "profile",
        "Profile: where one lock's time goes (the router)",
        about,
        data["wall_s"],
        [ProfileRow(**row) for row in data["main"]],
        [ProfileRow(**row) for row in data["others"]],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Profile one envspec lock (uv) of SPEC; JSON on stdout.")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--top", type=int, default=TOP)
    args = parser.parse_args(argv)
    print(json.dumps(profile_lock(args.spec, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
