"""``envspec verify`` for real: environments built by bootstrap.sh, then tampered with."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envspec.lock.model import Artifact, Facts, Lock, LockedPackage
from envspec.spec import Spec
from envspec.verify.compare import Status, check_gpu, compare
from tests.support.index import IndexServer, serve_index
from tests.support.isolation import isolated_env


def envspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False
    )


def build_env(tmp_path: Path, spec_text: str) -> Path:
    """lock -> emit -> bootstrap.sh: the environment's prefix."""
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text)
    lock = tmp_path / "pylock.toml"
    result = envspec("lock", str(spec), "-o", str(lock))
    assert result.returncode == 0, result.stderr
    assert envspec("emit", "--lock", str(lock), "-t", "venv", "-o", str(tmp_path / "out")).returncode == 0
    prefix = tmp_path / "env"
    built = subprocess.run(
        ["bash", str(tmp_path / "out" / "bootstrap.sh"), "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        check=False,
        env=isolated_env(),
    )
    assert built.returncode == 0, built.stderr
    return prefix


def verify_in(prefix: Path, *args: str, activate: bool = True) -> subprocess.CompletedProcess[str]:
    command = " ".join(
        [sys.executable, "-m", "envspec", "verify", "--python", str(prefix / "bin" / "python"), *args]
    )
    shell = f"source {prefix}/bin/activate && {command}" if activate else command
    return subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)


@pytest.fixture
def plain_env(tmp_path: Path, index: IndexServer) -> Path:
    return build_env(
        tmp_path,
        '[env]\nname = "verified"\npython = "3.11"\n'
        f'[[mirrors]]\nname = "local"\nurl = "{index.url}"\ntrusted = true\n'
        '[packages]\npython = ["es-app[fast]"]\n[runtime.env]\nMY_FLAG = "a b;c"\n',
    )


def test_a_fresh_environment_passes(plain_env: Path) -> None:
    started = time.perf_counter()
    result = verify_in(plain_env)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches the lock" in result.stdout
    assert "4 of 4 locked packages" in result.stdout
    assert elapsed < 10  # the quick check; the benchmark-grade figure is "about a second"


def test_unactivated_flags_are_reported(plain_env: Path) -> None:
    result = verify_in(plain_env, activate=False)
    assert result.returncode == 1
    assert "MY_FLAG: not set in this process" in result.stdout


def test_a_modified_module_names_its_package(plain_env: Path) -> None:
    module = next(plain_env.glob("lib/python3.*/site-packages/es_core/__init__.py"))
    with module.open("a") as handle:
        handle.write("# changed\n")
    result = verify_in(plain_env, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert [(c["group"], c["name"]) for c in failed] == [("files", "es-core"), ("files", "summary")]
    assert "es_core/__init__.py" in failed[0]["detail"]


def test_an_unlocked_package_is_reported(plain_env: Path, graph_root: Path) -> None:
    wheel = next(graph_root.glob("es_winonly-*.whl"))
    subprocess.run(
        [str(plain_env / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        check=True,
        env=isolated_env(),
    )
    result = verify_in(plain_env)
    assert result.returncode == 1
    assert "es-winonly==1.0 is installed but not locked" in result.stdout


def test_a_missing_interpreter_is_bad_input(tmp_path: Path) -> None:
    result = envspec("verify", "--python", str(tmp_path / "nope"), "--lock", str(tmp_path / "nolock.toml"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


LOCAL_TORCH = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
TORCH_DEPENDENCIES = Path("/opt/pypi/files")
DEPENDENCY_PREFIXES = (
    "filelock-",
    "fsspec-2026.9.0",
    "jinja2-",
    "markupsafe-",
    "mpmath-1.3.0",
    "networkx-",
    "setuptools-",
    "sympy-",
    "typing_extensions-",
)


@pytest.mark.skipif(
    not LOCAL_TORCH.exists() or not TORCH_DEPENDENCIES.is_dir(),
    reason=f"the CPU torch wheel ({LOCAL_TORCH}) or its dependencies ({TORCH_DEPENDENCIES}) are absent",
)
def test_a_torch_environment_passes_with_its_flags(tmp_path: Path) -> None:
    torch_root, general = tmp_path / "pytorch", tmp_path / "general"
    torch_root.mkdir()
    general.mkdir()
    (torch_root / LOCAL_TORCH.name).symlink_to(LOCAL_TORCH)
    for wheel in TORCH_DEPENDENCIES.iterdir():
        if wheel.name.startswith(DEPENDENCY_PREFIXES):
            shutil.copy(wheel, general / wheel.name)
    with serve_index(general) as mirror, serve_index(torch_root) as pytorch:
        prefix = build_env(
            tmp_path,
            '[env]\nname = "torchcpu"\npython = "3.11"\n'
            '[torch]\nversion = "2.13.0"\nvariant = "cpu"\nindex = "pt"\n'
            f'[[mirrors]]\nname = "general"\nurl = "{mirror.url}"\ntrusted = true\n'
            f'[[mirrors]]\nname = "pt"\nurl = "{pytorch.url}"\ntrusted = true\n'
            '[runtime.torch]\ncudnn_benchmark = true\nfloat32_matmul_precision = "high"\nnum_threads = 1\n',
        )
    result = verify_in(prefix, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, [c for c in report["checks"] if c["status"] == "fail"]
    by_name = {(c["group"], c["name"]): c for c in report["checks"]}
    assert by_name[("torch", "version")]["detail"] == "torch 2.13.0+cpu"
    assert by_name[("torch", "build")]["status"] == "pass"
    for flag in ("cudnn_benchmark", "float32_matmul_precision", "num_threads"):
        assert by_name[("torch", flag)]["status"] == "pass", by_name[("torch", flag)]
    # start-up stays fast: the hook never imports torch in a process that does not
    python = str(prefix / "bin" / "python")
    modules = subprocess.run(
        [python, "-X", "importtime", "-c", "pass"], capture_output=True, text=True, check=True
    ).stderr
    assert "envspec_startup" in modules
    assert "torch" not in modules.replace("envspec_startup", "")


def lock_with_cuda(min_driver: str = "525.60.13") -> Lock:
    wheel = Artifact("torch-2.5.1-cp311-cp311-linux_x86_64.whl", "u", 1, "0" * 64)
    return Lock(
        spec_hash="sha256:x",
        name="gpu",
        python="3.11",
        platforms=("linux-x86_64",),
        resolver="uv",
        resolver_version="1",
        requirements=(),
        constraints=(),
        packages=(LockedPackage("torch", "2.5.1", "default", "i", (wheel,)),),
        spec=Spec.model_validate({"env": {"name": "gpu", "python": "3.11"}}),
        facts=Facts.model_validate(
            {
                "cuda": {"version": "12.4", "min-driver": min_driver},
                "torch": {"version": "2.5.1", "cuda": "12.4", "variant": "cu124", "cudnn": "9.1.0.70"},
            }
        ),
    )


# A report in the probe's format, written by hand for an H100 with driver 550 (no GPU machine was lent
# to this task, so it is constructed, not recorded).
GPU_REPORT = {
    "available": True,
    "driver": "550.54.15",
    "devices": [{"name": "NVIDIA H100 80GB HBM3", "capability": [9, 0]}],
    "arch_list": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
    "compile": {"ok": True, "seconds": 11.2},
}


def statuses(checks: list[object]) -> dict[str, str]:
    return {c.name: c.status.value for c in checks}  # type: ignore[attr-defined]


def test_gpu_checks_on_recorded_reports() -> None:
    assert statuses(list(check_gpu(lock_with_cuda(), GPU_REPORT))) == {
        "cuda": "pass",
        "driver": "pass",
        "arch": "pass",
        "compile": "pass",
    }
    old_driver = dict(GPU_REPORT, driver="470.82.01")
    assert statuses(list(check_gpu(lock_with_cuda(), old_driver)))["driver"] == "fail"
    new_gpu = dict(GPU_REPORT, devices=[{"name": "Future GPU", "capability": [12, 0]}])
    assert statuses(list(check_gpu(lock_with_cuda(), new_gpu)))["arch"] == "fail"
    broken = dict(GPU_REPORT, compile={"ok": False, "error": "RuntimeError: boom"})
    assert statuses(list(check_gpu(lock_with_cuda(), broken)))["compile"] == "fail"
    unavailable: dict[str, object] = {"available": False, "driver": None, "devices": [], "arch_list": []}
    (only,) = check_gpu(lock_with_cuda(), unavailable)
    assert only.status is Status.FAIL
    assert only.fix is not None
    assert "--gpus all" in only.fix


def test_torch_build_and_cudnn_checks_on_a_recorded_report() -> None:
    report = {
        "python": {"version": "3.11.9", "platform": "linux", "machine": "x86_64"},
        "stamp": None,
        "distributions": [{"name": "torch", "version": "2.5.1", "tooling": False, "problems": []}],
        "environ": {},
        "torch": {
            "imported": True,
            "version": "2.5.1",
            "cuda": "12.4",
            "cudnn": 90100,
            "flags": {},
            "inductor": True,
            "gpu": GPU_REPORT,
        },
    }
    checks = {(c.group, c.name): c.status.value for c in compare(lock_with_cuda(), report, gpu=True)}
    assert checks[("identity", "stamp")] == "warn"
    assert checks[("torch", "build")] == "pass"
    assert checks[("torch", "cudnn")] == "pass"
    assert checks[("gpu", "compile")] == "pass"
    cpu_build = dict(report, torch=dict(report["torch"], cuda=None))  # type: ignore[arg-type]
    assert {(c.group, c.name): c.status.value for c in compare(lock_with_cuda(), cpu_build)}[
        ("torch", "build")
    ] == "fail"
