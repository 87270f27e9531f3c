"""The conda target: environment.yml reads back exactly (YAML 1.1 and 1.2), pins every locked package once
with all its hashes, conda-lock's parser accepts it, and the output matches the golden files."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shlex
import subprocess
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml

from envspec.emit.base import EmitContext, packages_for
from envspec.emit.conda import (
    CONDARC_FILE,
    ENVIRONMENT_FILE,
    CondaEmitter,
    hook_command,
    pip_option_lines,
    python_spec,
    variable_problems,
)
from envspec.emit.hook import MODULE_NAME, PTH_NAME
from envspec.lock.model import Artifact, Facts, Lock, LockedPackage
from envspec.lock.read import parse_lock
from envspec.lock.render import render_lock
from envspec.platforms import CONDA_SUBDIRS
from envspec.spec import Spec

GOLDEN = Path(__file__).resolve().parent / "golden" / "emit" / "conda"

TUNA = "https://pypi.tuna.tsinghua.edu.cn/simple"
PYPI = "https://index.example.org/simple/"  # stands in for the installer's default index
PYTORCH = "https://download.pytorch.org/whl/cu121"
PRIVATE = "http://10.0.0.5:8080/simple/"

# [runtime.env] values that a careless writer would turn into YAML or shell syntax.
TRICKY_ENV = {
    "QUOTED": 'it\'s "quoted"',
    "SUBSHELL": "$(touch x)",
    "BACKTICKS": "`touch y`",
    "SEMICOLON": "a; rm -rf /tmp/nothing-here",
    "HASH": "value # not a comment",
    "COLON": "key: value",
    "UNICODE": "ünïcødé ✓ 日本語",
    "NUMBERISH": "1e3",
    "OCTALISH": "0o17",
    "BOOLISH": "yes",
    "NULLISH": "null",
    "SPACES": " - leading dash and spaces ",
    "EMPTY": "",
    "BACKSLASH": "C:\\path\\to",
    "FLOW": "{a: [1, 2]}",
    "INDICATORS": "*alias &anchor !tag |pipe >fold %percent @at",
    "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
}


def digest(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def wheel(name: str, version: str, tag: str) -> Artifact:
    file = f"{name.replace('-', '_')}-{version}-{tag}.whl"
    return Artifact(file, f"https://files.invalid/{file}", 1000, digest(file))


def sdist(name: str, version: str) -> Artifact:
    file = f"{name}-{version}.tar.gz"
    return Artifact(file, f"https://files.invalid/{file}", 2000, digest(file))


def package(
    name: str,
    version: str,
    index: tuple[str, str],
    tags: tuple[str, ...] = ("py3-none-any",),
    *,
    marker: str | None = None,
    with_sdist: bool = False,
) -> LockedPackage:
    wheels = tuple(wheel(name, version, tag) for tag in tags)
    return LockedPackage(
        name, version, index[0], index[1], wheels, sdist(name, version) if with_sdist else None, marker
    )


def base_spec(name: str, python: str, platforms: list[str]) -> dict[str, Any]:
    return {
        "env": {"name": name, "python": python, "platforms": platforms, "profile": "default"},
        "mirrors": [],
        "network": {"timeout": 15.0, "retries": 5},
        "packages": {"python": [], "system": [], "conda": [], "pip_options": [], "allow_builds": False},
        "runtime": {"env": {}, "torch": {}},
        "targets": {"venv": {"prefix": ".venv"}, "conda": {"channels": ["conda-forge"]}},
    }


def make_lock(spec: dict[str, Any], packages: list[LockedPackage], python: str = "3.11") -> Lock:
    return Lock(
        spec_hash="sha256:" + digest(repr(spec)),
        name=spec["env"]["name"],
        python=python,
        platforms=tuple(spec["env"]["platforms"]),
        resolver="uv",
        resolver_version="0.13.9",
        requirements=tuple(sorted({p.name for p in packages})),
        constraints=(),
        packages=tuple(packages),
        spec=Spec.model_validate(spec),
        facts=Facts(),
    )


def cuda_lock() -> Lock:
    """A CUDA torch lock for Linux and macOS: a PyTorch index, a private index, two general mirrors."""
    spec = base_spec("vision-lab", "3.11", ["linux-x86_64", "macos-arm64"])
    spec["torch"] = {"version": "2.1.2", "variant": "cu121", "with": [], "index": "pytorch"}
    spec["mirrors"] = [
        {"name": "tuna", "url": TUNA, "trusted": False, "packages": []},
        {"name": "pypi", "trusted": False, "packages": []},
        {"name": "pytorch", "url": PYTORCH, "trusted": False, "packages": []},
        {"name": "private", "url": PRIVATE, "trusted": True, "packages": ["acme-secret"]},
    ]
    spec["network"] = {"timeout": 30.0, "retries": 3}
    spec["packages"]["conda"] = ["ffmpeg=6", "conda-forge::libjpeg-turbo>=3", "git"]
    spec["runtime"] = {"env": dict(TRICKY_ENV), "torch": {"cudnn_benchmark": True, "num_threads": 8}}
    spec["targets"]["conda"] = {
        "name": "vision",
        "channels": ["conda-forge", "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/pytorch"],
    }
    linux = "sys_platform == 'linux'"
    mac = "sys_platform == 'darwin'"
    packages = [
        package("torch", "2.1.2+cu121", ("pytorch", PYTORCH), ("cp311-cp311-linux_x86_64",), marker=linux),
        package("torch", "2.1.2", ("tuna", TUNA), ("cp311-none-macosx_11_0_arm64",), marker=mac),
        package(
            "numpy",
            "1.26.4",
            ("tuna", TUNA),
            ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-macosx_11_0_arm64", "cp311-cp311-win_amd64"),
        ),
        package(
            "nvidia-cudnn-cu12",
            "8.9.2.26",
            ("tuna", TUNA),
            ("py3-none-manylinux1_x86_64",),
            marker="platform_system == 'Linux' and platform_machine == 'x86_64'",
        ),
        package("appnope", "0.1.4", ("tuna", TUNA), marker=mac),
        package("acme-secret", "3.0", ("private", PRIVATE)),
        package("filelock", "3.13.1", ("pypi", PYPI)),
    ]
    return make_lock(spec, packages)


def plain_lock() -> Lock:
    """A macOS-only lock with a patch-level Python, the default index and source builds allowed."""
    spec = base_spec("plain", "3.12.4", ["macos-arm64"])
    spec["packages"]["allow_builds"] = True
    spec["packages"]["conda"] = ["pip>=24"]
    spec["runtime"]["env"] = {"OMP_NUM_THREADS": "4"}
    packages = [
        package("six", "1.16.0", ("default", PYPI), with_sdist=True),
        package("legacy-thing", "0.3", ("default", PYPI), (), with_sdist=True),
    ]
    return make_lock(spec, packages, python="3.12.4")


CASES = {"cuda": cuda_lock, "plain": plain_lock}


def context(lock: Lock, name: str = "pylock.toml") -> EmitContext:
    """The lock as `envspec emit` sees it: rendered, then read back (the spec pruned as on disk)."""
    text = render_lock(lock)
    return EmitContext(parse_lock(text, name), text, name)


def render(lock: Lock) -> dict[str, str]:
    return CondaEmitter().render(context(lock))


def pip_section(document: dict[str, Any]) -> list[str]:
    sections = [d["pip"] for d in document["dependencies"] if isinstance(d, dict)]
    assert len(sections) == 1
    found: list[str] = sections[0]
    return found


def test_yaml_reads_back_exactly_with_pyyaml() -> None:
    files = render(cuda_lock())
    document = yaml.safe_load(files[ENVIRONMENT_FILE])
    assert document["name"] == "vision"
    assert document["channels"] == [
        "conda-forge",
        "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/pytorch",
        "nodefaults",
    ]
    conda_deps = [d for d in document["dependencies"] if isinstance(d, str)]
    assert conda_deps == ["python=3.11", "ffmpeg=6", "conda-forge::libjpeg-turbo>=3", "git", "pip"]
    assert document["variables"] == TRICKY_ENV
    assert list(document["variables"]) == list(TRICKY_ENV)  # spec order
    assert all(type(v) is str for v in document["variables"].values())
    assert set(document) == {"name", "channels", "dependencies", "variables"}  # only keys conda knows


def test_yaml_reads_back_exactly_as_conda_reads_it() -> None:
    """conda reads environment.yml with ruamel.yaml (YAML 1.2): ``1e3`` and ``0o17`` must stay text."""
    ruamel = pytest.importorskip("ruamel.yaml", reason="ruamel.yaml (conda's YAML reader) is not installed")
    files = render(cuda_lock())
    loaded: Any = ruamel.YAML(typ="rt").load(files[ENVIRONMENT_FILE])
    variables = {str(k): v for k, v in loaded["variables"].items()}
    assert variables == TRICKY_ENV
    assert all(isinstance(v, str) for v in variables.values())
    assert next(str(d) for d in loaded["dependencies"] if isinstance(d, str)) == "python=3.11"


def test_every_pin_once_with_all_hashes() -> None:
    lock = cuda_lock()
    document = yaml.safe_load(render(lock)[ENVIRONMENT_FILE])
    lines = pip_section(document)
    pins = [line for line in lines if not line.startswith("--")]
    expected = packages_for(lock, "linux-x86_64")
    assert len(pins) == len(expected)
    for locked in expected:
        mine = [line for line in pins if line.split(" ", 1)[0] == f"{locked.name}=={locked.version}"]
        assert len(mine) == 1, locked.name
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", mine[0])
        assert sorted(hashes) == sorted(a.sha256 for a in locked.artifacts)
    names = {line.split("==", 1)[0] for line in pins}
    assert "appnope" not in names  # macOS only
    assert "torch==2.1.2+cu121" in " ".join(pins)
    assert "torch==2.1.2 " not in " ".join(pins)  # the macOS build stays out


def test_pip_options_come_first_and_name_every_index() -> None:
    lock = cuda_lock()
    lines = pip_section(yaml.safe_load(render(lock)[ENVIRONMENT_FILE]))
    options = [line for line in lines if line.startswith("--")]
    assert lines[: len(options)] == options
    assert options == [
        f"--index-url {TUNA}",
        f"--extra-index-url {PYPI.rstrip('/')}",
        f"--extra-index-url {PRIVATE.rstrip('/')}",
        f"--extra-index-url {PYTORCH}",
        "--trusted-host 10.0.0.5:8080",
        "--require-hashes",
        "--only-binary=:all:",
    ]


def test_default_index_first_means_no_index_url() -> None:
    spec = base_spec("dflt", "3.11", ["linux-x86_64"])
    spec["mirrors"] = [
        {"name": "company-default", "trusted": False, "packages": []},
        {"name": "tuna", "url": TUNA, "trusted": False, "packages": []},
    ]
    ctx = context(make_lock(spec, [package("six", "1.16.0", ("tuna", TUNA))]))
    assert pip_option_lines(ctx) == [f"--extra-index-url {TUNA}", "--require-hashes", "--only-binary=:all:"]


def test_builds_allowed_drop_only_binary_and_keep_sdist_hashes() -> None:
    lock = plain_lock()
    lines = pip_section(yaml.safe_load(render(lock)[ENVIRONMENT_FILE]))
    assert "--only-binary=:all:" not in lines
    assert "--require-hashes" in lines
    legacy = next(line for line in lines if line.startswith("legacy-thing=="))
    assert legacy == f"legacy-thing==0.3 --hash=sha256:{digest('legacy-thing-0.3.tar.gz')}"


def test_python_pin_and_fallback_platform() -> None:
    assert python_spec("3.11") == "python=3.11"
    assert python_spec("3.12.4") == "python=3.12.4"
    text = render(plain_lock())[ENVIRONMENT_FILE]
    document = yaml.safe_load(text)
    assert document["dependencies"][0] == "python=3.12.4"
    assert document["name"] == "plain"
    assert document["channels"] == ["conda-forge", "nodefaults"]
    # a conda spec for pip already: no second "pip" entry
    assert [d for d in document["dependencies"] if isinstance(d, str)] == ["python=3.12.4", "pip>=24"]
    assert "pins for macos-arm64 (conda subdir osx-arm64)" in text


def test_empty_lock_has_no_pip_section() -> None:
    spec = base_spec("empty", "3.11", ["linux-x86_64"])
    document = yaml.safe_load(render(make_lock(spec, []))[ENVIRONMENT_FILE])
    assert document["dependencies"] == ["python=3.11"]
    assert "variables" not in document


def test_condarc() -> None:
    files = render(cuda_lock())
    settings = yaml.safe_load(files[CONDARC_FILE])
    assert settings == {
        "remote_read_timeout_secs": 30.0,
        "remote_max_retries": 3,
        "channel_priority": "strict",
    }
    assert "CONDARC=./condarc conda env create -f environment.yml" in files[CONDARC_FILE]


def test_every_file_carries_the_stamp_and_no_local_path() -> None:
    for case in CASES.values():
        ctx = context(case())
        for name, text in CondaEmitter().render(ctx).items():
            assert ctx.stamp() in text, name
            assert str(Path.cwd()) not in text, name
            assert text.endswith("\n"), name


def test_deterministic() -> None:
    lock = cuda_lock()
    first = render(lock)
    assert render(lock) == first
    shuffled = dataclasses.replace(lock, packages=tuple(reversed(lock.packages)))
    assert render(shuffled) == first


def test_hook_files_with_settings_or_variables_python_can_set() -> None:
    files = render(cuda_lock())
    assert set(files) == {ENVIRONMENT_FILE, CONDARC_FILE, MODULE_NAME, PTH_NAME}
    assert "SETTINGS = {'cudnn_benchmark': True, 'num_threads': 8}" in files[MODULE_NAME]
    assert "import envspec_startup" in files[PTH_NAME].splitlines()
    assert hook_command("vision") in files[ENVIRONMENT_FILE]
    plain = render(plain_lock())  # no torch settings, but OMP_NUM_THREADS: the hook sets it
    assert set(plain) == {ENVIRONMENT_FILE, CONDARC_FILE, MODULE_NAME, PTH_NAME}
    assert "'OMP_NUM_THREADS'" in plain[MODULE_NAME]
    assert hook_command("plain") in plain[ENVIRONMENT_FILE]


def test_hook_command_installs_the_hook(tmp_path: Path) -> None:
    """The documented post-create command, run with an env's python (here a venv's): the hook loads."""
    files = render(cuda_lock())
    folder = tmp_path / "emitted"
    folder.mkdir()
    for name in (MODULE_NAME, PTH_NAME):
        (folder / name).write_text(files[name], encoding="utf-8")
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    argv = shlex.split(hook_command("vision"))
    assert argv[:5] == ["conda", "run", "-n", "vision", "python"]
    subprocess.run([str(python), *argv[5:]], cwd=folder, check=True)
    probe = "import sys; print('envspec_startup' in sys.modules, type(sys.meta_path[0]).__name__)"
    result = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "_AfterTorchImport"]


def test_variable_problems_are_named_not_echoed() -> None:
    ctx = context(cuda_lock())
    problems = variable_problems(ctx)
    named = {p.split(":", 1)[0] for p in problems}
    assert named == {"QUOTED", "SUBSHELL", "BACKTICKS", "BACKSLASH", "INDICATORS"}
    assert any(p.startswith("QUOTED:") and "sh/bash/zsh" in p for p in problems)
    text = render(cuda_lock())[ENVIRONMENT_FILE]
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert "# WARNING: conda's activation does not carry these variables verbatim:" in comments
    assert not any("$(" in line or "`" in line for line in comments)  # names only, never values


def test_variable_problems_reserved_and_unset_marker() -> None:
    spec = base_spec("reserved", "3.11", ["linux-x86_64"])
    spec["runtime"]["env"] = {"PATH": "/opt/bin", "GONE": "***unset***", "FINE": "expandable_segments:True"}
    problems = variable_problems(context(make_lock(spec, [])))
    assert [p.split(":", 1)[0] for p in problems] == ["PATH", "GONE"]


def conda_lock_view(text: str) -> str:
    """What conda-lock's parser can read: it takes each pip line as one PEP 508 requirement with at most
    one ``--hash``, so it rejects option lines and multi-hash lines (which pip itself accepts)."""
    lines = [line for line in text.splitlines() if not re.match(r"\s*- '?--", line)]
    view = "\n".join(lines) + "\n"
    return re.sub(r"( --hash=sha256:[0-9a-f]{64})(?: --hash=sha256:[0-9a-f]{64})+", r"\1", view)


def test_conda_lock_parses_conda_and_pip_dependencies(tmp_path: Path) -> None:
    parser = pytest.importorskip(
        "conda_lock.src_parser.environment_yaml",
        reason="conda-lock is not installed (pip install conda-lock==4.0.3)",
    )
    lock = cuda_lock()
    text = render(lock)[ENVIRONMENT_FILE]
    path = tmp_path / ENVIRONMENT_FILE
    path.write_text(conda_lock_view(text), encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text("{}", encoding="utf-8")
    subdir = CONDA_SUBDIRS["linux-x86_64"]
    parsed: Any = parser.parse_environment_file(path, [subdir], mapping_url=mapping.as_uri())
    assert [c.url for c in parsed.channels] == [
        "conda-forge",
        "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/pytorch",
    ]  # conda-lock drops "nodefaults": it always overrides channels
    deps = parsed.dependencies[subdir]
    conda = {d.name: d for d in deps if d.manager == "conda"}
    pip = {d.name: d for d in deps if d.manager == "pip"}
    assert set(conda) == {"python", "ffmpeg", "libjpeg-turbo", "git", "pip"}
    assert conda["python"].version.startswith("3.11")
    assert conda["libjpeg-turbo"].conda_channel == "conda-forge"
    assert conda["libjpeg-turbo"].version == ">=3"
    expected = packages_for(lock, "linux-x86_64")
    assert {name: d.version for name, d in pip.items()} == {p.name: f"=={p.version}" for p in expected}
    for p in expected:
        assert pip[p.name].hash == f"sha256:{min(a.sha256 for a in p.artifacts)}"


def test_conda_lock_view_only_drops_what_conda_lock_cannot_read() -> None:
    text = render(cuda_lock())[ENVIRONMENT_FILE]
    original = yaml.safe_load(text)
    view = yaml.safe_load(conda_lock_view(text))
    assert {k: v for k, v in view.items() if k != "dependencies"} == {
        k: v for k, v in original.items() if k != "dependencies"
    }
    kept = pip_section(view)
    assert [line.split(" ", 1)[0] for line in kept] == [
        line.split(" ", 1)[0] for line in pip_section(original) if not line.startswith("--")
    ]


def golden_name(name: str) -> str:
    """Emitted ``.py`` files are stored as ``.py.golden``, so that mypy and ruff do not check them."""
    return f"{name}.golden" if name.endswith(".py") else name


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, request: pytest.FixtureRequest) -> None:
    files = {golden_name(name): text for name, text in render(CASES[case]()).items()}
    folder = GOLDEN / case
    if request.config.getoption("--update-golden"):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            if stale.name not in files:
                stale.unlink()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8", newline="")
    assert folder.is_dir(), f"no golden files for {case}: run pytest with --update-golden"
    found = {p.name: p.read_bytes().decode("utf-8") for p in sorted(folder.iterdir())}
    assert found == files
