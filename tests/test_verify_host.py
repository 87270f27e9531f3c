"""verify's checks of the CUDA libraries an environment really uses: one CUDA major among the nvidia
wheels, nothing loaded from outside the environment, the driver's libcuda.so.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from envspec.verify.host_checks import check_cuda_libraries, check_cuda_majors, check_libcuda, check_loader
from envspec.verify.model import Status
from tests.test_verify import lock_with_cuda, plain_env, verify_in  # noqa: F401 - plain_env is a fixture

PREFIX = "/envs/dev"


def report(
    names: list[str], *, loaded: list[str] | None = None, waiting: list[str] | None = None
) -> dict[str, object]:
    return {
        "python": {"prefix": PREFIX},
        "distributions": [{"name": n, "version": "1"} for n in names],
        "loader_path": waiting or [],
        "torch": {"imported": True, "loaded_libraries": loaded or []},
    }


def test_nvidia_wheels_of_two_cuda_majors_fail() -> None:
    (mixed,) = check_cuda_majors(
        lock_with_cuda(), report(["nvidia-cublas-cu12", "nvidia-cudnn-cu13", "torch"])
    )
    assert mixed.status is Status.FAIL
    assert "CUDA 12: nvidia-cublas-cu12" in mixed.detail
    assert "CUDA 13: nvidia-cudnn-cu13" in mixed.detail
    assert mixed.fix is not None
    (other,) = check_cuda_majors(lock_with_cuda(), report(["nvidia-cublas-cu11"]))  # the lock is CUDA 12.4
    assert other.status is Status.FAIL
    (same,) = check_cuda_majors(lock_with_cuda(), report(["nvidia-cublas-cu12", "nvidia-nccl-cu12"]))
    assert same.status is Status.PASS
    assert list(check_cuda_majors(lock_with_cuda(), report(["numpy"]))) == []  # a CPU environment


def test_a_library_loaded_from_outside_the_environment_fails_and_names_its_folder() -> None:
    system = "/usr/lib/x86_64-linux-gnu/libcudnn.so.8.9.7"
    inside = f"{PREFIX}/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12"
    driver = "/usr/lib/x86_64-linux-gnu/libcuda.so.535.129.03"  # the driver's own: always outside
    (shadowed,) = check_loader(report([], loaded=[inside, system, driver]))
    assert shadowed.status is Status.FAIL
    assert system in shadowed.detail
    assert shadowed.fix is not None
    assert "/usr/lib/x86_64-linux-gnu" in shadowed.fix
    (clean,) = check_loader(report([], loaded=[inside, driver]))
    assert clean.status is Status.PASS
    passed, waiting = check_loader(report([], loaded=[inside], waiting=["/opt/cudnn/lib/libcudnn.so.9"]))
    assert passed.status is Status.PASS
    assert waiting.status is Status.WARN
    assert "/opt/cudnn/lib/libcudnn.so.9" in waiting.detail


def test_libcuda_that_does_not_load_fails_only_where_a_driver_is() -> None:
    broken = {
        "libcuda": {"ok": False, "error": "libcuda.so.1: cannot open shared object file"},
        "driver": "535.1",
    }
    (failed,) = check_libcuda(broken, required=False)
    assert failed.status is Status.FAIL
    assert failed.fix is not None
    assert "--gpus all" in failed.fix
    assert list(check_libcuda(dict(broken, driver=None), required=False)) == []  # a CPU machine
    (required,) = check_libcuda(dict(broken, driver=None), required=True)  # --gpu asks for it
    assert required.status is Status.FAIL
    (fine,) = check_libcuda({"libcuda": {"ok": True}, "driver": "535.1"}, required=True)
    assert fine.status is Status.PASS


def test_every_check_together_in_a_stable_order() -> None:
    probe = report(["nvidia-cublas-cu12"], loaded=["/usr/lib/libcublas.so.12"])
    probe["torch"] = {
        "loaded_libraries": ["/usr/lib/libcublas.so.12"],
        "gpu": {"libcuda": {"ok": True}, "driver": "1"},
    }
    names = [c.name for c in check_cuda_libraries(lock_with_cuda(), probe, gpu=True, gpu_required=True)]
    assert names == ["one CUDA major", "loaded from the environment", "libcuda.so.1"]


def test_the_probe_sees_libraries_waiting_on_ld_library_path(plain_env: Path, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "system cudnn"
    folder.mkdir()
    (folder / "libcudnn.so.8").write_bytes(b"not really a library")
    (folder / "libunrelated.so.1").write_bytes(b"")  # not a CUDA library: not listed
    command = [
        sys.executable,
        "-m",
        "envspec",
        "verify",
        "--python",
        str(plain_env / "bin" / "python"),
        "--json",
    ]
    env = {**os.environ, "LD_LIBRARY_PATH": f"{folder}{os.pathsep}/nonexistent"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert done.stdout, done.stderr
    document = json.loads(done.stdout)
    assert document["report"]["loader_path"] == [str(folder / "libcudnn.so.8")]
    by_name = {c["name"]: c for c in document["checks"]}
    assert by_name["LD_LIBRARY_PATH"]["status"] == "warn"
    # a warning, not a failure: nothing loaded it, and this environment has no torch to load it
    assert done.returncode == 0, [c for c in document["checks"] if c["status"] == "fail"]
    plain = verify_in(plain_env, activate=False)
    assert "LD_LIBRARY_PATH" not in plain.stdout  # nothing waiting without the variable
