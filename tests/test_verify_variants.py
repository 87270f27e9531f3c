"""``envspec host`` and ``envspec verify`` for a lock of several torch builds, for real: the lab's lock
(tests.support.variants, on 127.0.0.1), environments built by bootstrap.sh and one built by hand
exactly as the installer contract says (``envspec-lock.toml``, ``envspec-variant``, ``envspec-stamp``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envspec.lock.read import read_lock
from tests.support.isolation import isolated_env
from tests.test_host import envspec
from tests.test_variants import Lab, bootstrap, bootstrap_sh, lab, lab_lock  # noqa: F401 - fixtures

R535 = {"ENVSPEC_CUDA_DRIVER": "535.129.03", "ENVSPEC_GPU_ARCH": "8.6"}
R470 = {"ENVSPEC_CUDA_DRIVER": "470.82.01", "ENVSPEC_GPU_ARCH": "8.6"}
R580 = {"ENVSPEC_CUDA_DRIVER": "580.65.06", "ENVSPEC_GPU_ARCH": "9.0"}


def verify(prefix: Path, *args: str, host: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = envspec("verify", "--python", str(prefix / "bin" / "python"), "--json", *args, overrides=host)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def checks(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["group"], c["name"]): c for c in document["checks"]}


def not_passing(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["group"], c["name"], c["status"]) for c in document["checks"] if c["status"] != "pass"]


@pytest.fixture(scope="module")
def cu126_env(bootstrap_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    prefix = tmp_path_factory.mktemp("cu126") / "env"
    done = bootstrap(bootstrap_sh, prefix, **R535)
    assert done.returncode == 0, done.stderr
    assert (prefix / "envspec-variant").read_text() == "cu126\n"
    return prefix


@pytest.fixture(scope="module")
def cu130_env(bootstrap_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    prefix = tmp_path_factory.mktemp("cu130") / "env"
    done = bootstrap(bootstrap_sh, prefix, **R580)
    assert done.returncode == 0, done.stderr
    assert (prefix / "envspec-variant").read_text() == "cu130\n"
    return prefix


# -- envspec host on the lock ------------------------------------------------------------------------
def test_host_on_the_lock_chooses_as_bootstrap_does(lab_lock: Path) -> None:  # noqa: F811
    done = envspec("host", "--lock", str(lab_lock), overrides=R535)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no   cu130: needs an NVIDIA driver >= 580, this machine has 535.129.03" in done.stdout
    assert "this machine gets cu126:" in done.stdout
    document = json.loads(envspec("host", "--json", "--lock", str(lab_lock), overrides=R580).stdout)
    assert (document["ok"], document["variants"]["chosen"], document["build"]["variant"]) == (
        True,
        "cu130",
        "cu130",
    )
    assert document["build"]["runs-here"] == ["cu126"]  # the lock's other CUDA builds that run here
    old = envspec("host", "--lock", str(lab_lock), "--variant", "cu126", overrides=R470)
    assert old.returncode == 1
    assert "build cu126 (--variant; this machine would get cpu):" in old.stdout
    assert "FAIL driver: driver 470.82.01 (ENVSPEC_CUDA_DRIVER) is older than 525.60.13" in old.stdout


def test_host_refuses_where_bootstrap_refuses(lab: Lab) -> None:  # noqa: F811
    gpu_only = lab.lock("gpu-only-host", builds=("cu130", "cu126"))
    done = envspec("host", "--lock", str(gpu_only), overrides=R470)
    assert done.returncode == 1
    assert "no build runs here" in done.stdout
    unknown = envspec("host", "--lock", str(gpu_only), "--variant", "cpu", overrides=R470)
    assert unknown.returncode == 2
    assert "hint: its builds, in order of preference: cu130, cu126" in unknown.stderr


@pytest.mark.parametrize(
    ("driver", "arch"),
    [
        ("580.65.06", "12.1"),  # a newer minor than the newest kernels: they run on it
        ("525.105.17", "8.6"),  # compared number by number, not as text
        ("580", "7.5,7.0"),  # one GPU below cu130's kernels
        ("580.65.06", "none"),  # a driver and no GPU: the driver alone
        ("none", "none"),
    ],
)
def test_host_and_bootstrap_choose_alike(
    bootstrap_sh: Path,  # noqa: F811
    lab_lock: Path,  # noqa: F811
    tmp_path: Path,
    driver: str,
    arch: str,
) -> None:
    machine = {"ENVSPEC_CUDA_DRIVER": driver, "ENVSPEC_GPU_ARCH": arch}
    document = json.loads(envspec("host", "--json", "--lock", str(lab_lock), overrides=machine).stdout)
    built = bootstrap(bootstrap_sh, tmp_path / "env", **machine)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "env" / "envspec-variant").read_text() == f"{document['variants']['chosen']}\n"


# -- envspec verify on environments bootstrap.sh built ----------------------------------------------
def test_the_built_build_verifies_on_the_machine_it_was_chosen_for(cu126_env: Path) -> None:
    code, document = verify(cu126_env, host=R535)
    assert code == 0, not_passing(document)
    assert not_passing(document) == []
    lock, _ = read_lock(cu126_env / "envspec-lock.toml")
    assert (document["build"], document["build-from"]) == ("cu126", "envspec-variant")
    assert document["env-id"] == lock.select("cu126").env_id
    by = checks(document)
    assert by[("identity", "build")]["detail"] == "torch build cu126 (from envspec-variant)"
    assert by[("torch", "build")]["detail"] == "torch.version.cuda is 12.6"
    assert by[("host", "build")]["detail"].startswith("this machine gets build cu126: driver 535.129.03")
    assert set(by) >= {("host", "driver"), ("host", "gpu 0"), ("cuda-libs", "one CUDA major")}
    text = envspec("verify", "--python", str(cu126_env / "bin" / "python"), overrides=R535)
    assert f"against environment {lock.select('cu126').env_id} (torch build cu126)" in text.stdout


def test_a_driver_below_the_builds_floor_fails(cu126_env: Path) -> None:
    code, document = verify(cu126_env, host=R470)
    assert code == 1
    assert not_passing(document) == [("host", "build", "fail"), ("host", "driver", "fail")]
    build = checks(document)[("host", "build")]
    assert build["detail"] == (
        "build cu126 does not run on this machine: it needs an NVIDIA driver >= 525.60.13,"
        " this machine has 470.82.01"
    )
    assert build["fix"] == "rebuild the environment here: bootstrap.sh would choose cpu"


def test_a_build_this_machine_would_not_choose(cu130_env: Path, cu126_env: Path) -> None:
    code, document = verify(cu130_env, host=R535)  # this machine gets cu126: cu130 does not run here
    assert code == 1
    build = checks(document)[("host", "build")]
    assert build["status"] == "fail"
    assert "build cu130 does not run on this machine: it needs an NVIDIA driver >= 580" in build["detail"]
    assert build["fix"] == "rebuild the environment here: bootstrap.sh would choose cu126"
    # the other way round the environment runs, but a rebuild would get the build the lock prefers
    code, document = verify(cu126_env, host=R580)
    assert code == 0
    assert not_passing(document) == [("host", "build", "warn")]
    assert (
        "this machine would get cu130, which the lock prefers"
        in checks(document)[("host", "build")]["detail"]
    )


def test_no_driver_skips_the_host_checks_unless_gpu_is_asked(cu126_env: Path) -> None:
    none = {"ENVSPEC_CUDA_DRIVER": "none", "ENVSPEC_GPU_ARCH": "none"}
    code, document = verify(cu126_env, host=none)
    assert code == 0
    assert not_passing(document) == [("host", "build", "skip")]
    assert "this machine would get cpu" in checks(document)[("host", "build")]["detail"]


def test_verify_variant_names_the_build_to_verify(cu126_env: Path) -> None:
    code, document = verify(cu126_env, "--variant", "cu126", host=R535)
    assert code == 0
    assert document["build-from"] == "--variant"
    code, document = verify(cu126_env, "--variant", "cpu", host=R535)
    assert code == 1
    by = checks(document)
    assert by[("identity", "build")]["status"] == "warn"
    assert "envspec-variant names cu126" in by[("identity", "build")]["detail"]
    assert by[("identity", "stamp")]["status"] == "fail"
    assert by[("packages", "nvidia-cublas-cu12")]["status"] == "fail"  # installed, not in the cpu build
    unknown = envspec(
        "verify", "--python", str(cu126_env / "bin" / "python"), "--variant", "cu121", overrides=R535
    )
    assert unknown.returncode == 2
    assert "hint: its builds, in order of preference: cu130, cu126, cpu" in unknown.stderr
    one = envspec("verify", "--lock", "locks/pylock.demo.toml", "--variant", "cpu", overrides=R535)
    assert one.returncode == 2
    assert "holds one torch build" in one.stderr


# -- an environment built by hand, as the installer contract says ------------------------------------
@pytest.fixture
def by_hand(lab: Lab, lab_lock: Path, tmp_path: Path) -> Path:  # noqa: F811
    """The cu126 build pip-installed from the lab's files (no index, no bootstrap.sh), then the lock
    copy, ``envspec-variant`` and ``envspec-stamp`` written exactly as the contract says."""
    prefix = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True)
    pip = [str(prefix / "bin" / "python"), "-m", "pip", "--isolated", "install", "-q", "--no-index"]
    links = [
        "--find-links",
        str(lab.root / "general"),
        "--find-links",
        str(lab.root / "torch" / "cu126" / "files"),
    ]
    subprocess.run([*pip, *links, "torch==2.13.0+cu126"], check=True, capture_output=True, env=isolated_env())
    text = lab_lock.read_text(encoding="utf-8")
    lock, _ = read_lock(lab_lock)
    (prefix / "envspec-lock.toml").write_text(text, encoding="utf-8")
    (prefix / "envspec-variant").write_text("cu126\n", encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    (prefix / "envspec-stamp").write_text(f"{lock.select('cu126').env_id} {digest}\n", encoding="utf-8")
    return prefix


def test_an_environment_built_by_the_contract_verifies(by_hand: Path) -> None:
    code, document = verify(by_hand, host=R535)
    assert code == 0, not_passing(document)
    assert document["build"] == "cu126"
    code, document = verify(by_hand, host=R470)
    assert code == 1
    assert [n for n in not_passing(document) if n[2] == "fail"] == [
        ("host", "build", "fail"),
        ("host", "driver", "fail"),
    ]


def test_without_envspec_variant_the_torch_label_names_the_build(by_hand: Path) -> None:
    (by_hand / "envspec-variant").unlink()
    code, document = verify(by_hand, host=R535)
    assert code == 0
    build = checks(document)[("identity", "build")]
    assert build["status"] == "warn"
    assert build["detail"] == (
        "torch build cu126, from the installed torch 2.13.0+cu126: the environment has no envspec-variant"
    )
    (by_hand / "envspec-variant").write_text("cu121\n", encoding="utf-8")
    code, document = verify(by_hand, host=R535)
    assert (code, document["build"], document["build-from"]) == (
        0,
        "cu126",
        "the installed torch 2.13.0+cu126",
    )
    assert (
        "envspec-variant names cu121, a build the lock lacks"
        in checks(document)[("identity", "build")]["detail"]
    )


def test_an_environment_whose_build_cannot_be_told_fails(by_hand: Path) -> None:
    (by_hand / "envspec-variant").unlink()
    python = str(by_hand / "bin" / "python")
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "torch"], check=True, env=isolated_env())
    code, document = verify(by_hand, host=R535)
    assert code == 1
    assert document["build"] is None
    (failed,) = document["checks"]
    assert failed["status"] == "fail"
    assert failed["detail"] == (
        "the environment has no envspec-variant, and torch is not installed: which of the lock's builds"
        " (cu130, cu126, cpu) this environment holds cannot be told"
    )
    assert failed["fix"] is not None
    assert "--variant NAME" in failed["fix"]


def test_the_cuda_major_of_a_build_without_a_cuda_table_is_its_torchs(lab_lock: Path) -> None:  # noqa: F811
    from envspec.verify.host_checks import check_cuda_majors
    from envspec.verify.model import Status

    view = read_lock(lab_lock)[0].select("cu126")
    assert view.facts.cuda is None  # the lab's spec has no [cuda] table: only torch says CUDA 12.6
    report = {"distributions": [{"name": "nvidia-cublas-cu13", "version": "13.0.2"}]}
    (found,) = check_cuda_majors(view, report)
    assert found.status is Status.FAIL
    assert found.detail == "the nvidia wheels are for CUDA 13; the lock's torch build is for CUDA 12"
