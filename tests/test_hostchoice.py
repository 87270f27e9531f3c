"""Which build of a lock of several a machine gets: the install-time rule on recorded host facts, and
``envspec host`` on a spec of several builds (nothing is locked or downloaded)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from envspec.compat import Compat
from envspec.errors import UsageError
from envspec.host import Gpu, HostFacts, detect
from envspec.hostchoice import choose, choose_build, lock_needs, needs_of, older, verdict
from envspec.hostjudge import BuildNeeds
from envspec.lock.model import BuildFacts, Lock, TorchFacts
from envspec.lock.read import read_lock
from tests.support.variants import lab_spec
from tests.test_host import envspec, host

from .conftest import REPO


def build(name: str, floor: str | None, low: str | None, high: str | None) -> BuildFacts:
    cuda = f"{name[2:4]}.{name[4:]}" if name.startswith("cu") else None
    torch = TorchFacts.model_validate(
        {"version": "2.13.0", "variant": name, "local": name, "cuda": cuda, "arch-min": low, "arch-max": high}
    )
    return BuildFacts.model_validate({"name": name, "min-driver": floor, "torch": torch})


# the lab's builds as its lock records them (tests/test_variants.py checks the real lock says so)
CU130 = build("cu130", "580", "7.5", "12.0")
CU126 = build("cu126", "525.60.13", "5.0", "9.0")
CPU = build("cpu", None, None, None)


def lab_lock(*builds: BuildFacts) -> Lock:
    """A lock of several builds: only its ``variants`` matter to the choice."""
    lock, _ = read_lock(REPO / "locks" / "pylock.demo.toml")
    return dataclasses.replace(lock, variants=builds or (CU130, CU126, CPU))


def machine(driver: str, arch: str) -> HostFacts:
    """A machine described by the overrides alone (nothing is run or read)."""
    return detect({"ENVSPEC_CUDA_DRIVER": driver, "ENVSPEC_GPU_ARCH": arch}, machine="x86_64")


# -- the rule ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("driver", "arch", "chosen"),
    [
        ("535.129.03", "8.6", "cu126"),  # too old a driver for CUDA 13
        ("580.65", "7.0", "cu126"),  # the cu130 kernels start at sm_75
        ("580.65", "12.0", "cu130"),
        ("580.65", "8.6,12.0", "cu130"),  # every GPU within its kernels
        ("580", "9.0", "cu130"),  # the floor itself runs
        ("none", "none", "cpu"),
        ("470.82.01", "7.5", "cpu"),
        ("580.65.06", "none", "cu130"),  # a driver and no GPU listed: the driver alone decides
    ],
)
def test_the_first_build_that_runs_is_chosen(driver: str, arch: str, chosen: str) -> None:
    choice = choose_build(lab_lock(), machine(driver, arch))
    assert choice.chosen == chosen
    assert choice.preferred == chosen
    assert not choice.forced
    assert [v.name for v in choice.verdicts] == ["cu130", "cu126", "cpu"]


@pytest.mark.parametrize(
    ("name", "chosen"),
    [
        ("a100-535", "cu126"),
        ("h100-550", "cu126"),
        ("v100-580", "cu126"),  # a new enough driver, too old a GPU for cu130
        ("rtx5090-570", "cpu"),  # cu130 wants 580, cu126 has no sm_120 kernels
        ("two-gpu-570", "cpu"),
        ("t4-470", "cpu"),
        ("proc-only-550", "cu126"),  # the GPUs cannot be listed: judged by the driver
        ("no-devices-535", "cu126"),
        ("cpu-only", "cpu"),
    ],
)
def test_the_choice_on_recorded_machines(name: str, chosen: str) -> None:
    assert choose_build(lab_lock(), host(name)).chosen == chosen


def test_each_build_says_why_in_one_line() -> None:
    lines = [v.line for v in choose_build(lab_lock(), machine("535.129.03", "8.6")).verdicts]
    assert lines == [
        "cu130: needs an NVIDIA driver >= 580, this machine has 535.129.03",
        "cu126: driver 535.129.03 >= 525.60.13; every GPU within its kernels (sm_50 to sm_90)",
        "cpu: runs on any machine",
    ]
    (v100,) = [
        v for v in choose_build(lab_lock(), machine("580.65", "8.0,7.0")).verdicts if v.name == "cu130"
    ]
    assert v100.line == "cu130: has kernels for sm_75 to sm_120, GPU 1 is sm_70"
    assert not v100.runs
    none = choose_build(lab_lock(), machine("none", "none")).verdict("cu126")
    assert none.reason == "needs an NVIDIA driver >= 525.60.13, this machine has none"
    alone = choose_build(lab_lock(), machine("580.65.06", "none")).verdict("cu130")
    assert alone.reason == "driver 580.65.06 >= 580; no GPU listed, judged by the driver alone"


def test_no_build_runs_without_a_cpu_build_is_a_refusal() -> None:
    choice = choose_build(lab_lock(CU130, CU126), machine("470.82.01", "8.6"))
    assert choice.chosen is None
    assert choice.preferred is None
    assert [v.runs for v in choice.verdicts] == [False, False]
    assert choice.verdict("cu126").reason == "needs an NVIDIA driver >= 525.60.13, this machine has 470.82.01"
    assert choose_build(lab_lock(CU130, CU126), machine("none", "none")).chosen is None


def test_a_forced_build_is_judged_whatever_the_machine_prefers() -> None:
    choice = choose_build(lab_lock(), machine("535.129.03", "8.6"), forced="cpu")
    assert (choice.chosen, choice.forced, choice.preferred) == ("cpu", True, "cu126")
    forced = choose_build(lab_lock(), machine("535.129.03", "8.6"), forced="cu130")
    assert forced.chosen == "cu130"
    assert not forced.verdict("cu130").runs  # named, not judged fit
    with pytest.raises(UsageError) as caught:
        choose_build(lab_lock(), machine("535.129.03", "8.6"), forced="cu121")
    assert "--variant cu121" in str(caught.value)
    assert caught.value.hint == "its builds, in order of preference: cu130, cu126, cpu"


def test_driver_versions_compare_part_by_part() -> None:
    # as strings "105" < "60"; as numbers 525.105.17 is above 525.60.13
    assert choose_build(lab_lock(CU126), machine("525.105.17", "8.6")).chosen == "cu126"
    assert choose_build(lab_lock(CU126), machine("525.60.9", "8.6")).chosen is None
    assert choose_build(lab_lock(CU126), machine("525.60.13", "8.6")).chosen == "cu126"
    assert not older("580", "580.0")  # a missing part counts as 0
    assert older("580", "580.0.1")


def test_a_newer_minor_or_an_unknown_capability_does_not_exclude() -> None:
    # sm_121 beside sm_120 kernels: the same major runs them (a warning in envspec host, not a refusal)
    assert choose_build(lab_lock(CU130), machine("580.65", "12.1")).chosen == "cu130"
    unknown = HostFacts("580.65", "nvidia-smi", (Gpu("Tesla T4", None),), "nvidia-smi", "x86_64")
    assert choose_build(lab_lock(CU130), unknown).chosen == "cu130"
    # no recorded kernels: only the driver decides
    bare = build("cu126", "525.60.13", None, None)
    assert choose_build(lab_lock(bare), machine("535.129.03", "3.5")).chosen == "cu126"


def test_a_builds_recorded_facts_win_over_the_data(compat: Compat) -> None:
    edited = build("cu126", "530", "6.0", "8.0")
    needs = needs_of(edited, compat)
    assert (needs.min_driver, needs.arch_min, needs.arch_max) == ("530", (6, 0), (8, 0))
    assert needs.catalog  # the data adds what a fix can name
    h100 = machine("535.129.03", "9.0")
    assert verdict(h100, needs_of(CU126, compat)).runs  # the data's and the lab's cu126: up to sm_90
    assert not verdict(h100, needs_of(edited)).runs  # the recorded sm_80 is what counts
    assert not verdict(h100, needs).runs
    assert not verdict(machine("525.60.13", "8.0"), needs).runs  # and the recorded floor
    siblings = lock_needs(lab_lock(), compat)
    assert [o.variant for o in siblings[0].others] == ["cu126", "cpu"]
    assert {n.alternative for n in siblings} == {"install"}


def test_choose_takes_planned_builds_too(compat: Compat) -> None:
    from envspec.hostjudge import build_needs

    planned: list[BuildNeeds] = [build_needs(compat, "2.13.0", v) for v in ("cu130", "cu126", "cpu")]
    assert choose(planned, machine("535.129.03", "8.6")).chosen == "cu126"


# -- envspec host on a spec of several builds -------------------------------------------------------
def write_spec(tmp_path: Path, builds: tuple[str, ...] = ("cu130", "cu126", "cpu")) -> Path:
    spec = tmp_path / "lab.toml"
    dead = "http://127.0.0.1:9"  # nothing is fetched: the spec is planned, not locked
    spec.write_text(lab_spec(f"{dead}/simple", dead + "/{variant}/simple", builds=builds), encoding="utf-8")
    return spec


def test_host_on_a_spec_names_the_build_this_machine_gets(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    done = envspec(
        "host", str(spec), overrides={"ENVSPEC_CUDA_DRIVER": "535.129.03", "ENVSPEC_GPU_ARCH": "8.6"}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"spec {spec}: 3 torch builds, the first that runs here is installed" in out
    assert "no   cu130: needs an NVIDIA driver >= 580, this machine has 535.129.03" in out
    assert "runs cu126: driver 535.129.03 >= 525.60.13" in out
    assert "this machine gets cu126:" in out
    assert "ok   gpu 0: GPU 0 is sm_86, within the kernels of torch 2.13.0+cu126" in out
    assert "would run here" in out
    assert not (tmp_path / "locks").exists()


def test_host_refuses_a_machine_no_build_runs_on(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, ("cu130", "cu126"))
    old = {"ENVSPEC_CUDA_DRIVER": "470.82.01", "ENVSPEC_GPU_ARCH": "8.6"}
    done = envspec("host", str(spec), overrides=old)
    assert done.returncode == 1
    assert "this machine gets none of them; the first, cu130:" in done.stdout
    assert "no build runs here" in done.stdout
    document = json.loads(envspec("host", "--json", str(spec), overrides=old).stdout)
    assert document["ok"] is False
    assert document["variants"]["chosen"] is None
    assert [b["runs"] for b in document["variants"]["builds"]] == [False, False]


def test_host_variant_judges_the_named_build(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    r535 = {"ENVSPEC_CUDA_DRIVER": "535.129.03", "ENVSPEC_GPU_ARCH": "8.6"}
    done = envspec("host", str(spec), "--variant", "cu130", overrides=r535)
    assert done.returncode == 1
    assert "build cu130 (--variant; this machine would get cu126):" in done.stdout
    assert (
        "fix: upgrade the driver to 580 or newer, or install torch 2.13.0+cu126, which runs here"
        in done.stdout
    )
    cpu = envspec("host", "--json", str(spec), "--variant", "cpu", overrides=r535)
    assert cpu.returncode == 0
    document = json.loads(cpu.stdout)
    assert document["variants"] == {
        "chosen": "cpu",
        "forced": True,
        "preferred": "cu126",
        "builds": [
            {
                "name": "cu130",
                "runs": False,
                "reason": "needs an NVIDIA driver >= 580, this machine has 535.129.03",
            },
            {
                "name": "cu126",
                "runs": True,
                "reason": "driver 535.129.03 >= 525.60.13; every GPU within its kernels (sm_50 to sm_90)",
            },
            {"name": "cpu", "runs": True, "reason": "runs on any machine"},
        ],
    }
    assert document["build"]["variant"] == "cpu"
    assert [c["status"] for c in document["checks"]] == ["warn"]  # a CPU build on a GPU machine
    unknown = envspec("host", str(spec), "--variant", "cu121", overrides=r535)
    assert unknown.returncode == 2
    assert "error: --variant cu121: the lock has no such torch build" in unknown.stderr
    assert "hint: its builds, in order of preference: cu130, cu126, cpu" in unknown.stderr


def test_host_variant_on_a_spec_of_one_build_is_bad_input() -> None:
    done = envspec("host", "examples/cpu.toml", "--variant", "cpu", overrides={"ENVSPEC_CUDA_DRIVER": "none"})
    assert done.returncode == 2
    assert "--variant cpu: this spec holds one torch build" in done.stderr
    plain = envspec("host", "--json", "examples/cpu.toml", overrides={"ENVSPEC_CUDA_DRIVER": "none"})
    assert json.loads(plain.stdout)["variants"] is None
