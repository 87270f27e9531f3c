"""Run one benchmark: the child program in the measured interpreter, eager then under the profile.

Each side runs in a fresh process. The eager side gets the caller's environment without the spec's
``[runtime.env]`` variables, and the child removes envspec's start-up hook before it imports torch;
the profile side gets the variables (so that those read at start-up take effect) and applies the
``[runtime.torch]`` settings itself. With a ``compile_mode`` the profile runs twice over one fresh
Inductor cache: the first call of the first run is the cold compile, that of the second the warm one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from envspec.errors import EnvspecError
from envspec.spec import Spec
from envspec.verify.run import interpreter_command

CHILD_TIMEOUT = 3600
MODELS = ("resnet50", "vit_b_16", "mlp", "convnet")
DTYPES = ("fp32", "fp16", "bf16")
DEVICES = ("cpu", "cuda")
_HINTS = {
    "no-torch": "install torch in that environment, or point --python at one that has it",
    "no-cuda": "use --device cpu, or run on a machine whose driver and torch build can use its GPU",
    "unsupported-dtype": "use --dtype fp32 (or bf16) on this device",
    "compile-failed": "torch.compile on CPU needs a C++ compiler (e.g. apt-get install g++); or drop"
    " [runtime.torch] compile_mode to measure the other settings alone",
    "model-failed": "try a smaller --batch, or another --model",
}


class BenchError(EnvspecError):
    """The child could not be run, or it reported that the benchmark cannot run here."""


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    model: str
    batch: int
    dtype: str
    device: str
    runs: int
    warmup: int
    tiny: bool = False  # small versions of the models, for a quick check


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """A spec's runtime profile: the ``[runtime.torch]`` settings and ``[runtime.env]`` variables."""

    settings: Mapping[str, object]
    env: Mapping[str, str]

    @classmethod
    def of(cls, spec: Spec) -> Profile:
        settings = spec.runtime.torch.model_dump(exclude_none=True)
        return cls(dict(sorted(settings.items())), {k: str(v) for k, v in sorted(spec.runtime.env.items())})


@dataclasses.dataclass(frozen=True, slots=True)
class Side:
    """One side's measurement, as its child reported it."""

    times: tuple[float, ...]
    first_call_s: float
    peak_memory_bytes: int
    peak_memory_kind: str
    threads: int


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    request: Request
    eager: Side
    profile: Side
    warm_first_call_s: float | None  # the profile's first call with a warm Inductor cache
    applied: Mapping[str, str]
    notes: tuple[str, ...]
    model: Mapping[str, Any]
    versions: Mapping[str, Any]
    hook_removed: bool


def child_source() -> str:
    return resources.files("envspec.bench").joinpath("child.py").read_text(encoding="utf-8")


def run_child(python: str, options: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The child's report (its last line of output); a BenchError when it cannot run or says why not."""
    command = [*interpreter_command(python), "-I", "-", json.dumps(options)]
    try:
        done = subprocess.run(
            command,
            input=child_source(),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
            env=dict(env),
        )
    except FileNotFoundError:
        raise BenchError(f"cannot run {python}: no such interpreter", hint="check --python") from None
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"the benchmark in {python} ran past {CHILD_TIMEOUT} s", hint="lower --runs"
        ) from None
    lines = done.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        report = {}
    if done.returncode != 0 or not isinstance(report, dict) or "ok" not in report:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"the benchmark in {python} failed (exit {done.returncode}): {tail}")
    if not report["ok"]:
        kind, error = str(report.get("kind", "")), str(report.get("error", report.get("kind", "")))
        hint = _HINTS.get(kind)
        if "CUBLAS_WORKSPACE_CONFIG" in error:  # deterministic algorithms on CUDA need it set at start-up
            hint = 'set [runtime.env] CUBLAS_WORKSPACE_CONFIG = ":4096:8" (deterministic = true needs it)'
        raise BenchError(f"cannot benchmark in {python}: {error}", hint=hint)
    return report


def _side(report: Mapping[str, Any]) -> Side:
    return Side(
        times=tuple(float(t) for t in report["times_s"]),
        first_call_s=float(report["first_call_s"]),
        peak_memory_bytes=int(report["peak_memory_bytes"]),
        peak_memory_kind=str(report["peak_memory_kind"]),
        threads=int(report["threads"]),
    )


def bench(
    python: str, request: Request, profile: Profile, *, log: Callable[[str], None], seed: int = 0
) -> Outcome:
    """Eager, then the profile (twice when it compiles), each in a fresh process."""
    base = {k: v for k, v in os.environ.items() if k not in profile.env}
    options: dict[str, Any] = {
        "model": request.model,
        "batch": request.batch,
        "dtype": request.dtype,
        "device": request.device,
        "runs": request.runs,
        "warmup": request.warmup,
        "seed": seed,
        "size": "tiny" if request.tiny else "full",
    }
    name = f"{request.model} (batch {request.batch}, {request.dtype}, {request.device})"
    with tempfile.TemporaryDirectory(prefix="envspec-bench-") as cache:
        log(f"{name}: eager, {request.runs} runs")
        eager = run_child(
            python, {**options, "eager": True, "settings": {}, "unset": sorted(profile.env)}, base
        )
        # the Inductor cache starts empty, whatever the spec or the caller set: the first call is cold
        env = {**base, **profile.env, "TORCHINDUCTOR_CACHE_DIR": cache}
        log(f"{name}: the spec's profile, {request.runs} runs")
        profiled = {**options, "eager": False, "settings": dict(profile.settings), "unset": []}
        cold = run_child(python, profiled, env)
        warm = None
        if "compile_mode" in profile.settings:
            log(f"{name}: the profile again, with a warm compile cache")
            warm = run_child(python, {**profiled, "runs": 1, "warmup": 0}, env)
    return Outcome(
        request=request,
        eager=_side(eager),
        profile=_side(cold),
        warm_first_call_s=float(warm["first_call_s"]) if warm else None,
        applied=dict(cold.get("applied", {})),
        notes=tuple(str(n) for n in cold.get("notes", [])),
        model=dict(cold.get("model", {})),
        versions=dict(cold.get("versions", {})),
        hook_removed=bool(eager.get("hook_removed", False)),
    )
