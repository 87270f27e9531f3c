"""``envspec verify`` for real: environments built by bootstrap.sh, then tampered with."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envspec.emit.hook import activation_only, hook_module, hook_pth
from envspec.lock.model import Artifact, Facts, Lock, LockedPackage
from envspec.spec import Spec
from envspec.verify.compare import (
    check_gpu,
    check_runtime,
    compare,
    local_labels,
    same_release,
    same_version,
)
from envspec.verify.model import Status
from envspec.verify.probe_script import cached_source
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
        ["bash", str(tmp_path / "out" / "bootstrap.sh"), "--installer", "pip", "--prefix", str(prefix)],
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


def test_the_printed_verify_command_passes_without_activation(plain_env: Path) -> None:
    """bootstrap.sh ends with `envspec verify --python PREFIX/bin/python`: the hook sets MY_FLAG."""
    result = verify_in(plain_env, "--json", activate=False)
    report = json.loads(result.stdout)
    assert result.returncode == 0, [c for c in report["checks"] if c["status"] != "pass"]
    by_name = {(c["group"], c["name"]): c for c in report["checks"]}
    assert by_name[("runtime", "MY_FLAG")]["status"] == "pass"


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
    # not asked for (no --gpu) on a machine without any NVIDIA driver: nothing to check there
    (skipped,) = check_gpu(lock_with_cuda(), unavailable, required=False)
    assert skipped.status is Status.SKIP
    assert skipped.fix is not None
    assert "--gpu" in skipped.fix
    # a driver that CUDA cannot use is a failure either way
    (broken_driver,) = check_gpu(lock_with_cuda(), dict(unavailable, driver="535.1"), required=False)
    assert broken_driver.status is Status.FAIL


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


def cu121_lock(runtime_env: dict[str, str] | None = None) -> Lock:
    """A lock that pins ``torch==2.1.2`` to its cu121 file, as a lock of the dev spec does."""
    wheels = (
        Artifact("torch-2.1.2+cu121-cp311-cp311-linux_x86_64.whl", "u", 1, "1" * 64),
        Artifact("not a wheel name.whl", "u", 1, "2" * 64),
    )
    spec = {"env": {"name": "dev", "python": "3.11"}, "runtime": {"env": runtime_env or {}}}
    return Lock(
        spec_hash="sha256:x",
        name="dev",
        python="3.11",
        platforms=("linux-x86_64",),
        resolver="uv",
        resolver_version="1",
        requirements=(),
        constraints=(),
        packages=(LockedPackage("torch", "2.1.2", "default", "i", wheels),),
        spec=Spec.model_validate(spec),
        facts=Facts.model_validate(
            {
                "cuda": {"version": "12.1", "min-driver": "525.60.13"},
                "torch": {"version": "2.1.2", "cuda": "12.1", "variant": "cu121", "cudnn": "8.9.2.26"},
            }
        ),
    )


def probe_report(
    torch_version: str, *, distribution: str | None = None, cuda: str = "12.1", **extra: object
) -> dict[str, object]:
    """A probe report: ``torch.__version__``, the distribution's version (the same by default), CUDA."""
    installed = distribution or torch_version
    return {
        "python": {"version": "3.11.7", "platform": "linux", "machine": "x86_64"},
        "stamp": None,
        "distributions": [{"name": "torch", "version": installed, "tooling": False, "problems": []}],
        "environ": {},
        "torch": {"imported": True, "version": torch_version, "cuda": cuda, "flags": {}},
        **extra,
    }


def test_versions_match_exactly_or_by_a_locked_files_local_label() -> None:
    assert same_version("2.1.2", "2.1.2")
    assert same_version("2.1.2+cu121", "2.1.2", {"cu121"})
    assert same_version("2.1.2+CU121", "2.1.2", {"cu121"})  # labels compare normalised
    assert same_version("2.13.0+cpu", "2.13.0+cpu")
    assert not same_version("2.1.2+cu121", "2.1.2")  # no locked file carries the label
    assert not same_version("2.1.2+cu118", "2.1.2", {"cu121"})
    assert not same_version("2.1.3+cu121", "2.1.2", {"cu121"})
    assert not same_version("2.1.2", "2.1.2+cu121", {"cu121"})
    assert not same_version("2.1.2+cu118", "2.1.2+cu121", {"cu118", "cu121"})  # the lock names a build
    assert same_version("not-pep440", "not-pep440")
    assert local_labels(cu121_lock().packages) == {"cu121"}


def test_the_locked_cuda_build_passes_and_another_build_fails() -> None:
    """Issue 9: `torch 2.1.2+cu121, the lock says 2.1.2` on the environment envspec itself built."""
    checks = {(c.group, c.name): c for c in compare(cu121_lock(), probe_report("2.1.2+cu121"))}
    assert checks[("packages", "summary")].status is Status.PASS
    assert ("packages", "torch") not in checks
    assert checks[("torch", "version")].status is Status.PASS
    assert checks[("torch", "build")].status is Status.PASS
    other = {(c.group, c.name): c for c in compare(cu121_lock(), probe_report("2.1.2+cu118", cuda="11.8"))}
    assert other[("packages", "torch")].detail == "torch is 2.1.2+cu118, the lock says 2.1.2"
    assert other[("packages", "summary")].status is Status.FAIL
    assert other[("torch", "version")].status is Status.PASS  # the same release ...
    assert other[("torch", "build")].status is Status.FAIL  # ... of another build
    older = {(c.group, c.name): c for c in compare(cu121_lock(), probe_report("2.1.1+cu121"))}
    assert older[("torch", "version")].status is Status.FAIL


def test_a_label_only_torch_version_reports_is_no_failure() -> None:
    """The dev spec's torch from the default index: the file and the distribution say 2.1.2, while
    ``torch.__version__`` says 2.1.2+cu121 (seen on the real dev environment)."""
    wheel = Artifact("torch-2.1.2-cp311-cp311-manylinux1_x86_64.whl", "u", 1, "1" * 64)
    lock = dataclasses.replace(
        cu121_lock(), packages=(LockedPackage("torch", "2.1.2", "default", "i", (wheel,)),)
    )
    checks = {(c.group, c.name): c for c in compare(lock, probe_report("2.1.2+cu121", distribution="2.1.2"))}
    failed = [c for c in checks.values() if c.status is Status.FAIL]
    assert failed == []
    assert checks[("torch", "version")].status is Status.PASS
    assert same_release("2.1.2+cu121", "2.1.2")
    assert not same_release("2.1.1", "2.1.2")


RUNTIME = {"MY_FLAG": "a b;c", "LD_LIBRARY_PATH": "/opt/cuda/lib", "OMP_NUM_THREADS": "4"}


def runtime_checks(environ: dict[str, str], **report: object) -> dict[str, tuple[str, str]]:
    checks = check_runtime(cu121_lock(RUNTIME), {"environ": environ, **report})
    return {c.name: (c.status.value, c.detail) for c in checks}


def test_runtime_variables_set_by_the_hook_need_no_activation() -> None:
    hook = {"environment": ["MY_FLAG", "OMP_NUM_THREADS"]}
    found = runtime_checks({"MY_FLAG": "a b;c", "OMP_NUM_THREADS": "4"}, hook=hook, activated=None)
    assert found["MY_FLAG"][0] == found["OMP_NUM_THREADS"][0] == "pass"
    status, detail = found["LD_LIBRARY_PATH"]
    assert status == "skip"
    assert "set by activation only" in detail
    assert "dynamic loader" in detail
    assert "run verify inside the activated environment" in detail


def test_runtime_variables_that_differ_or_are_missing_fail() -> None:
    activated = runtime_checks({"MY_FLAG": "a b;c", "OMP_NUM_THREADS": "4"}, activated="VIRTUAL_ENV")
    assert activated["LD_LIBRARY_PATH"][0] == "fail"  # activation should have set it
    overridden = runtime_checks({"LD_LIBRARY_PATH": "/elsewhere", "MY_FLAG": "other"})
    assert overridden["LD_LIBRARY_PATH"] == ("fail", "is '/elsewhere', the lock says '/opt/cuda/lib'")
    assert overridden["MY_FLAG"][0] == "fail"
    no_hook = runtime_checks({})
    assert no_hook["MY_FLAG"][0] == "fail"
    assert "start-up hook (envspec-startup.pth in site-packages) did not run" in no_hook["MY_FLAG"][1]
    old_hook = runtime_checks({}, hook={"environment": []})
    assert "does not set it" in old_hook["MY_FLAG"][1]


def test_activation_only_variables() -> None:
    for name in ("LD_LIBRARY_PATH", "LD_PRELOAD", "DYLD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHASHSEED"):
        assert activation_only(name), name
    for name in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES", "LANG", "LC_ALL", "NVIDIA_VISIBLE_DEVICES"):
        assert activation_only(name), name
    for name in ("OMP_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG", "PYTORCH_CUDA_ALLOC_CONF", "MY_FLAG"):
        assert not activation_only(name), name
    for name in ("CUDA_LAUNCH_BLOCKING", "TORCHINDUCTOR_CACHE_DIR", "NVIDIA_TF32_OVERRIDE", "HF_HOME"):
        assert not activation_only(name), name


HOSTILE_VALUES = {
    "QUOTES": 'it\'s "quoted" \'\'\' and """',
    "BACKSLASH": "C:\\new\\table\\",
    "BRACES": "{settings} {0} %s",
    "UNICODE": "caf\u00e9 \u2603 \U0001f600",
    "CODE": "__import__('os').system('touch pwned')",
}


def test_the_hook_sets_unset_variables_exactly_and_keeps_set_ones(tmp_path: Path) -> None:
    variables = [*HOSTILE_VALUES.items(), ("KEPT", "from the lock"), ("LD_PRELOAD", "/evil.so")]
    site = tmp_path / "site"
    site.mkdir()
    (site / "envspec_startup.py").write_text(hook_module({}, variables, "environment x; lock y"))
    (site / "envspec-startup.pth").write_text(hook_pth())
    names = [name for name, _ in variables]
    code = (
        f"import json, os, site; site.addsitedir({str(site)!r}); "
        f"print(json.dumps({{k: os.environ.get(k) for k in {names!r}}}))"
    )
    environ = {"PATH": "/usr/bin:/bin", "KEPT": "from the caller"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", code],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {**HOSTILE_VALUES, "KEPT": "from the caller", "LD_PRELOAD": None}
    assert not (tmp_path / "pwned").exists()
    assert "LD_PRELOAD" not in (site / "envspec_startup.py").read_text()
    (site / "envspec_startup.py").read_text(encoding="ascii")  # values are escaped, the file is ASCII


def test_the_hook_refuses_what_os_environ_would_reject() -> None:
    with pytest.raises(ValueError, match=r"runtime\.env\.NUL"):
        hook_module({}, [("NUL", "a\x00b")], "stamp")
    with pytest.raises(ValueError, match=r"runtime\.env\.A=B"):
        hook_module({}, [("A=B", "x")], "stamp")


def test_the_source_of_a_cached_module() -> None:
    assert cached_source("numpy/distutils/__pycache__/conv_template.cpython-311.pyc") == (
        "numpy/distutils/conv_template.py",
        0,
    )
    assert cached_source("pkg/__pycache__/mod.cpython-38.opt-1.pyc") == ("pkg/mod.py", 1)
    assert cached_source("pkg/__pycache__/mod.pypy39.opt-2.pyc") == ("pkg/mod.py", 2)
    assert cached_source("__pycache__/top.cpython-312.pyc") == ("top.py", 0)
    assert cached_source("pkg/mod.pyc") is None  # not a cache: judged by RECORD alone
    assert cached_source("pkg/__pycache__/mod.cpython-311.opt-3.pyc") is None
    assert cached_source("pkg/__pycache__/mod.py") is None
