"""bootstrap.sh and the NVIDIA driver: a CUDA lock that the driver here cannot run is refused before any
download; no driver at all (a build host) builds with a note; --no-host-check builds anyway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.index import IndexServer
from tests.support.isolation import isolated_env
from tests.test_emit_venv_faults import imports


@pytest.fixture
def cuda_bootstrap(tmp_path: Path, index: IndexServer) -> Path:
    """A lock with a [cuda] table (CUDA 12.1: a driver floor of 525.60.13) and loopback packages."""
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[env]\nname = "hostcheck"\npython = "3.11"\n[cuda]\nversion = "12.1"\n'
        f'[[mirrors]]\nname = "m"\nurl = "{index.url}"\ntrusted = true\n'
        '[packages]\npython = ["es-util"]\n',
        encoding="utf-8",
    )
    lock = str(tmp_path / "pylock.toml")
    steps = (
        ["lock", str(spec), "-o", lock],
        ["emit", "--lock", lock, "--target", "venv", "-o", str(tmp_path / "out")],
    )
    for args in steps:
        done = subprocess.run(
            [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    return tmp_path / "out" / "bootstrap.sh"


def run(script: Path, driver: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**isolated_env(), "ENVSPEC_CUDA_DRIVER": driver}
    command = ["bash", str(script), "--installer", "pip", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


@pytest.mark.parametrize("driver", ["470.82.01", "525.60.12"])
def test_a_driver_below_the_floor_is_refused_before_any_download(
    cuda_bootstrap: Path, index: IndexServer, tmp_path: Path, driver: str
) -> None:
    index.clear_requests()
    refused = run(cuda_bootstrap, driver, "--prefix", str(tmp_path / "env"))
    assert refused.returncode == 1
    assert f"the NVIDIA driver here ({driver}) is older than 525.60.13" in refused.stderr
    assert "nothing was downloaded" in refused.stderr
    assert index.requests == []
    assert not (tmp_path / "env").exists()


def test_no_driver_builds_with_a_note_and_no_host_check_builds_anyway(
    cuda_bootstrap: Path, tmp_path: Path
) -> None:
    built = run(cuda_bootstrap, "none", "--prefix", str(tmp_path / "builder"))
    assert built.returncode == 0, built.stderr
    assert "no NVIDIA driver here: building anyway" in built.stderr
    assert imports(tmp_path / "builder", "es_util")
    forced = run(cuda_bootstrap, "470.82.01", "--no-host-check", "--prefix", str(tmp_path / "forced"))
    assert forced.returncode == 0, forced.stderr
    assert imports(tmp_path / "forced", "es_util")
    fine = run(cuda_bootstrap, "535.129.03", "--prefix", str(tmp_path / "fine"))
    assert fine.returncode == 0, fine.stderr
    assert "NVIDIA driver" not in fine.stderr


def test_a_malformed_driver_override_is_bad_input(cuda_bootstrap: Path, tmp_path: Path) -> None:
    done = run(cuda_bootstrap, "535.x", "--prefix", str(tmp_path / "env"))
    assert done.returncode == 2
    assert "is not a driver version" in done.stderr


@pytest.fixture(scope="module")
def cu121_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bootstrap.sh of a torch 2.1.2+cu121 lock made without resolving (made-up files): its kernels
    cover sm_50 to sm_90, and its driver floor is 525.60.13."""
    from envspec.compat import load_compat
    from envspec.emit.venv import VenvEmitter
    from tests.test_emit_docker import context_for_spec

    spec = '[env]\nname = "cu121"\npython = "3.11"\n[cuda]\nversion = "12.1"\n[torch]\nversion = "2.1.2"\n'
    ctx = context_for_spec(spec, load_compat(), "pylock.toml")
    assert ctx.lock.facts.torch is not None
    assert (ctx.lock.facts.torch.arch_min, ctx.lock.facts.torch.arch_max) == ("5.0", "9.0")
    folder = tmp_path_factory.mktemp("cu121")
    script = folder / "bootstrap.sh"
    script.write_text(VenvEmitter().render(ctx)["bootstrap.sh"], encoding="utf-8")
    (folder / "empty").mkdir()
    return script


@pytest.mark.parametrize(
    ("gpus", "refused"),
    [
        ("12.0", True),
        ("8.0,12.0", True),
        ("3.7", True),
        ("12.1", True),
        ("8.9", False),
        ("5.0,9.0", False),
        ("none", False),
    ],
)
def test_a_gpu_the_build_has_no_kernels_for_is_refused_before_any_download(
    cu121_bootstrap: Path, tmp_path: Path, gpus: str, refused: bool
) -> None:
    env = {**isolated_env(), "ENVSPEC_CUDA_DRIVER": "535.129.03", "ENVSPEC_GPU_ARCH": gpus}
    # an empty folder as the only source: a build that passes the check fails at once, offline
    command = ["bash", str(cu121_bootstrap), "--installer", "pip", "--prefix", str(tmp_path / "env"),
               "--offline", str(cu121_bootstrap.parent / "empty")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 1
    assert ("the lock's CUDA build has kernels for sm_50 to sm_90 only" in done.stderr) is refused
    assert ("could not be fetched" in done.stderr) is not refused, done.stderr
    assert not (tmp_path / "env").exists()


def test_a_malformed_gpu_override_is_bad_input(cu121_bootstrap: Path, tmp_path: Path) -> None:
    env = {**isolated_env(), "ENVSPEC_CUDA_DRIVER": "535.129.03", "ENVSPEC_GPU_ARCH": "8.6,ampere"}
    done = subprocess.run(
        ["bash", str(cu121_bootstrap), "--prefix", str(tmp_path / "env")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 2
    assert "ampere is not a compute capability" in done.stderr
