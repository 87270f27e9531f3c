"""The shipped specs, built for real and verified the way bootstrap.sh tells the user to.

For every spec in ``specs/`` and ``examples/`` that this machine can build (CPU only; torch only from
the CPU wheel on local disk, served by a loopback index), the test locks it, emits the venv target,
runs ``bootstrap.sh``, then runs the command its last line prints, verbatim, without activating the
environment: ``envspec verify`` must find nothing wrong. The others are skipped with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.index import serve_index
from tests.support.isolation import isolated_env

from .conftest import REPO

LOCAL_TORCH = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
NOT_HERE = {
    "specs/dev.toml": "torch 2.1.2+cu121 is a CUDA build of several GB; tests never download torch",
    "examples/cuda13.toml": "a CUDA 13 torch build; tests never download torch",
    "examples/research.toml": "a CUDA 12.4 torch build; tests never download torch",
    "examples/lab.toml": "Python 3.12 and torch 2.9.1 (CPU), which this machine does not have on disk",
    "examples/fleet.toml": "CUDA 13 and CUDA 12.6 torch builds; tests never download torch",
}
ALL_SPECS = sorted(
    str(p.relative_to(REPO)) for p in [*REPO.glob("specs/*.toml"), *REPO.glob("examples/*.toml")]
)


def envspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def build_and_verify(spec: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """Lock, emit, bootstrap, then run the printed check command; its result."""
    locked = envspec("lock", str(spec), "-o", str(work / "pylock.toml"), cwd=work)
    if locked.returncode != 0 and "no mirror could serve" in locked.stderr:
        pytest.skip(f"an index the spec needs is not reachable from here: {locked.stderr.strip()[:300]}")
    assert locked.returncode == 0, locked.stderr
    emitted = envspec(
        "emit", "--lock", str(work / "pylock.toml"), "--target", "venv", "-o", str(work), cwd=work
    )
    assert emitted.returncode == 0, emitted.stderr
    built = subprocess.run(
        ["bash", str(work / "bootstrap.sh"), "--prefix", str(work / "env")],
        capture_output=True,
        text=True,
        check=False,
        env=isolated_env(),
        cwd=work,
    )
    assert built.returncode == 0, built.stderr
    match = re.search(r"^envspec: check it with: +(envspec verify .*)$", built.stderr, re.MULTILINE)
    assert match, built.stderr
    # exactly as printed, in a shell that has envspec on PATH and nothing of the env activated
    env = {k: v for k, v in isolated_env().items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", match[1]], capture_output=True, text=True, check=False, env=env, cwd=work
    )


@pytest.mark.network
@pytest.mark.parametrize("name", ALL_SPECS)
def test_a_fresh_env_of_each_shipped_spec_verifies_clean(name: str, tmp_path: Path) -> None:
    if name in NOT_HERE:
        pytest.skip(f"{name}: {NOT_HERE[name]}")
    spec = tmp_path / "spec.toml"
    text = (REPO / name).read_text(encoding="utf-8")
    if name == "examples/cpu.toml":
        if not LOCAL_TORCH.is_file():
            pytest.skip(f"the local CPU torch wheel {LOCAL_TORCH} is absent")
        # torch from a loopback index serving the wheel on disk (never a download), without
        # torchvision, whose CPU build for torch 2.13.0 is not on this machine
        torch_root = tmp_path / "pytorch"
        torch_root.mkdir()
        (torch_root / LOCAL_TORCH.name).symlink_to(LOCAL_TORCH)
        text = text.replace('with = ["torchvision"]\n', "")
        with serve_index(torch_root) as pytorch:
            text = re.sub(r'url = "https://[^"]+/whl/cpu"', f'url = "{pytorch.url}"\ntrusted = true', text)
            spec.write_text(text, encoding="utf-8")
            result = build_and_verify(spec, tmp_path)
    else:
        spec.write_text(text, encoding="utf-8")
        result = build_and_verify(spec, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout, result.stdout
    if name == "examples/cpu.toml":  # torch imported, its build and the hook's setting checked
        for check in (
            "torch import",
            "torch build",
            "torch float32_matmul_precision",
            "runtime OMP_NUM_THREADS",
        ):
            assert re.search(rf"^\s*ok\s+{check}", result.stdout, re.MULTILINE), result.stdout


def test_every_shipped_spec_is_either_built_or_skipped_with_a_reason() -> None:
    assert set(NOT_HERE) <= set(ALL_SPECS), "a skipped spec no longer exists"
    buildable = set(ALL_SPECS) - set(NOT_HERE)
    assert buildable == {"examples/cpu.toml", "examples/plain.toml"}
