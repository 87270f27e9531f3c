"""envspec host: detection on recorded host facts, the judgement of torch builds, the arch data, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from packaging.version import Version

from envspec.compat import Compat, capability_tuple, cuda_of_variant
from envspec.errors import UsageError
from envspec.host import (
    PROC_VERSION,
    SMI_FALLBACK,
    SMI_QUERY,
    CommandResult,
    Gpu,
    HostFacts,
    Reader,
    Runner,
    detect,
    parse_arch_override,
    parse_driver_override,
    parse_nvidia_smi,
    parse_proc_version,
    read_text,
    run_command,
)
from envspec.hostjudge import BuildNeeds, Finding, build_needs, judge
from envspec.verify.model import Status

from .conftest import FIXTURES, REPO

HOSTS = FIXTURES / "hosts"
HOST_NAMES = sorted(p.name for p in HOSTS.iterdir() if p.is_dir())
OVERRIDES = ("ENVSPEC_CUDA_DRIVER", "ENVSPEC_GPU_ARCH")


def recorded(name: str) -> tuple[Runner, Reader, list[tuple[str, ...]]]:
    """A command runner and a file reader that answer from a host's recorded facts."""
    folder = HOSTS / name
    calls: list[tuple[str, ...]] = []

    def run(argv: Sequence[str]) -> CommandResult | None:
        calls.append(tuple(argv))
        files: dict[tuple[str, ...], str] = {SMI_QUERY: "nvidia-smi", SMI_FALLBACK: "nvidia-smi-fallback"}
        file = files[tuple(argv)]
        if not (folder / file).exists():
            return None  # no such command
        status = folder / f"{file}.exit"
        code = int(status.read_text()) if status.exists() else 0
        return CommandResult(code, (folder / file).read_text())

    def read(path: str) -> str | None:
        assert path == PROC_VERSION
        proc = folder / "proc-version"
        return proc.read_text() if proc.exists() else None

    return run, read, calls


def host(name: str, env: dict[str, str] | None = None) -> HostFacts:
    run, read, _ = recorded(name)
    return detect(env or {}, run, read, machine="x86_64")


def needs(compat: Compat, torch: str, variant: str) -> BuildNeeds:
    return build_needs(compat, torch, variant)


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


# -- detection on recorded facts ---------------------------------------------------------------------
@pytest.mark.parametrize("name", HOST_NAMES)
def test_detection_reads_the_recorded_facts(name: str) -> None:
    expected = tomllib.loads((HOSTS / name / "expected.toml").read_text())
    facts = host(name)
    assert facts.driver == expected.get("driver")
    assert facts.driver_source == expected["driver-source"]
    assert facts.gpus_source == expected["gpus-source"]
    gpus = [
        (gpu.name, f"{gpu.capability[0]}.{gpu.capability[1]}" if gpu.capability else "") for gpu in facts.gpus
    ]
    assert gpus == [tuple(pair) for pair in expected["gpus"]]
    assert len(facts.notes) == expected.get("notes", 0)


def test_an_old_nvidia_smi_is_asked_again_without_compute_cap() -> None:
    run, read, calls = recorded("t4-470")
    facts = detect({}, run, read, machine="x86_64")
    assert calls == [SMI_QUERY, SMI_FALLBACK]
    assert facts.gpus == (Gpu("Tesla T4", None),)
    assert "ENVSPEC_GPU_ARCH" in facts.notes[0]


def test_proc_version_formats() -> None:
    proprietary = (HOSTS / "a100-535" / "proc-version").read_text()
    open_module = (HOSTS / "rtx5090-570" / "proc-version").read_text()
    assert parse_proc_version(proprietary) == "535.129.03"
    assert parse_proc_version(open_module) == "570.124.06"
    arm = "NVRM version: NVIDIA UNIX aarch64 Kernel Module  550.54.15  Tue Mar  5 22:15:33 UTC 2024\n"
    assert parse_proc_version(arm) == "550.54.15"
    # the GCC line's version is not the driver's
    assert parse_proc_version("GCC version:  gcc version 11.4.0 (Ubuntu)\n") is None
    assert parse_proc_version("") is None


def test_nvidia_smi_lines() -> None:
    driver, gpus = parse_nvidia_smi(
        "NVIDIA A100-SXM4-40GB, 535.129.03, [N/A]\nTesla P100, 535.129.03, 6.0\n\n"
    )
    assert driver == "535.129.03"
    assert gpus == (Gpu("NVIDIA A100-SXM4-40GB", None), Gpu("Tesla P100", (6, 0)))
    assert parse_nvidia_smi(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    ) == (
        None,
        (),
    )


def test_a_broken_nvidia_smi_falls_back_to_proc() -> None:
    def run(argv: Sequence[str]) -> CommandResult:
        del argv
        return CommandResult(
            9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
        )

    facts = detect({}, run, lambda _path: (HOSTS / "a100-535" / "proc-version").read_text(), machine="x86_64")
    assert (facts.driver, facts.driver_source, facts.gpus_source) == ("535.129.03", PROC_VERSION, "none")
    assert "exit 9" in facts.notes[0]


# -- overrides -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8.6", ((8, 6),)),
        ("86", ((8, 6),)),
        ("sm_86", ((8, 6),)),
        ("sm_120", ((12, 0),)),
        ("12.0, 9.0,sm_70", ((12, 0), (9, 0), (7, 0))),
        ("none", ()),
    ],
)
def test_arch_override_forms(value: str, expected: tuple[tuple[int, int], ...]) -> None:
    assert parse_arch_override(value) == expected


@pytest.mark.parametrize("value", ["8.x", "sm_8", "5", "8.10", "8.6,", "sm_90a", "compute_86", "0.5"])
def test_a_malformed_arch_override_names_the_variable_and_the_form(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_arch_override(value)
    assert "ENVSPEC_GPU_ARCH" in str(caught.value)
    assert caught.value.hint is not None
    assert "sm_86" in caught.value.hint


def test_driver_override_forms() -> None:
    assert parse_driver_override("535.129.03") == "535.129.03"
    assert parse_driver_override(" 580 ") == "580"
    assert parse_driver_override("none") is None
    for bad in ("latest", "12.1", "535.129.03.1", "r535"):
        with pytest.raises(UsageError, match="ENVSPEC_CUDA_DRIVER"):
            parse_driver_override(bad)


def test_both_overrides_replace_detection() -> None:
    def run(argv: Sequence[str]) -> CommandResult:
        raise AssertionError(f"ran {argv}")

    facts = detect({"ENVSPEC_CUDA_DRIVER": "535.129.03", "ENVSPEC_GPU_ARCH": "8.0,8.0"}, run, lambda _p: None)
    assert facts.driver == "535.129.03"
    assert facts.driver_source == "ENVSPEC_CUDA_DRIVER"
    assert [gpu.capability for gpu in facts.gpus] == [(8, 0), (8, 0)]
    assert facts.gpus_source == "ENVSPEC_GPU_ARCH"


def test_one_override_keeps_the_other_fact_detected() -> None:
    facts = host("a100-535", {"ENVSPEC_CUDA_DRIVER": "470.182.03", "ENVSPEC_GPU_ARCH": ""})
    assert (facts.driver, facts.driver_source) == ("470.182.03", "ENVSPEC_CUDA_DRIVER")
    assert facts.gpus == (Gpu("NVIDIA A100-SXM4-80GB", (8, 0)),)
    facts = host("cpu-only", {"ENVSPEC_GPU_ARCH": "sm_120"})
    assert (facts.driver, facts.gpus_source) == (None, "ENVSPEC_GPU_ARCH")


# -- the judgement -----------------------------------------------------------------------------------
def test_cu121_torch_2_1_on_an_rtx_5090_has_no_kernels(compat: Compat) -> None:
    found = by_check(judge(host("rtx5090-570"), needs(compat, "2.1.2", "cu121")))
    assert found["driver"].status is Status.PASS
    assert found["gpu 0"].status is Status.FAIL
    assert "sm_120" in found["gpu 0"].detail
    assert "PTX" in found["gpu 0"].detail
    assert found["gpu 0"].fix is not None
    assert (
        found["gpu 0"].fix
        == "no torch 2.1.2 build has sm_120 kernels; the first torch with them: 2.7 (cu128)"
    )


def test_cu130_on_a_v100_is_below_sm_75(compat: Compat) -> None:
    found = by_check(judge(host("v100-580"), needs(compat, "2.14.2", "cu130")))
    assert found["driver"].status is Status.PASS
    assert found["gpu 0"].status is Status.FAIL
    assert "sm_75" in found["gpu 0"].detail
    assert found["gpu 0"].fix == "lock torch 2.14.2+cu126, which runs here"


def test_cu121_on_a_470_driver_fails_the_driver_floor(compat: Compat) -> None:
    found = by_check(judge(host("t4-470"), needs(compat, "2.1.2", "cu121")))
    assert found["driver"].status is Status.FAIL
    assert "525.60.13" in found["driver"].detail
    assert found["driver"].fix is not None
    assert found["driver"].fix.startswith("upgrade the driver to 525.60.13 or newer")
    assert "torch 2.1.2+cu118" in found["driver"].fix  # CUDA 11.8 needs 450.80.02 only
    assert found["gpu 0"].status is Status.WARN  # R470's nvidia-smi cannot tell the capability


def test_a_cpu_build_on_a_gpu_host_is_a_warning(compat: Compat) -> None:
    [finding] = judge(host("a100-535"), needs(compat, "2.13.0", "cpu"))
    assert finding.status is Status.WARN
    assert "without the GPU" in finding.detail
    assert finding.fix is not None
    assert "torch 2.13.0+cu126" in finding.fix


def test_a_cpu_build_on_a_cpu_machine_is_fine(compat: Compat) -> None:
    assert [f.status for f in judge(host("cpu-only"), needs(compat, "2.13.0", "cpu"))] == [Status.PASS]


def test_a_cuda_build_on_a_cpu_machine_names_the_cpu_build(compat: Compat) -> None:
    found = by_check(judge(host("cpu-only"), needs(compat, "2.5.1", "cu124")))
    assert found["driver"].status is Status.FAIL
    assert found["driver"].fix is not None
    assert 'variant = "cpu"' in found["driver"].fix
    assert found["gpu"].status is Status.SKIP


def test_each_gpu_of_a_two_gpu_box_is_judged(compat: Compat) -> None:
    box = host("two-gpu-570")
    found = by_check(judge(box, needs(compat, "2.6.0", "cu124")))
    assert (found["gpu 0"].status, found["gpu 1"].status) == (Status.FAIL, Status.PASS)
    assert all(f.status is Status.PASS for f in judge(box, needs(compat, "2.7.1", "cu128")))


def test_a_driver_too_old_for_cuda_13_names_a_build_that_runs(compat: Compat) -> None:
    found = by_check(judge(host("h100-550"), needs(compat, "2.11.0", "cu130")))
    assert found["driver"].status is Status.FAIL
    assert found["driver"].fix == (
        "upgrade the driver to 580 or newer, or lock torch 2.11.0+cu126 or torch 2.11.0+cu128, which run here"
    )


def test_unknown_gpus_and_unknown_data_are_warnings_never_failures(compat: Compat) -> None:
    found = by_check(judge(host("proc-only-550"), needs(compat, "2.5.1", "cu124")))
    assert (found["driver"].status, found["gpu"].status) == (Status.PASS, Status.WARN)
    assert compat.arch_bounds("2.15.0", "cu132").min is None  # no published matrix for 2.15
    h100 = host("h100-550", {"ENVSPEC_CUDA_DRIVER": "580.65.06"})
    found = by_check(judge(h100, needs(compat, "2.15.0", "cu132")))
    assert (found["driver"].status, found["gpu 0"].status) == (Status.PASS, Status.WARN)
    assert "not fully known" in found["gpu 0"].detail


def test_a_gpu_with_no_device_listed_fails(compat: Compat) -> None:
    found = by_check(judge(host("no-devices-535"), needs(compat, "2.5.1", "cu124")))
    assert found["gpu"].status is Status.FAIL


def machine_with(*capabilities: tuple[int, int], machine: str = "x86_64") -> HostFacts:
    gpus = tuple(Gpu(f"GPU {i}", cap) for i, cap in enumerate(capabilities))
    return HostFacts("580.65.06", "ENVSPEC_CUDA_DRIVER", gpus, "ENVSPEC_GPU_ARCH", machine)


@pytest.mark.parametrize(
    ("capability", "torch", "variant", "status"),
    [
        ((8, 9), "2.1.2", "cu121", Status.PASS),  # Ada runs the sm_86 kernels: in range, not in the list
        ((10, 3), "2.8.0", "cu128", Status.PASS),  # B300 runs the sm_100 kernels
        ((6, 1), "2.14.2", "cu126", Status.PASS),  # a GTX 1080 on the last build with Pascal kernels
        ((12, 1), "2.8.0", "cu128", Status.WARN),  # above sm_120 but of its major: runs, torch warns
        ((7, 0), "2.11.0", "cu128", Status.FAIL),  # 2.11 dropped Volta from cu128 (pytorch#182250)
        ((7, 0), "2.10.0", "cu128", Status.PASS),
        ((12, 0), "2.7.1", "cu126", Status.FAIL),
        ((3, 7), "2.7.1", "cu118", Status.PASS),
    ],
)
def test_coverage_is_the_range_of_kernels(
    compat: Compat, capability: tuple[int, int], torch: str, variant: str, status: Status
) -> None:
    assert by_check(judge(machine_with(capability), needs(compat, torch, variant)))["gpu 0"].status is status


def test_the_arch_data_describes_x86_64_wheels_only(compat: Compat) -> None:
    found = by_check(judge(machine_with((9, 0), machine="aarch64"), needs(compat, "2.14.2", "cu130")))
    assert found["gpu 0"].status is Status.WARN
    assert "aarch64" in found["gpu 0"].detail


# -- the arch data ------------------------------------------------------------------------------------
def test_the_arch_data_is_consistent(compat: Compat) -> None:
    for key, series in compat.torch.items():
        cuda_builds = {v for v in series.variants if cuda_of_variant(v)}
        assert set(series.arch) <= cuda_builds, key
        if Version(key) <= Version("2.14"):
            assert set(series.arch) == cuda_builds, f"{key}: every CUDA build of a known matrix has its range"
        for variant, bounds in series.arch.items():
            if bounds.min and bounds.max:
                assert capability_tuple(bounds.min) <= capability_tuple(bounds.max), (key, variant)
            cuda = cuda_of_variant(variant)
            assert cuda is not None
            if bounds.min and cuda.startswith("13."):
                assert capability_tuple(bounds.min) >= (7, 5), (key, variant)  # CUDA 13 drops sm_70
            if bounds.max:
                # Blackwell kernels (sm_100, sm_120) come with CUDA 12.8 builds (torch 2.7 and newer)
                blackwell = Version(cuda) >= Version("12.8")
                assert (capability_tuple(bounds.max) >= (12, 0)) == blackwell, (key, variant)


def test_torch_own_table_for_cuda_12_8_was_wrong_for_2_11(compat: Compat) -> None:
    assert compat.arch_bounds("2.10.0", "cu128").min == "7.0"
    assert compat.arch_bounds("2.11.0", "cu128").min == "7.5"
    assert compat.arch_bounds("2.7.1", "cu128").min == "7.5"


# -- the command -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_lock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """specs/dev.toml (torch 2.1.2+cu121) as a lock file, made without resolving (made-up packages):
    the host command reads only its torch facts, and the real dev lock is not committed."""
    from envspec.compat import load_compat
    from tests.test_emit_docker import context_for_spec

    ctx = context_for_spec(
        (REPO / "specs" / "dev.toml").read_text(encoding="utf-8"), load_compat(), "pylock.dev.toml"
    )
    path = tmp_path_factory.mktemp("locks") / "pylock.dev.toml"
    path.write_text(ctx.lock_text, encoding="utf-8")
    return path


def envspec(
    *args: str, overrides: Mapping[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env.update(overrides or {})
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )


A100 = {"ENVSPEC_CUDA_DRIVER": "535.129.03", "ENVSPEC_GPU_ARCH": "8.0"}


def test_the_dev_lock_runs_on_an_a100(dev_lock: Path) -> None:
    done = envspec("host", "--lock", str(dev_lock), overrides=A100)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "torch 2.1.2+cu121 (CUDA 12.1): needs a driver >= 525.60.13 and GPUs of sm_50 to sm_90" in done.stdout
    )
    assert "535.129.03 (from ENVSPEC_CUDA_DRIVER)" in done.stdout
    assert "would run here" in done.stdout


def test_the_dev_lock_on_a_5090_and_on_an_old_driver(dev_lock: Path) -> None:
    done = envspec(
        "host",
        "--lock",
        str(dev_lock),
        overrides={"ENVSPEC_CUDA_DRIVER": "570.124.06", "ENVSPEC_GPU_ARCH": "sm_120"},
    )
    assert done.returncode == 1
    assert "FAIL gpu 0: GPU 0 is sm_120" in done.stdout
    done = envspec(
        "host",
        "--lock",
        str(dev_lock),
        overrides={"ENVSPEC_CUDA_DRIVER": "470.182.03", "ENVSPEC_GPU_ARCH": "75"},
    )
    assert done.returncode == 1
    assert "fix: upgrade the driver to 525.60.13 or newer" in done.stdout


def test_a_lock_without_torch_says_so() -> None:
    done = envspec("host", "--lock", "locks/pylock.demo.toml", overrides=A100)
    assert done.returncode == 0
    assert "the lock pins no torch: nothing to check" in done.stdout


def test_a_spec_is_planned_without_locking(tmp_path: Path) -> None:
    spec = tmp_path / "cuda13.toml"
    shutil.copy(REPO / "examples" / "cuda13.toml", spec)
    done = envspec("host", str(spec), overrides=A100)
    assert done.returncode == 1
    assert "torch 2.14.2+cu130 (CUDA 13.0): needs a driver >= 580" in done.stdout
    assert "or lock torch 2.14.2+cu126, which runs here" in done.stdout
    assert not (tmp_path / "locks").exists()
    done = envspec(
        "host", str(spec), overrides={"ENVSPEC_CUDA_DRIVER": "580.65.06", "ENVSPEC_GPU_ARCH": "9.0"}
    )
    assert done.returncode == 0, done.stdout
    done = envspec("host", "examples/cpu.toml", overrides=A100)
    assert done.returncode == 0
    assert "warn build: torch 2.13.0+cpu is a CPU build on a machine with an NVIDIA GPU" in done.stdout


@pytest.mark.parametrize(
    ("variable", "value"), [("ENVSPEC_GPU_ARCH", "8.x"), ("ENVSPEC_CUDA_DRIVER", "latest")]
)
def test_a_malformed_override_is_bad_input(variable: str, value: str, dev_lock: Path) -> None:
    done = envspec("host", "--lock", str(dev_lock), overrides={variable: value})
    assert done.returncode == 2
    assert f"error: {variable}={value!r}" in done.stderr
    assert "hint: expected" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_bad_arguments(tmp_path: Path, dev_lock: Path) -> None:
    done = envspec("host", "examples/cpu.toml", "--lock", str(dev_lock), overrides=A100)
    assert done.returncode == 2
    assert "give a spec or --lock, not both" in done.stderr
    done = envspec("host", cwd=tmp_path, overrides=A100)
    assert done.returncode == 2
    assert "locks/ holds none" in done.stderr
    (tmp_path / "bad.toml").write_text('[env]\nname = "x"\npython = "3.11"\n\n[torch]\nversion = "9.9.9"\n')
    done = envspec("host", str(tmp_path / "bad.toml"), overrides=A100)
    assert done.returncode == 2
    assert "9.9.9" in done.stderr
    assert "Traceback" not in done.stderr


def test_none_overrides_make_a_cpu_machine(dev_lock: Path) -> None:
    done = envspec(
        "host",
        "--lock",
        str(dev_lock),
        overrides={"ENVSPEC_CUDA_DRIVER": "none", "ENVSPEC_GPU_ARCH": "none"},
    )
    assert done.returncode == 1
    assert "driver   none (from ENVSPEC_CUDA_DRIVER)" in done.stdout
    assert "gpus     none (from ENVSPEC_GPU_ARCH)" in done.stdout
    assert "no NVIDIA driver found (ENVSPEC_CUDA_DRIVER=none)" in done.stdout


def test_json_report() -> None:
    done = envspec(
        "host",
        "--json",
        "examples/cuda13.toml",
        overrides={"ENVSPEC_CUDA_DRIVER": "580.65.06", "ENVSPEC_GPU_ARCH": "7.0"},
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["spec"] == "examples/cuda13.toml"
    assert report["host"] == {
        "driver": "580.65.06",
        "driver-source": "ENVSPEC_CUDA_DRIVER",
        "gpus": [{"name": "GPU 0", "capability": "7.0"}],
        "gpus-source": "ENVSPEC_GPU_ARCH",
        "machine": report["host"]["machine"],
        "notes": [],
    }
    assert report["build"] == {
        "torch": "2.14.2",
        "variant": "cu130",
        "cuda": "13.0",
        "min-driver": "580",
        "arch": {"min": "7.5", "max": "12.0"},
        "runs-here": ["cu126"],
    }
    assert [(c["check"], c["status"]) for c in report["checks"]] == [("driver", "pass"), ("gpu 0", "fail")]


no_gpu_here = pytest.mark.skipif(
    shutil.which("nvidia-smi") is not None or Path(PROC_VERSION).exists(),
    reason="this machine has an NVIDIA driver",
)


@no_gpu_here
def test_the_real_detection_on_this_machine_is_a_cpu_host(compat: Compat) -> None:
    facts = detect({}, run_command, read_text)
    assert (facts.driver, facts.gpus, facts.driver_source) == (None, (), "none")
    assert run_command(["envspec-no-such-command"]) is None
    assert read_text("/nonexistent/envspec") is None
    assert [f.status for f in judge(facts, needs(compat, "2.13.0", "cpu"))] == [Status.PASS]


@no_gpu_here
def test_the_command_on_this_machine(dev_lock: Path) -> None:
    done = envspec("host", "--json", "--lock", str(dev_lock))
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["host"]["driver-source"] == "none"
    assert report["checks"][0]["status"] == "fail"
    assert 'variant = "cpu"' in report["checks"][0]["fix"]


def test_a_locks_recorded_kernel_range_is_what_is_checked(dev_lock: Path, tmp_path: Path) -> None:
    """bootstrap.sh checks the range the lock recorded; host answers the same, even when the data moved."""
    text = dev_lock.read_text(encoding="utf-8")
    assert 'arch-max = "9.0"' in text
    edited = tmp_path / "pylock.dev.toml"
    edited.write_text(text.replace('arch-max = "9.0"', 'arch-max = "8.0"'), encoding="utf-8")
    h100 = {"ENVSPEC_CUDA_DRIVER": "550.54.15", "ENVSPEC_GPU_ARCH": "9.0"}
    assert envspec("host", "--lock", str(dev_lock), overrides=h100).returncode == 0
    done = envspec("host", "--lock", str(edited), overrides=h100)
    assert done.returncode == 1
    assert "kernels for sm_50 to sm_80 only" in done.stdout
