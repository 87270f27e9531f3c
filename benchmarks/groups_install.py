"""Groups ``install`` and ``install-real``: a working venv from a lock, cold, by bootstrap.sh and by hand.

The same pins and hashes go to every installer: ``bootstrap.sh`` emitted from envspec's lock, and a
``--require-hashes`` requirements file written from that lock for ``uv venv`` + ``uv pip sync`` and for
``python -m venv`` + ``pip install --no-deps``. Every run starts with empty caches (its own
``XDG_CACHE_HOME`` and ``--cache-dir``) and builds a new environment; afterwards the environment's
installed distributions are read back and must be exactly the locked pins.
"""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name

from benchmarks.common import BenchError, Hashes, Pins
from benchmarks.engine import Case, Limits, Log, Run, measure
from benchmarks.fixtures import Workspace, hashed_requirements, read_pylock, tool_env
from benchmarks.groups_lock import REAL_PYTHON, REAL_TARGET, prepare_real, too_big
from benchmarks.network import RealSet
from benchmarks.report import Comparison, GroupResult

INSTALL_GRAPH = 109
UV_GOAL = 1.2
PIP_GOAL = 1.0
INSTALL_MARGIN = 100_000_000
SEEDED = frozenset({"pip", "setuptools", "wheel"})
"""What ``python -m venv`` puts into a new environment by itself; not part of any lock here."""


def installed(env: Path) -> tuple[Pins, Hashes]:
    """The distributions in ``env``'s site-packages, less pip's own seed (hashes are not recorded)."""
    pins: Pins = {}
    parser = email.parser.HeaderParser()
    for metadata in env.glob("lib/python*/site-packages/*.dist-info/METADATA"):
        headers = parser.parsestr(metadata.read_text(encoding="utf-8"))
        pins[canonicalize_name(headers["Name"])] = headers["Version"]
    kept = {name: version for name, version in pins.items() if name not in SEEDED}
    return kept, {name: frozenset() for name in kept}


def bootstrap_installers(script: Path) -> list[str | None]:
    """``["pip", "uv"]`` where ``bootstrap.sh --help`` offers ``--installer``, else ``[None]`` (pip only)."""
    done = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, check=False)  # noqa: S607
    return ["pip", "uv"] if "--installer" in done.stdout + done.stderr else [None]


def _env(work: Path, uv: str) -> dict[str, str]:
    """Fresh caches, and uv's folder first on PATH (where a bootstrap.sh looks for uv)."""
    env = tool_env(work)
    env["PATH"] = os.pathsep.join([str(Path(uv).parent), env.get("PATH", "")])
    return env


def install_cases(ws: Workspace, script: Path, requirements: Path, index: str) -> list[Case]:
    def bootstrap(installer: str | None) -> Callable[[Path], Run]:
        def make(work: Path) -> Run:
            argv: tuple[str, ...] = (
                "bash",
                str(script),
                "--prefix",
                str(work / "env"),
                "--python",
                sys.executable,
            )
            argv += ("--installer", installer) if installer else ()
            return Run((argv,), _env(work, ws.uv), work, work / "env")

        return make

    def uv_sync(work: Path) -> Run:
        env = work / "env"
        venv = (ws.uv, "venv", "--no-config", "--quiet", "--python", sys.executable, str(env))
        sync: tuple[str, ...] = (
            ws.uv,
            "pip",
            "sync",
            "--no-config",
            "--quiet",
            "--python",
            str(env / "bin" / "python"),
        )
        sync += (
            "--require-hashes",
            "--index-url",
            index,
            "--cache-dir",
            str(work / "uv-cache"),
            str(requirements),
        )
        return Run((venv, sync), _env(work, ws.uv), work, env)

    def pip(work: Path) -> Run:
        env = work / "env"
        venv = (sys.executable, "-m", "venv", str(env))
        install: tuple[str, ...] = (
            str(env / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--require-hashes",
            "--no-deps",
        )
        install += ("--index-url", index, "--cache-dir", str(work / "pip-cache"), "-r", str(requirements))
        return Run((venv, install), _env(work, ws.uv), work, env)

    cases = [
        Case(
            f"bootstrap-{installer or 'pip'}",
            f"bootstrap.sh --installer {installer}" if installer else "bootstrap.sh (pip)",
            bootstrap(installer),
            installed,
        )
        for installer in bootstrap_installers(script)
    ]
    return [
        *cases,
        Case("uv", "uv venv + uv pip sync --require-hashes", uv_sync, installed),
        Case("pip", "python -m venv + pip install --require-hashes --no-deps", pip, installed),
    ]


def comparisons(cases: list[Case]) -> list[Comparison]:
    labels = {c.key: c.label for c in cases}
    with_uv = "bootstrap-uv" if "bootstrap-uv" in labels else "bootstrap-pip"
    return [
        Comparison(f"{labels[with_uv]} / {labels['uv']}", with_uv, "uv", UV_GOAL),
        Comparison(f"{labels['bootstrap-pip']} / {labels['pip']}", "bootstrap-pip", "pip", PIP_GOAL),
    ]


def checks_for(cases: list[Case], result: GroupResult, lock_pins: Pins) -> None:
    for case in cases:
        outcome = result.outcomes[case.key]
        if outcome.pins != lock_pins:
            missing = sorted(set(lock_pins) - set(outcome.pins or {}))
            extra = sorted(set(outcome.pins or {}) - set(lock_pins))
            result.warnings.append(
                f"{case.label} installed other pins: missing {missing[:5]}, extra {extra[:5]}"
            )
        if outcome.inconsistent_runs:
            result.warnings.append(f"{case.label}: {outcome.inconsistent_runs} runs installed other pins")
    if not result.warnings:
        result.checks.append(
            f"every run of every installer left exactly the {len(lock_pins)} locked pins installed"
        )


def _measure(
    ws: Workspace,
    key: str,
    title: str,
    about: str,
    lock: Path,
    index: str,
    reps: int,
    log: Log,
    limits: Limits,
) -> GroupResult:
    script = ws.emit_venv(lock, key)
    requirements = ws.folder(key) / "requirements.txt"
    requirements.write_text(hashed_requirements(lock), encoding="utf-8")
    cases = install_cases(ws, script, requirements, index)
    log(title)
    outcomes = measure(cases, reps, ws.folder(key, "runs"), log, limits)
    result = GroupResult(
        key, title, about, cases, outcomes, comparisons(cases), network=limits.max_download is not None
    )
    checks_for(cases, result, read_pylock(lock)[0])
    return result


def install(ws: Workspace, reps: int, log: Log) -> GroupResult:
    served = ws.graph(INSTALL_GRAPH)
    lock = ws.lock(served.spec, f"install-{INSTALL_GRAPH}")
    about = (
        f"A new venv with the {INSTALL_GRAPH} pins of the {INSTALL_GRAPH}-project graph (tiny wheels) from"
        " its loopback mirror, cold: the measure is the installers' own overhead, not the bytes."
    )
    return _measure(ws, "install", "Install, synthetic", about, lock, served.url, reps, log, Limits())


def install_real(
    ws: Workspace, rs: RealSet, reps: int, log: Log, cap_mb: int, router_whole_files: bool
) -> GroupResult:
    if (ws.python, ws.target) != (REAL_PYTHON, REAL_TARGET):
        raise BenchError(f"installing the real set needs Python {REAL_PYTHON} on {REAL_TARGET} here")
    prepared = prepare_real(ws, rs, log)
    if any(name.startswith(("torch", "nvidia-", "triton")) for name in prepared.pins):
        raise BenchError(f"{rs.key} pins torch or CUDA wheels: it is never installed here")
    reason = too_big(prepared, cap_mb, router_whole_files)
    if reason is not None:
        raise BenchError(f"{rs.key} cannot be locked by envspec here: {reason}")
    lock = ws.lock(prepared.spec, f"real-{rs.key}")
    size = "" if prepared.volume is None else f", {prepared.volume / 1e6:,.0f} MB of wheels"
    about = (
        f"A new venv with the {len(read_pylock(lock)[0])} pins of the {rs.title} set"
        f" (`benchmarks/requirements/{rs.path.name}`{size}) from the default index, cold: every run"
        " downloads every wheel."
    )
    # every run downloads the set's wheels: allow them and half as much again, never a torch stack's
    limits = Limits(max_download=(prepared.volume or 0) * 3 // 2 + INSTALL_MARGIN)
    return _measure(
        ws, f"install-{rs.key}", f"Install, real: {rs.title}", about, lock, prepared.index, reps, log, limits
    )
