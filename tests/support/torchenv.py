"""A real CPU torch for tests that run envspec's programs inside an environment (``envspec bench``'s child).

The torch wheel lies on this machine's disk (``TORCH_WHEEL``): it is installed, with its dependencies,
into a venv under pytest's temporary folder once per test session; nothing is downloaded, and nothing is
cached outside that folder. Tests that need it are skipped, with the reason, where the wheel is absent
or cannot be installed. The installer keeps this machine's pip configuration on purpose: it is what
finds torch's dependencies (sympy, networkx, ...) in the local mirrors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from envspec.bench.child import REPORTED_ENV
from envspec.emit.hook import MODULE_NAME, PTH_NAME, hook_module, hook_pth

__all__ = ["CHILD", "HOOK_ENV", "HOOK_SETTINGS", "TORCH_WHEEL", "hooked_python", "run_child", "torch_python"]

TORCH_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")

CHILD = Path(__file__).resolve().parents[2] / "envspec" / "bench" / "child.py"
INSTALL_TIMEOUT = 600
CHILD_TIMEOUT = 300
# the variables the child reports, and Inductor's compiler: a test sets them itself, never the caller
CHILD_VARIABLES = frozenset({*REPORTED_ENV, "CXX"})
# what the start-up hook planted by ``hooked_python`` does: a torch setting and a runtime variable
HOOK_SETTINGS: dict[str, object] = {"num_threads": 1}
HOOK_ENV = ("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def _python311() -> str | None:
    """An interpreter that the cp311 wheel installs into."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    return shutil.which("python3.11")


def _run(command: list[str], what: str) -> None:
    """Run a set-up step; skip the test (saying why) when it fails or hangs."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{what} did not finish within {INSTALL_TIMEOUT} s")
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        pytest.skip(f"{what} failed (exit {done.returncode}):\n{tail}")


def _purelib(python: Path) -> Path:
    done = subprocess.run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(done.stdout.strip())


@pytest.fixture(scope="session")
def torch_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv with the local CPU torch wheel installed (once per session)."""
    if not TORCH_WHEEL.is_file():
        pytest.skip(f"no torch wheel at {TORCH_WHEEL}: these tests install it from local disk, never online")
    base = _python311()
    if base is None:
        pytest.skip(f"no Python 3.11 to install {TORCH_WHEEL.name} into")
    venv = tmp_path_factory.mktemp("torch-venv")
    _run([base, "-m", "venv", str(venv)], "creating a venv for torch")
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", str(TORCH_WHEEL)], f"installing {TORCH_WHEEL.name}")
    return python


@pytest.fixture(scope="session")
def hooked_python(torch_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second venv that sees ``torch_python``'s packages (through a .pth file) and has envspec's real
    start-up hook: ``HOOK_SETTINGS`` applied when torch is imported, ``HOOK_ENV`` set at start-up."""
    base = _python311()
    assert base is not None  # torch_python found one
    venv = tmp_path_factory.mktemp("hooked-venv")
    _run([base, "-m", "venv", "--without-pip", str(venv)], "creating a venv for the start-up hook")
    python = venv / "bin" / "python"
    site = _purelib(python)
    (site / "torch-venv.pth").write_text(f"{_purelib(torch_python)}\n", encoding="utf-8")
    (site / MODULE_NAME).write_text(hook_module(HOOK_SETTINGS, [HOOK_ENV], "tests"), encoding="utf-8")
    (site / PTH_NAME).write_text(hook_pth(), encoding="utf-8")
    return python


def run_child(
    python: Path | str, options: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run the bench child as ``envspec bench`` does (``PYTHON -I - OPTIONS``, its source on stdin) and
    return the report on its last line of output.

    The child gets this process's environment without ``CHILD_VARIABLES``, plus ``env``. An exit
    status other than 0 or output without a report fails the test, showing the child's stderr.
    """
    base = {k: v for k, v in os.environ.items() if k not in CHILD_VARIABLES}
    done = subprocess.run(
        [str(python), "-I", "-", json.dumps(dict(options))],
        input=CHILD.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env={**base, **(env or {})},
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AssertionError(
            f"the child exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    report = json.loads(lines[-1])
    if not isinstance(report, dict):
        raise AssertionError(f"the child's last line is not a report: {lines[-1]}")
    return report
