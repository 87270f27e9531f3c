"""One lock for a mixed GPU lab: torch builds resolved together, one chosen per machine at install.

The lab (tests.support.variants) serves torch 2.13.0 ``+cu130``, ``+cu126`` and ``+cpu`` stand-ins
from one static index per build (``.../{variant}/simple``) and their ``nvidia-*`` dependencies from
a general index, all on 127.0.0.1; ``envspec lock``, the standard installers and the emitted
``bootstrap.sh`` run for real against them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from envspec.lock.read import InvalidLockError, parse_lock, read_lock
from tests.support.index import IndexServer, serve_index
from tests.support.isolation import isolated_env, no_network
from tests.support.variants import BUILDS, build_lab, lab_spec, serve_static, write_simple_tree
from tests.support.wheels import build_wheel

EXPECTED = {
    "cu130": {"filelock", "nvidia-cublas-cu13", "nvidia-cudnn-cu13", "torch"},
    "cu126": {"filelock", "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "torch"},
    "cpu": {"filelock", "torch"},
}


def envspec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


class Lab:
    def __init__(self, root: Path, general: IndexServer, torch_base: str) -> None:
        self.root, self.general, self.torch_base = root, general, torch_base

    def spec(self, name: str, *, builds: tuple[str, ...] = BUILDS, extra: str = "") -> Path:
        path = self.root / f"{name}.toml"
        path.write_text(
            lab_spec(self.general.url, self.torch_base + "/{variant}/simple", builds=builds, extra=extra)
        )
        return path

    def lock(self, name: str, **kwargs: object) -> Path:
        spec = self.spec(name, **kwargs)  # type: ignore[arg-type]
        out = self.root / f"pylock.{name}.toml"
        done = envspec("lock", str(spec), "-o", str(out))
        assert done.returncode == 0, done.stderr
        return out

    def emit(self, lock: Path) -> Path:
        out = self.root / f"out-{lock.stem}"
        done = envspec("emit", "--lock", str(lock), "--target", "venv", "-o", str(out))
        assert done.returncode == 0, done.stderr
        return out / "bootstrap.sh"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = build_lab(tmp_path_factory.mktemp("lab"))
    with serve_index(root / "general") as general, serve_static(root / "torch") as torch_base:
        yield Lab(root, general, torch_base)


@pytest.fixture(scope="module")
def lab_lock(lab: Lab) -> Path:
    return lab.lock("lab")


@pytest.fixture(scope="module")
def bootstrap_sh(lab: Lab, lab_lock: Path) -> Path:
    return lab.emit(lab_lock)


# -- the lock ---------------------------------------------------------------------------------------
def test_lock_is_pep751_and_each_extra_selects_one_build(lab_lock: Path) -> None:
    data = tomllib.loads(lab_lock.read_text(encoding="utf-8"))
    pylock = Pylock.from_dict(data)
    assert data["extras"] == list(BUILDS)
    for build in BUILDS:
        chosen = {(p.name, str(p.version)) for p, _ in pylock.select(extras=[build])}
        assert {name for name, _ in chosen} == EXPECTED[build]
        assert ("torch", f"2.13.0+{build}") in chosen
    # the shared package is one entry with no marker; no build's entry is selected without an extra
    assert {p.name for p, _ in pylock.select()} == {"filelock"}
    assert sum(1 for p in data["packages"] if p["name"] == "filelock") == 1


def test_lock_records_each_build_and_reads_back_as_views(lab_lock: Path) -> None:
    lock, _ = read_lock(lab_lock)
    assert lock.variant_names == BUILDS
    floors = {b.name: (b.min_driver, b.torch.arch_min, b.torch.arch_max) for b in lock.variants}
    assert floors == {
        "cu130": ("580", "7.5", "12.0"),
        "cu126": ("525.60.13", "5.0", "9.0"),
        "cpu": (None, None, None),
    }
    views = lock.builds()
    assert [v.variant for v in views] == list(BUILDS)
    assert len({v.env_id for v in views} | {lock.env_id}) == 4
    for view in views:
        assert {p.name for p in view.packages} == EXPECTED[view.variant or ""]
        assert view.facts.torch is not None
        assert view.facts.torch.variant == view.variant
    with pytest.raises(KeyError):
        lock.select("rocm6.0")


def test_lock_records_the_variant_metadata_an_index_serves(lab: Lab, lab_lock: Path) -> None:
    data = tomllib.loads(lab_lock.read_text(encoding="utf-8"))
    found = {p["version"]: p.get("variants-json") for p in data["packages"] if p["name"] == "torch"}
    served = lab.root / "torch" / "cu126" / "files" / "torch-2.13.0+cu126-variants.json"
    assert found["2.13.0+cu126"] == {
        "url": f"{lab.torch_base}/cu126/files/torch-2.13.0+cu126-variants.json",
        "size": served.stat().st_size,
        "hashes": {"sha256": hashlib.sha256(served.read_bytes()).hexdigest()},
    }
    assert found["2.13.0+cu130"] is None
    assert found["2.13.0+cpu"] is None
    lock, _ = read_lock(lab_lock)
    (torch,) = (p for p in lock.select("cu126").packages if p.name == "torch")
    assert torch.variants_json is not None
    assert torch.variants_json.name == served.name


def test_relock_is_byte_identical_and_fresh(lab: Lab, lab_lock: Path) -> None:
    again = lab.root / "pylock.again.toml"
    done = envspec("lock", str(lab.root / "lab.toml"), "-o", str(again), "--no-cache")
    assert done.returncode == 0, done.stderr
    assert again.read_bytes() == lab_lock.read_bytes()
    check = envspec("lock", str(lab.root / "lab.toml"), "-o", str(lab_lock), "--check")
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("marker = \"'cu126' in extras\"", "marker = \"'cu118' in extras\"", "names the builds cu118"),
        (
            "marker = \"'cu126' in extras\"",
            "marker = \"'cu126' in extras or os_name == 'posix'\"",
            "tests extras",
        ),
        ('extras = ["cu130", "cu126", "cpu"]', 'extras = ["cu126", "cu130", "cpu"]', "extras"),
        ('name = "cu126"\n', 'name = "cu121"\n', "builds"),
        ("cu126/files/torch-2.13.0+cu126-variants.json", "cu126/files/torch.json", "-variants.json"),
    ],
)
def test_hand_edited_build_markers_are_refused(lab_lock: Path, old: str, new: str, fragment: str) -> None:
    text = lab_lock.read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(InvalidLockError) as caught:
        parse_lock(text.replace(old, new, 1), "pylock.toml")
    assert fragment in str(caught.value.diagnostics)


# -- standard installers ----------------------------------------------------------------------------
def _fresh_venv(path: Path) -> Path:
    subprocess.run(["uv", "venv", "--no-config", "-q", "--python", sys.executable, str(path)], check=True)
    return path / "bin" / "python"


def _installed(python: Path) -> dict[str, str]:
    done = subprocess.run(
        ["uv", "pip", "list", "--no-config", "--python", str(python), "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("==") for line in done.stdout.split())


def test_uv_installs_one_build_from_the_lock(lab_lock: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "--no-config",
            "--preview-features",
            "pylock",
            "--python",
            str(python),
            "-r",
            str(lab_lock),
            "--extra",
            "cu126",
        ],
        check=True,
        capture_output=True,
        env=isolated_env(),
    )
    installed = _installed(python)
    assert set(installed) == EXPECTED["cu126"]
    assert installed["torch"] == "2.13.0+cu126"


def test_pip_installs_one_build_from_the_lock(lab_lock: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-index",
            "-r",
            f"{lab_lock}[cpu]",
        ],
        check=True,
        capture_output=True,
        env=isolated_env(),
    )
    installed = _installed(python)
    assert set(installed) == EXPECTED["cpu"]
    assert installed["torch"] == "2.13.0+cpu"


# -- bootstrap.sh chooses per machine ---------------------------------------------------------------
def bootstrap(script: Path, prefix: Path, *args: str, **host: str) -> subprocess.CompletedProcess[str]:
    env = isolated_env()
    env.update(host)
    return subprocess.run(
        ["bash", str(script), "--prefix", str(prefix), "--python", sys.executable, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def torch_of(prefix: Path) -> str:
    done = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("driver", "gpus", "chosen", "reason"),
    [
        (
            "535.129.03",
            "8.6",
            "cu126",
            "build cu130 skipped: it needs an NVIDIA driver >= 580, and this one is 535.129.03",
        ),
        (
            "580.65.06",
            "7.0",
            "cu126",
            "build cu130 skipped: it has kernels for sm_75 to sm_120, and a GPU here is sm_70",
        ),
        (
            "580.65.06",
            "8.6,12.0",
            "cu130",
            "build cu130: driver 580.65.06 >= 580; GPUs within sm_75 to sm_120",
        ),
        (
            "none",
            "none",
            "cpu",
            "build cu126 skipped: it needs an NVIDIA driver >= 525.60.13, and there is none here",
        ),
    ],
)
def test_bootstrap_installs_the_first_build_the_host_runs(
    bootstrap_sh: Path, tmp_path: Path, driver: str, gpus: str, chosen: str, reason: str
) -> None:
    prefix = tmp_path / "env"
    done = bootstrap(bootstrap_sh, prefix, ENVSPEC_CUDA_DRIVER=driver, ENVSPEC_GPU_ARCH=gpus)
    assert done.returncode == 0, done.stderr
    assert f"envspec: {reason}\n" in done.stderr
    assert f"(torch build {chosen})" in done.stderr
    assert (prefix / "envspec-variant").read_text() == f"{chosen}\n"
    assert torch_of(prefix) == f"2.13.0+{chosen}"
    lock, _ = read_lock(prefix / "envspec-lock.toml")
    assert (prefix / "envspec-stamp").read_text().split()[0] == lock.select(chosen).env_id


def test_bootstrap_variant_forces_a_build_and_switches_in_place(bootstrap_sh: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    first = bootstrap(
        bootstrap_sh, prefix, "--installer", "pip", ENVSPEC_CUDA_DRIVER="580.65.06", ENVSPEC_GPU_ARCH="9.0"
    )
    assert first.returncode == 0, first.stderr
    assert torch_of(prefix) == "2.13.0+cu130"
    forced = bootstrap(bootstrap_sh, prefix, "--variant", "cpu", ENVSPEC_CUDA_DRIVER="580.65.06")
    assert forced.returncode == 0, forced.stderr
    assert "build cpu: chosen with --variant" in forced.stderr
    assert torch_of(prefix) == "2.13.0+cpu"
    site = next((prefix / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("nvidia_*"))  # the old build's packages went with it
    assert [p.name for p in (prefix.parent / "env.envspec").iterdir() if not p.name.startswith(".")] == [
        (prefix.resolve()).name
    ]
    again = bootstrap(bootstrap_sh, prefix, "--variant", "cpu")
    assert again.returncode == 0
    assert "nothing to do" in again.stderr


def test_bootstrap_refuses_an_unknown_build(bootstrap_sh: Path, tmp_path: Path) -> None:
    done = bootstrap(bootstrap_sh, tmp_path / "env", "--variant", "cu121")
    assert done.returncode == 2
    assert "--variant cu121: the lock has the builds cu130 cu126 cpu" in done.stderr
    assert not (tmp_path / "env").exists()


def test_bootstrap_refuses_a_host_no_build_runs_before_any_download(lab: Lab, tmp_path: Path) -> None:
    script = lab.emit(lab.lock("gpu-only", builds=("cu130", "cu126")))
    before = len(lab.general.requests)
    done = bootstrap(script, tmp_path / "env", ENVSPEC_CUDA_DRIVER="470.82.01", ENVSPEC_GPU_ARCH="8.6")
    assert done.returncode == 1
    assert (
        "none of the lock's builds (cu130 cu126) runs on this machine; nothing was downloaded" in done.stderr
    )
    assert (
        "build cu126 skipped: it needs an NVIDIA driver >= 525.60.13, and this one is 470.82.01"
        in done.stderr
    )
    assert lab.general.requests[before:] == []
    assert not (tmp_path / "env").exists()


def test_a_pack_of_the_lab_installs_the_chosen_build_with_no_network(lab_lock: Path, tmp_path: Path) -> None:
    """Every build's files travel in the pack; the machine without a network still picks its own."""
    pack = tmp_path / "lab.pack.sh"
    done = envspec("pack", str(lab_lock), "-o", str(pack))
    assert done.returncode == 0, done.stderr
    env = isolated_env()
    env.update(ENVSPEC_CUDA_DRIVER="580.65.06", ENVSPEC_GPU_ARCH="7.0")
    command = no_network(["bash", str(pack), "--prefix", str(tmp_path / "env"), "--python", sys.executable])
    installed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert installed.returncode == 0, installed.stderr
    assert (
        "build cu130 skipped: it has kernels for sm_75 to sm_120, and a GPU here is sm_70" in installed.stderr
    )
    assert torch_of(tmp_path / "env") == "2.13.0+cu126"


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (
            '[[tool.envspec.variants]]\nname = "cpu"',
            '[[tool.envspec.variants]]\nname = "cpu;touch pwned"',
            "invalid-variant",
        ),
        ('min-driver = "580"', 'min-driver = "580 $(touch pwned)"', "invalid-version"),
        ("marker = \"'cu126' in extras\"", "marker = \"'cu126$(touch pwned)' in extras\"", "invalid-marker"),
        (
            'variants = ["cu130", "cu126", "cpu"]',
            'variants = ["cu130", "cu126`touch pwned`", "cpu"]',
            "invalid-variant",
        ),
        ('arch-min = "7.5"', "arch-min = \"7.5'; touch pwned; '\"", "invalid-capability"),
    ],
)
def test_hostile_build_values_are_refused_by_every_target(
    lab_lock: Path, tmp_path: Path, old: str, new: str, code: str
) -> None:
    text = lab_lock.read_text(encoding="utf-8")
    assert old in text
    hostile = tmp_path / "pylock.toml"
    hostile.write_text(text.replace(old, new, 1), encoding="utf-8")
    for target in ("venv", "conda", "docker"):
        done = envspec(
            "emit", "--lock", str(hostile), "--target", target, "-o", str(tmp_path / target), cwd=tmp_path
        )
        assert done.returncode == 2, done.stderr
        assert f"error[{code}]" in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / target).exists()
    assert not (tmp_path / "pwned").exists()


def test_host_reads_a_lockfile_given_in_place_of_a_spec(lab_lock: Path) -> None:
    env = isolated_env()
    env.update(ENVSPEC_CUDA_DRIVER="535.129.03", ENVSPEC_GPU_ARCH="8.6")
    done = subprocess.run(
        [sys.executable, "-m", "envspec", "host", str(lab_lock)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no   cu130: needs an NVIDIA driver >= 580, this machine has 535.129.03" in done.stdout
    assert "this machine gets cu126:" in done.stdout


def test_validate_explains_each_build_every_time(lab: Lab) -> None:
    spec = lab.spec("explained", extra='[cuda]\nversion = "13.0"\ngpus = ["7.0", "12.0"]\n')
    first = envspec("validate", str(spec))
    again = envspec("validate", str(spec))  # a clean spec is cached: the builds must still be told
    for done in (first, again):
        assert done.returncode == 0, done.stdout
        assert (
            "  1. torch 2.13.0+cu130: CUDA 13.0, driver >= 580, kernels sm_75 to sm_120; serves GPUs 12.0"
            in done.stdout
        )
        assert (
            "  2. torch 2.13.0+cu126: CUDA 12.6, driver >= 525.60.13, kernels sm_50 to sm_90; serves GPUs 7.0"
            in done.stdout
        )
        assert "  3. torch 2.13.0+cpu: runs anywhere (no GPU used)" in done.stdout
    report = json.loads(envspec("validate", "--json", str(spec)).stdout)
    assert [line.split(":")[0] for line in report["files"][0]["builds"]] == [
        "1. torch 2.13.0+cu130",
        "2. torch 2.13.0+cu126",
        "3. torch 2.13.0+cpu",
    ]


def test_fetch_and_pack_can_take_only_some_builds(lab_lock: Path, tmp_path: Path) -> None:
    """A pack for the lab's old nodes carries their build only, and its bootstrap.sh chooses among
    the builds it carries: a machine the whole lock would give cu130 gets cu126 from it."""
    store = tmp_path / "store"
    done = envspec("fetch", str(lab_lock), "--store", str(store), "--variant", "cu126")
    assert done.returncode == 0, done.stderr
    lock, _ = read_lock(lab_lock)
    wanted = {a.sha256 for p in lock.select("cu126").packages for a in p.artifacts}
    assert {p.name for p in (store / "sha256").iterdir()} == wanted
    pack = tmp_path / "old-nodes.pack.sh"
    done = envspec("pack", str(lab_lock), "-o", str(pack), "--store", str(store), "--variant", "cu126")
    assert done.returncode == 0, done.stderr
    assert "0 fetched" in done.stderr  # everything was in the store already
    env = isolated_env()
    env.update(ENVSPEC_CUDA_DRIVER="580.65.06", ENVSPEC_GPU_ARCH="9.0")
    command = no_network(["bash", str(pack), "--prefix", str(tmp_path / "env"), "--python", sys.executable])
    installed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert installed.returncode == 0, installed.stderr
    assert "build cu130" not in installed.stderr
    assert torch_of(tmp_path / "env") == "2.13.0+cu126"
    assert read_lock(tmp_path / "env" / "envspec-lock.toml")[0] == lock  # the whole lock, for verify
    stamp = (tmp_path / "env" / "envspec-stamp").read_text().split()[0]
    assert stamp == lock.select("cu126").env_id


@pytest.mark.parametrize("command", ["fetch", "pack", "export-mirror"])
def test_an_unknown_build_is_a_usage_error(lab_lock: Path, tmp_path: Path, command: str) -> None:
    out = ["-o", str(tmp_path / "out")] if command != "fetch" else []
    done = envspec(command, str(lab_lock), "--store", str(tmp_path / "store"), "--variant", "cu121", *out)
    assert done.returncode == 2
    assert "--variant cu121:" in done.stderr
    assert "its builds: cu130, cu126, cpu" in done.stderr
    assert not (tmp_path / "store").exists()
    assert not (tmp_path / "out").exists()


def test_a_cuda_build_with_no_known_floor_still_needs_a_driver(
    lab: Lab, lab_lock: Path, tmp_path: Path
) -> None:
    """Where the compatibility data knew no driver floor, a CUDA build runs on any driver, not on none."""
    text = lab_lock.read_text(encoding="utf-8")
    assert text.count('min-driver = "') == 2
    bare = tmp_path / "pylock.bare.toml"
    bare.write_text(text.replace('min-driver = "580"\n', "").replace('min-driver = "525.60.13"\n', ""))
    script = lab.emit(bare)
    done = bootstrap(script, tmp_path / "none", ENVSPEC_CUDA_DRIVER="none")
    assert done.returncode == 0, done.stderr
    assert "build cu130 skipped: it needs an NVIDIA driver, and there is none here" in done.stderr
    assert "(torch build cpu)" in done.stderr
    old = bootstrap(script, tmp_path / "old", ENVSPEC_CUDA_DRIVER="470.82.01", ENVSPEC_GPU_ARCH="8.6")
    assert old.returncode == 0, old.stderr
    assert "build cu130: driver 470.82.01; GPUs within sm_75 to sm_120" in old.stderr


def test_companions_are_pinned_per_build_with_its_label(tmp_path: Path) -> None:
    root = build_lab(tmp_path / "lab")
    for build in BUILDS:
        files = root / "torch" / build / "files"
        build_wheel(files, "torchvision", f"0.28.0+{build}", requires=("torch==2.13.0",))
        write_simple_tree(files, root / "torch" / build / "simple")
    with serve_index(root / "general") as general, serve_static(root / "torch") as base:
        spec = root / "with.toml"
        text = lab_spec(general.url, base + "/{variant}/simple")
        spec.write_text(text.replace('index = "pytorch"', 'index = "pytorch"\nwith = ["torchvision"]', 1))
        done = envspec("lock", str(spec), "-o", str(root / "pylock.toml"))
    assert done.returncode == 0, done.stderr
    lock, _ = read_lock(root / "pylock.toml")
    for view in lock.builds():
        pins = {p.name: p.version for p in view.packages}
        assert pins["torchvision"] == f"0.28.0+{view.variant}"
        assert pins["torch"] == f"2.13.0+{view.variant}"
        assert view.facts.torch is not None
        assert dict(view.facts.torch.companions) == {"torchvision": "0.28.0"}


def test_a_file_every_build_shares_is_hashed_once(tmp_path: Path) -> None:
    """Behind an index that publishes no hashes, envspec downloads a file to hash it: once for all the
    builds that pin it, not once per build."""
    root = build_lab(tmp_path / "lab")
    with serve_index(root / "general", hashes=False) as general, serve_static(root / "torch") as base:
        spec = root / "nohash.toml"
        spec.write_text(lab_spec(general.url, base + "/{variant}/simple"))
        done = envspec("lock", str(spec), "-o", str(root / "pylock.toml"))
        gets = [r.path for r in general.records if r.method == "GET" and r.path.endswith(".whl")]
    assert done.returncode == 0, done.stderr
    assert sorted(gets) == sorted(set(gets))  # each file once, the shared filelock too
    assert "/files/filelock-3.16.1-py3-none-any.whl" in gets
    assert done.stderr.count("publishes no hash for filelock's files") == 1  # the warning, once


def test_pip_tools_locks_the_same_builds_as_uv(lab: Lab, lab_lock: Path) -> None:
    out = lab.root / "pylock.pip-tools.toml"
    done = envspec("lock", str(lab.root / "lab.toml"), "-o", str(out), "--resolver", "pip-tools")
    assert done.returncode == 0, done.stderr
    by_pip_tools, _ = read_lock(out)
    by_uv, _ = read_lock(lab_lock)
    assert by_pip_tools.resolver == "pip-tools"
    assert by_pip_tools.env_id == by_uv.env_id  # the same files, the same builds' markers
    assert by_pip_tools.variants == by_uv.variants


def test_validate_loads_the_host_modules_only_for_a_spec_of_several_builds_or_gpus(lab: Lab) -> None:
    code = (
        "import sys\nfrom envspec.cli import run\ncode = run(sys.argv[1:])\n"
        "host = ('envspec.host', 'envspec.hostjudge')\n"
        "print(sorted(m for m in sys.modules if m in host), file=sys.__stderr__)\n"
    )
    env = {**isolated_env(), "ENVSPEC_NO_CACHE": "1"}
    plain = subprocess.run(
        [sys.executable, "-c", code, "validate", "specs/dev.toml"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert plain.stderr.strip().splitlines()[-1] == "[]"
    builds = subprocess.run(
        [sys.executable, "-c", code, "validate", str(lab.spec("loads"))],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert builds.stderr.strip().splitlines()[-1] == "['envspec.host', 'envspec.hostjudge']"
