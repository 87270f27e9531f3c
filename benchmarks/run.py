"""One command for every benchmark: markdown tables on stdout (for benchmarks/README.md), progress on stderr.

Run from the repository root::

    .venv/bin/python -m benchmarks.run --reps 5 --network --json /tmp/bench.json

Groups (``--only``, comma-separated; all by default): ``synthetic`` (envspec lock against bare uv and
pip-compile on generated graphs of 50, 200 and 500 projects, cold and warm), ``real`` (real requirement
sets against the default index; needs ``--network``), ``fixed`` (no-op re-lock, ``lock --check``,
``validate``), ``emit`` (``emit --target all`` of a 500-pin lock), ``install`` (a working venv from a
109-pin lock: bootstrap.sh against uv and pip), ``install-real`` (the same for a real set; needs
``--network``), ``offline`` (a venv from one lock of padded wheels: bootstrap.sh online, from a store and
from a pack, against uv and a resolving pip; and ``envspec fetch`` against curl) and ``profile`` (one lock
under cProfile).
"""

from __future__ import annotations

import argparse
import datetime
import ensurepip
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from benchmarks.common import PLATFORM_MACHINES, BenchError, reported_version, tool_versions
from benchmarks.fixtures import MIRRORS, Workspace
from benchmarks.groups_cli import emit, fixed
from benchmarks.groups_install import install, install_real
from benchmarks.groups_lock import real, synthetic
from benchmarks.groups_offline import OfflineBench
from benchmarks.network import RealSet, load_sets, router_reads_whole_files
from benchmarks.profile_lock import profile
from benchmarks.report import FailedGroup, Result, render, render_header, to_json
from envspec.lock.resolvers import host_platform
from tests.support.isolation import uv_executable

GROUPS = ("synthetic", "real", "fixed", "emit", "install", "install-real", "offline", "profile")
NETWORK_GROUPS = frozenset({"real", "install-real"})
SIZES = (50, 200, 500)
INSTALL_SET = "data-science"
MAX_DOWNLOAD_MB = 200


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Time envspec against the bare tools; markdown on stdout.",
    )
    parser.add_argument(
        "--reps", type=int, default=5, help="measured runs per case, after one warm-up (default 5)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GROUP[,GROUP]",
        help=f"groups to run: {', '.join(GROUPS)}",
    )
    parser.add_argument(
        "--network", action="store_true", help="also run the groups that use the default index"
    )
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="synthetic graph sizes (default 50,200,500)"
    )
    parser.add_argument("--sets", default="", help="real sets to run (file stems; default all)")
    parser.add_argument(
        "--install-set", default=INSTALL_SET, help=f"the real set install-real builds ({INSTALL_SET})"
    )
    parser.add_argument(
        "--max-download-mb",
        type=int,
        default=MAX_DOWNLOAD_MB,
        help=f"stop a lock run that makes this machine receive more (default {MAX_DOWNLOAD_MB})",
    )
    parser.add_argument(
        "--mirror",
        choices=MIRRORS,
        default="static",
        help="how the synthetic graphs are served: pages rendered once (default) or serve_index",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number to PATH as JSON")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    chosen = [name for value in args.only for name in _names(value)]
    unknown = sorted(set(chosen) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)}; the groups are {', '.join(GROUPS)}")
    if chosen and not args.network and NETWORK_GROUPS & set(chosen):
        needing = sorted(NETWORK_GROUPS & set(chosen))
        parser.error(f"{' and '.join(needing)} {'need' if len(needing) > 1 else 'needs'} --network")
    args.groups = [g for g in GROUPS if g in chosen] if chosen else list(GROUPS)
    try:
        args.size_list = [int(s) for s in _names(args.sizes)]
    except ValueError:
        parser.error("--sizes takes whole numbers, e.g. 50,200,500")
    return args


def versions(uv: str) -> dict[str, str]:
    found = tool_versions(uv)
    found["pip in a new venv"] = ensurepip.version()
    found["bash"] = reported_version("bash", "--version")
    return found


def plan(args: argparse.Namespace, ws: Workspace) -> list[tuple[str, str, Callable[[], Result]]]:
    """Every group to run as (key, title, thunk), in order; network groups are skipped without --network."""
    steps: list[tuple[str, str, Callable[[], Result]]] = []
    reps, cap = args.reps, args.max_download_mb
    sets: list[RealSet] = load_sets()
    wanted = _names(args.sets)
    whole: list[bool] = []

    def router_whole() -> bool:
        if not whole:
            whole.append(router_reads_whole_files(ws))
            log(f"the router {'downloads whole wheels' if whole[0] else 'does not download whole wheels'}")
        return whole[0]

    def real_step(rs: RealSet) -> Result:
        return real(ws, rs, reps, log, cap, router_whole())

    def install_real_step(rs: RealSet) -> Result:
        return install_real(ws, rs, reps, log, cap, router_whole())

    for group in args.groups:
        if group in NETWORK_GROUPS and not args.network:
            log(f"skipping {group}: it needs --network")
            continue
        if group == "synthetic":
            steps += [
                (f"synthetic-{n}", f"Synthetic graph, {n} projects", partial(synthetic, ws, n, reps, log))
                for n in args.size_list
            ]
        elif group == "real":
            steps += [
                (f"real-{s.key}", f"Real set: {s.title}", partial(real_step, s))
                for s in sets
                if not wanted or s.key in wanted
            ]
        elif group == "install-real":
            chosen = [s for s in sets if s.key == args.install_set]
            if not chosen:
                raise BenchError(f"no real set {args.install_set!r} in benchmarks/requirements/")
            steps.append(
                (
                    f"install-{chosen[0].key}",
                    f"Install, real: {chosen[0].title}",
                    partial(install_real_step, chosen[0]),
                )
            )
        elif group == "fixed":
            steps.append(("fixed", "Fixed costs", partial(fixed, ws, reps, log)))
        elif group == "emit":
            steps.append(("emit", "Emit", partial(emit, ws, reps, log)))
        elif group == "install":
            steps.append(("install", "Install, synthetic", partial(install, ws, reps, log)))
        elif group == "offline":
            bench = OfflineBench(ws, reps, log)
            steps.append(("offline", "Offline installs, synthetic", bench.installs))
            steps.append(("offline-fetch", "Fetch throughput, synthetic", bench.fetch))
        else:
            steps.append(("profile", "Profile", partial(profile, ws, log)))
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(args_list)
    target = host_platform()
    if target not in PLATFORM_MACHINES:
        log(f"the benchmarks run on Linux x86_64 or aarch64, not {platform.platform()}")
        return 2
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    uv = uv_executable()
    started = datetime.datetime.now(datetime.UTC)
    clock = time.perf_counter()
    meta: dict[str, object] = {
        "date": started.isoformat(timespec="seconds"),
        "command": shlex.join([".venv/bin/python", "-m", "benchmarks.run", *args_list]),
        "reps": args.reps,
        "versions": versions(uv),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "load-before": [round(x, 2) for x in os.getloadavg()],
    }
    results: list[Result] = []
    failed = False
    with (
        tempfile.TemporaryDirectory(prefix="envspec-bench-") as tmp,
        Workspace(Path(tmp), python, target, uv, log, args.mirror) as ws,
    ):
        try:
            steps = plan(args, ws)
        except BenchError as exc:
            log(f"error: {exc}")
            return 1
        print(render_header(meta) + "\n", flush=True)
        for key, title, thunk in steps:
            try:
                result = thunk()
            except BenchError as exc:
                log(f"error in {key}: {exc}")
                result, failed = FailedGroup(key, title, str(exc)), True
            results.append(result)
            print(render(result) + "\n", flush=True)
    meta["load-after"] = [round(x, 2) for x in os.getloadavg()]
    minutes = (time.perf_counter() - clock) / 60
    print(f"Load average after the run: {meta['load-after']}; the whole run took {minutes:.1f} min.")
    if args.json is not None:
        report = {"meta": meta, "minutes": minutes, "results": {r.key: to_json(r) for r in results}}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"numbers written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
