"""``envspec verify`` on a fresh environment raises no false alarm, and still catches tampering.

The environment is built for real: a locked wheel that ships its own ``.pyc`` (as numpy does) is
installed by pip, which byte-compiles it again and so rewrites that ``.pyc``; the start-up hook that
``envspec emit`` writes goes into its site-packages. Then verify runs as ``bootstrap.sh`` tells users
to run it: ``envspec verify --python PREFIX/bin/python``, without activating the environment.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

from envspec.lock.read import read_lock
from tests.support.index import serve_index
from tests.support.isolation import isolated_env
from tests.support.wheels import ZIP_EPOCH, core_metadata, record_hash

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
TAG = sys.implementation.cache_tag
SHIPPED_PYC = f"es_pyc/__pycache__/mod.{TAG}.pyc"
GENERATED_PYC = f"es_pyc/__pycache__/__init__.{TAG}.pyc"
MODULE = '"""A module whose wheel ships it compiled."""\n\n\ndef answer():\n    return 42\n'
RUNTIME = {"MY_FLAG": "a b;c", "OMP_NUM_THREADS": "4", "LD_LIBRARY_PATH": "/opt/es/lib"}
# what the caller's environment must not hold for these tests to mean anything
CLEARED = ("VIRTUAL_ENV", "CONDA_PREFIX", *RUNTIME)


def pyc_wheel(dest: Path, build: Path) -> Path:
    """es-pyc 1.0, shipping ``mod.py`` and a ``.pyc`` of it compiled on the builder's machine.

    The ``.pyc`` names the builder's path (``/b/mod.py``) as its file name, so the one pip writes when
    it byte-compiles the installed ``mod.py`` differs in size: RECORD keeps the wheel's.
    """
    build.mkdir()
    (build / "mod.py").write_text(MODULE)
    py_compile.compile(str(build / "mod.py"), str(build / "mod.pyc"), dfile="/b/mod.py", doraise=True)
    dist_info = "es_pyc-1.0.dist-info"
    files = {
        "es_pyc/__init__.py": b'"""es-pyc: a test distribution."""\n',
        "es_pyc/mod.py": MODULE.encode(),
        SHIPPED_PYC: (build / "mod.pyc").read_bytes(),
        f"{dist_info}/METADATA": core_metadata("es-pyc", "1.0").encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    dest.mkdir()
    path = dest / "es_pyc-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_EPOCH), data)
    return path


def envspec(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False, env=env
    )


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the lock, the folder of its wheel) for a spec of es-pyc with runtime variables."""
    root = tmp_path_factory.mktemp("pyc")
    wheels = pyc_wheel(root / "wheels", root / "build").parent
    spec = root / "spec.toml"
    variables = "".join(f'{name} = "{value}"\n' for name, value in RUNTIME.items())
    lock = root / "pylock.toml"
    with serve_index(wheels) as index:
        spec.write_text(
            f'[env]\nname = "fresh"\npython = "{PYTHON}"\n'
            f'[[mirrors]]\nname = "local"\nurl = "{index.url}"\ntrusted = true\n'
            f'[packages]\npython = ["es-pyc"]\n[runtime.env]\n{variables}'
        )
        result = envspec("lock", str(spec), "-o", str(lock))
    assert result.returncode == 0, result.stderr
    return lock, wheels


@pytest.fixture
def prefix(tmp_path: Path, locked: tuple[Path, Path]) -> Path:
    """A venv with the locked es-pyc installed by pip, the emitted start-up hook and the stamp."""
    lock, wheels = locked
    prefix = tmp_path / "env"
    venv.create(prefix, with_pip=False)
    python = str(prefix / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--no-deps"]
    subprocess.run(
        [*pip, "--find-links", str(wheels), "es-pyc==1.0"],
        capture_output=True,
        check=True,
        env=isolated_env(),
    )
    emitted = tmp_path / "emitted"
    result = envspec("emit", "--lock", str(lock), "-t", "conda", "-o", str(emitted))
    assert result.returncode == 0, result.stderr
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(
        subprocess.run([python, "-c", where], capture_output=True, text=True, check=True).stdout.strip()
    )
    for name in ("envspec_startup.py", "envspec-startup.pth"):
        shutil.copy(emitted / name, site / name)
    (prefix / "envspec-stamp").write_text(f"{read_lock(lock)[0].env_id} sha256:x\n")
    return prefix


def verify(prefix: Path, lock: Path, *args: str, **environ: str) -> tuple[int, list[dict[str, Any]]]:
    """``envspec verify --json``, not activated unless ``environ`` says so: (exit code, its checks)."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED} | environ
    python = str(prefix / "bin" / "python")
    result = envspec("verify", "--python", python, "--lock", str(lock), "--json", *args, env=env)
    assert result.returncode in (0, 1), result.stderr
    checks: list[dict[str, Any]] = json.loads(result.stdout)["checks"]
    return result.returncode, checks


def check(checks: list[dict[str, Any]], group: str, name: str) -> dict[str, Any]:
    (found,) = [c for c in checks if (c["group"], c["name"]) == (group, name)]
    return found


def failures(checks: list[dict[str, Any]]) -> list[str]:
    return [f"{c['group']} {c['name']}: {c['detail']}" for c in checks if c["status"] == "fail"]


def record_sizes(prefix: Path) -> dict[str, list[str]]:
    """RECORD's sizes per path: pip lists a .pyc it rewrote twice, the wheel's size and none."""
    record = next(prefix.glob("lib/python*/site-packages/es_pyc-1.0.dist-info/RECORD"))
    sizes: dict[str, list[str]] = {}
    with record.open(newline="") as handle:
        for path, _, size in csv.reader(handle):
            sizes.setdefault(path, []).append(size)
    return sizes


def test_a_rewritten_pyc_of_the_verified_source_passes(prefix: Path, locked: tuple[Path, Path]) -> None:
    installed = next(prefix.glob(f"lib/python*/site-packages/{SHIPPED_PYC}"))
    shipped_size = next(s for s in record_sizes(prefix)[SHIPPED_PYC] if s)
    assert installed.stat().st_size != int(shipped_size)  # pip rewrote it: the numpy case of issue 9
    for args in ((), ("--deep",)):
        code, checks = verify(prefix, locked[0], *args)
        assert code == 0, failures(checks)
        assert check(checks, "files", "summary")["status"] == "pass"


def test_a_pyc_with_other_code_is_named(prefix: Path, locked: tuple[Path, Path]) -> None:
    installed = next(prefix.glob(f"lib/python*/site-packages/{SHIPPED_PYC}"))
    other = prefix / "other.py"
    other.write_text(MODULE.replace("42", "41"))
    py_compile.compile(str(other), str(installed), dfile=str(installed.parent.parent / "mod.py"))
    code, checks = verify(prefix, locked[0])
    assert code == 1
    first, summary = failures(checks)
    assert first == f"files es-pyc: {SHIPPED_PYC}: compiled code differs from its source es_pyc/mod.py"
    assert summary.endswith("installed files checked against RECORD, 1 differ")


def test_a_pyc_of_a_modified_source_is_named(prefix: Path, locked: tuple[Path, Path]) -> None:
    """The source is the reference only when it matches RECORD itself: both are reported."""
    source = next(prefix.glob("lib/python*/site-packages/es_pyc/mod.py"))
    source.write_text(MODULE.replace("42", "41"))
    py_compile.compile(str(source), str(source.parent / "__pycache__" / f"mod.{TAG}.pyc"))
    code, checks = verify(prefix, locked[0])
    assert code == 1
    details = failures(checks)
    assert "files es-pyc: es_pyc/mod.py: content differs from RECORD" in details
    assert (
        f"files es-pyc: {SHIPPED_PYC}: compiled code differs from RECORD, and its source es_pyc/mod.py"
        " differs too"
    ) in details


def test_a_pyc_of_a_foreign_python_is_named(prefix: Path, locked: tuple[Path, Path]) -> None:
    installed = next(prefix.glob(f"lib/python*/site-packages/{SHIPPED_PYC}"))
    data = installed.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    installed.write_bytes(b"\x00\x00\r\n" + data[4:])
    code, checks = verify(prefix, locked[0])
    assert code == 1
    assert "magic number" in check(checks, "files", "es-pyc")["detail"]


def test_a_pyc_the_installer_wrote_is_judged_with_deep(prefix: Path, locked: tuple[Path, Path]) -> None:
    """RECORD lists pip's own .pyc files without a hash: only --deep compiles their sources to compare."""
    installed = next(prefix.glob(f"lib/python*/site-packages/{GENERATED_PYC}"))
    assert record_sizes(prefix)[GENERATED_PYC] == [""]
    other = prefix / "other.py"
    other.write_text("import os\n")
    py_compile.compile(str(other), str(installed), dfile=str(installed.parent.parent / "__init__.py"))
    assert verify(prefix, locked[0])[0] == 0
    code, checks = verify(prefix, locked[0], "--deep")
    assert code == 1
    assert check(checks, "files", "es-pyc")["detail"] == (
        f"{GENERATED_PYC}: compiled code differs from its source es_pyc/__init__.py"
    )


def test_runtime_variables_without_activation(prefix: Path, locked: tuple[Path, Path]) -> None:
    """The hook sets MY_FLAG and OMP_NUM_THREADS; LD_LIBRARY_PATH is left to activation, so skipped."""
    code, checks = verify(prefix, locked[0], "--quick")
    assert code == 0, failures(checks)
    assert check(checks, "runtime", "MY_FLAG")["status"] == "pass"
    assert check(checks, "runtime", "OMP_NUM_THREADS")["status"] == "pass"
    skipped = check(checks, "runtime", "LD_LIBRARY_PATH")
    assert skipped["status"] == "skip"
    assert "activated environment" in skipped["detail"]
    assert check(checks, "identity", "stamp")["status"] == "pass"


def test_runtime_variables_when_activated_or_overridden(prefix: Path, locked: tuple[Path, Path]) -> None:
    lock = locked[0]
    code, checks = verify(prefix, lock, VIRTUAL_ENV=str(prefix))
    assert code == 1
    assert failures(checks) == [
        "runtime LD_LIBRARY_PATH: not set, although the environment is activated (VIRTUAL_ENV names it)"
    ]
    assert verify(prefix, lock, VIRTUAL_ENV=str(prefix), LD_LIBRARY_PATH="/opt/es/lib")[0] == 0
    code, checks = verify(prefix, lock, MY_FLAG="mine")
    assert code == 1
    assert failures(checks) == ["runtime MY_FLAG: is 'mine', the lock says 'a b;c'"]
