"""``envspec bench``'s child program, run with a real CPU torch (no mocks): models, settings, the
start-up hook, variables, failures reported as such, and torch.compile."""

from __future__ import annotations

import ast
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.torchenv import CHILD, HOOK_ENV, HOOK_SETTINGS, run_child

COMPILE_LIMIT_S = 120


def options(model: str = "mlp", **given: Any) -> dict[str, Any]:
    """Options for a quick run: a tiny model, eager, fp32 on cpu."""
    chosen: dict[str, Any] = {
        "model": model,
        "batch": 1,
        "dtype": "fp32",
        "device": "cpu",
        "runs": 2,
        "warmup": 1,
        "seed": 0,
        "settings": {},
        "unset": [],
        "eager": True,
        "size": "tiny",
    }
    chosen.update(given)
    return chosen


def test_eager_tiny_mlp(torch_python: Path) -> None:
    report = run_child(torch_python, options(batch=4, runs=5))
    assert report["ok"] is True, report
    assert len(report["times_s"]) == 5
    assert all(t > 0 for t in report["times_s"])
    assert report["first_call_s"] > 0
    # 4 Linear layers of width 64: 4 x (64 x 64 weights + 64 biases)
    assert report["model"] == {"name": "mlp", "source": "builtin", "parameters": 4 * (64 * 64 + 64)}
    assert report["applied"] == {}
    assert report["hook_removed"] is False
    assert report["peak_memory_kind"] == "max_rss"
    assert report["peak_memory_bytes"] > 10 * 2**20  # an interpreter with torch loaded
    versions = report["versions"]
    assert versions["python"].startswith("3.11.")
    assert versions["torch"].endswith("+cpu")
    assert versions["cuda"] is None
    assert versions["torchvision"] is None
    assert versions["device_name"]


@pytest.mark.parametrize("model", ["convnet", "resnet50", "vit_b_16"])
def test_eager_tiny_models(torch_python: Path, model: str) -> None:
    report = run_child(torch_python, options(model))
    assert report["ok"] is True, report
    assert report["model"]["name"] == model
    assert report["model"]["source"] == "builtin"
    assert report["model"]["parameters"] > 0
    assert len(report["times_s"]) == 2
    assert all(t > 0 for t in report["times_s"])


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_half_precision_on_cpu(torch_python: Path, dtype: str) -> None:
    """This torch runs convolutions in fp16 and bf16 on the CPU; a setting for float32 is noted."""
    settings = {"float32_matmul_precision": "high"}
    report = run_child(torch_python, options("convnet", dtype=dtype, eager=False, settings=settings))
    assert report["ok"] is True, report
    assert report["applied"] == {"float32_matmul_precision": "applied"}
    assert any("float32_matmul_precision" in note and dtype in note for note in report["notes"])


def test_profile_settings(torch_python: Path) -> None:
    settings = {"num_threads": 1, "float32_matmul_precision": "high", "cudnn_benchmark": True}
    report = run_child(torch_python, options(eager=False, settings=settings))
    assert report["ok"] is True, report
    assert report["applied"] == {
        "num_threads": "applied",
        "float32_matmul_precision": "applied",
        "cudnn_benchmark": "not applicable on cpu",
    }
    assert report["threads"] == 1
    assert report["notes"] == []  # fp32: float32_matmul_precision counts
    assert report["hook_removed"] is False


def test_eager_removes_the_startup_hook(torch_python: Path, hooked_python: Path) -> None:
    default = run_child(torch_python, options())["threads"]
    name, value = HOOK_ENV
    # the hook works: with it in place, torch gets its settings and the process its variable
    hooked = run_child(hooked_python, options(eager=False))
    assert hooked["ok"] is True, hooked
    assert hooked["hook_removed"] is False
    assert hooked["hook_settings"] == HOOK_SETTINGS
    assert hooked["threads"] == 1
    assert hooked["env"] == {name: value}
    # the baseline takes the hook off before importing torch, and unsets the variable it set
    eager = run_child(hooked_python, options(unset=[name]))
    assert eager["ok"] is True, eager
    assert eager["hook_removed"] is True
    assert eager["hook_settings"] is None
    assert eager["env"] == {}
    assert eager["threads"] == default
    if default == 1:
        pytest.skip("torch uses 1 thread by default here: the hook's num_threads = 1 cannot be told apart")
    assert eager["threads"] != 1


def test_unset_removes_a_variable(torch_python: Path) -> None:
    default = run_child(torch_python, options())["threads"]
    pinned = run_child(torch_python, options(), env={"OMP_NUM_THREADS": "1"})
    assert pinned["threads"] == 1
    assert pinned["env"] == {"OMP_NUM_THREADS": "1"}
    unset = run_child(torch_python, options(unset=["OMP_NUM_THREADS"]), env={"OMP_NUM_THREADS": "1"})
    assert unset["ok"] is True, unset
    assert unset["env"] == {}
    assert unset["threads"] == default
    if default == 1:
        pytest.skip("torch uses 1 thread by default here: OMP_NUM_THREADS=1 changes nothing to see")
    assert unset["threads"] != 1


def test_cuda_without_a_gpu(torch_python: Path) -> None:
    report = run_child(torch_python, options(device="cuda"))
    assert report == {
        "ok": False,
        "kind": "no-cuda",
        "error": report["error"],
    }
    assert "no usable GPU" in report["error"]
    assert "CPU-only build" in report["error"]


def test_compiled_tiny_mlp(torch_python: Path, tmp_path: Path) -> None:
    """torch.compile on CPU: g++ is here, so the first call compiles (seconds) and later ones are fast."""
    settings = {"compile_mode": "default"}
    env = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    started = time.perf_counter()
    report = run_child(torch_python, options(eager=False, settings=settings, runs=5), env=env)
    took = time.perf_counter() - started
    if shutil.which("g++") is None:
        assert report["ok"] is False, report
        assert report["kind"] == "compile-failed", report
        return
    assert report["ok"] is True, f"torch.compile failed: {report.get('error')}"
    if took > COMPILE_LIMIT_S:
        pytest.skip(f"compiling took {took:.0f} s here (over {COMPILE_LIMIT_S} s); results not judged")
    assert report["applied"] == {"compile_mode": "applied"}
    assert report["grad_mode"] == "inference_mode"
    assert report["env"] == env
    median = statistics.median(report["times_s"])
    assert report["first_call_s"] > 100 * median, report
    assert report["first_call_s"] > 0.5


def test_compile_failure_is_reported(torch_python: Path, tmp_path: Path) -> None:
    """No C++ compiler for Inductor: a report of kind compile-failed naming the cause, exit status 0."""
    env = {"CXX": str(tmp_path / "no-such-g++"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    report = run_child(torch_python, options(eager=False, settings={"compile_mode": "default"}), env=env)
    assert report["ok"] is False, report
    assert report["kind"] == "compile-failed"
    assert "C++ compiler" in report["error"], report["error"]
    assert "\n" not in report["error"]


def test_without_torch() -> None:
    """The test interpreter has no torch: the child says so (exit 0) rather than failing."""
    report = run_child(sys.executable, options())
    assert report == {
        "ok": False,
        "kind": "no-torch",
        "error": "ModuleNotFoundError: No module named 'torch'",
    }


def python38_candidates() -> list[str]:
    found = shutil.which("python3.8")  # a pyenv shim is found even where it cannot run
    return ([found] if found else []) + sorted(
        str(p) for p in Path.home().glob(".pyenv/versions/3.8*/bin/python3.8")
    )


def _runs(python: str) -> bool:
    try:
        return (
            subprocess.run([python, "-c", ""], capture_output=True, timeout=60, check=False).returncode == 0
        )
    except OSError:
        return False


def test_runs_on_python_3_8() -> None:
    """The child runs in the user's environment: Python 3.8 syntax, importable by Python 3.8."""
    ast.parse(CHILD.read_text(encoding="utf-8"), feature_version=(3, 8))
    oldest = next((p for p in python38_candidates() if _runs(p)), None)
    if oldest is None:
        pytest.skip("no Python 3.8 here to run the child with")
    report = run_child(oldest, options())
    assert report["ok"] is False
    assert report["kind"] == "no-torch"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"batch": 0}, "option batch must be an integer >= 1"),
        ({"model": "gpt"}, "option model must be one of"),
        ({"runs": True}, "option runs must be an integer"),
        ({"settings": {"num_threads": 0}}, "setting num_threads must be"),
        ({"settings": {"benchmark": True}}, "unknown setting: benchmark"),
        ({"extra": 1}, "unknown options: extra"),
    ],
)
def test_bad_options_exit_2(given: dict[str, Any], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-", json.dumps(options(**given))],
        input=CHILD.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""
