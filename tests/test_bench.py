"""``envspec bench`` end to end: a real CPU torch in its own venv, tiny models, the CLI as users run it."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

SPEC = """\
[env]
name = "benchtest"
python = "3.11"

[torch]
version = "2.13.0"
variant = "cpu"

[runtime.env]
BENCH_MARKER = "set"

[runtime.torch]
num_threads = 1
float32_matmul_precision = "high"
cudnn_benchmark = true
"""


def envspec(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "envspec", "bench", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, timeout=900)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_json_report_of_two_models_agrees_with_its_timings(spec: Path, torch_python: Path) -> None:
    done = envspec(
        spec, "--python", torch_python, "--model", "mlp", "--model", "convnet", "--tiny", "--runs", "5",
        "--warmup", "1", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [r["model"]["requested"] for r in document["results"]] == ["mlp", "convnet"]
    assert document["profile"] == {
        "settings": {"cudnn_benchmark": True, "float32_matmul_precision": "high", "num_threads": 1},
        "env": {"BENCH_MARKER": "set"},
    }
    for result in document["results"]:
        eager, profile = result["eager"], result["profile"]
        assert len(eager["times_s"]) == len(profile["times_s"]) == 5
        assert eager["median_s"] == statistics.median(eager["times_s"])
        ratio = statistics.median(eager["times_s"]) / statistics.median(profile["times_s"])
        assert result["speedup"]["median_ratio"] == pytest.approx(ratio)
        low, high = result["speedup"]["ci95"]
        assert low <= ratio <= high
        assert profile["threads"] == 1  # the profile's num_threads took effect
        if (os.cpu_count() or 1) > 1:
            assert eager["threads"] > 1  # and the eager side did not get it
        assert result["applied"]["cudnn_benchmark"] == "not applicable on cpu"
        assert result["applied"]["num_threads"] == "applied"
        assert profile["first_call_warm_s"] is None  # nothing compiles without compile_mode
        assert eager["peak_memory_kind"] == "max_rss"
        assert eager["peak_memory_bytes"] > 0
    assert document["versions"]["torch"].startswith("2.13.0")


def test_text_report_and_chart(spec: Path, torch_python: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is the optional [plot] extra")
    chart = tmp_path / "out" / "bench.png"
    done = envspec(
        spec,
        "--python",
        torch_python,
        "--model",
        "mlp",
        "--tiny",
        "--runs",
        "3",
        "--warmup",
        "0",
        "--plot",
        chart,
    )
    assert done.returncode == 0, done.stderr
    assert "eager ms (p10-p90)" in done.stdout
    assert "cudnn_benchmark: not applicable on cpu" in done.stdout
    assert any(line.startswith("mlp: ") for line in done.stdout.splitlines())
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_compile_mode_reports_a_cold_and_a_warm_first_call(tmp_path: Path, torch_python: Path) -> None:
    spec = tmp_path / "compiled.toml"
    spec.write_text(SPEC.replace("num_threads = 1\n", 'compile_mode = "default"\n'), encoding="utf-8")
    done = envspec(spec, "--python", torch_python, "--model", "mlp", "--tiny", "--runs", "3", "--json")
    if done.returncode == 2 and "C++ compiler" in done.stderr:
        pytest.skip(f"torch.compile cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["applied"]["compile_mode"] == "applied"
    assert result["profile"]["first_call_s"] > result["eager"]["first_call_s"]  # compiling costs
    assert result["profile"]["first_call_warm_s"] is not None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--device", "cuda"], "use --device cpu"),
        (["--model", "alexnet"], "--model 'alexnet' is not one of"),
        (["--dtype", "fp8"], "--dtype 'fp8' is not one of"),
    ],
)
def test_what_cannot_run_is_a_clear_error(
    spec: Path, torch_python: Path, args: list[str], expected: str
) -> None:
    done = envspec(spec, "--python", torch_python, "--tiny", "--runs", "3", *args)
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_an_interpreter_without_torch_is_named_with_a_hint(spec: Path) -> None:
    done = envspec(spec, "--python", sys.executable, "--tiny", "--runs", "3")  # envspec's own: no torch here
    assert done.returncode == 2
    assert "install torch in that environment" in done.stderr
    missing = envspec(spec, "--python", "/nonexistent/python", "--runs", "3")
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
