"""``envspec emit`` picks its lock, refuses a stale one, and writes every target deterministically."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO
from .test_fsio import read_only

DEMO_SPEC = REPO / "tests" / "fixtures" / "locks" / "demo.toml"
DEMO_LOCK = REPO / "locks" / "pylock.demo.toml"


def envspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def project(tmp_path: Path) -> Path:
    """A project folder holding the demo spec and its committed lock, as a user would have them."""
    (tmp_path / "locks").mkdir()
    shutil.copy(DEMO_SPEC, tmp_path / "demo.toml")
    shutil.copy(DEMO_LOCK, tmp_path / "locks" / "pylock.demo.toml")
    return tmp_path


def test_all_targets_from_the_only_lock_are_deterministic(tmp_path: Path) -> None:
    root = project(tmp_path)
    first = envspec("emit", "-o", "a", cwd=root)
    assert first.returncode == 0, first.stderr
    assert envspec("emit", "-o", "b", cwd=root).returncode == 0
    names = sorted(p.name for p in (root / "a").iterdir())
    assert names == [
        "Dockerfile",
        "bootstrap.sh",
        "condarc",
        "environment.yml",
        "envspec-startup.pth",
        "envspec_startup.py",
    ]
    for name in names:
        assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes()
    env_id = next(
        line for line in (root / "a" / "Dockerfile").read_text().splitlines() if "environment " in line
    )
    for name in names:
        assert env_id.split("environment ")[1].split(";")[0] in (root / "a" / name).read_text()
    assert (root / "a" / "bootstrap.sh").stat().st_mode & 0o111


def test_a_spec_uses_its_lock_and_refuses_a_stale_one(tmp_path: Path) -> None:
    root = project(tmp_path)
    fresh = envspec("emit", "demo.toml", "-t", "venv", "-o", "out", cwd=root)
    assert fresh.returncode == 0, fresh.stderr
    (root / "demo.toml").write_text((root / "demo.toml").read_text().replace('"4"', '"8"'))
    stale = envspec("emit", "demo.toml", "-t", "venv", "-o", "out2", cwd=root)
    assert stale.returncode == 2
    assert "is stale" in stale.stderr
    assert "envspec lock demo.toml" in stale.stderr
    assert not (root / "out2").exists()


def test_bad_choices_are_usage_errors(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert envspec("emit", "-t", "nix", cwd=root).returncode == 2
    assert envspec("emit", "demo.toml", "--lock", "locks/pylock.demo.toml", cwd=root).returncode == 2
    (root / "locks" / "pylock.other.toml").write_text("x")
    ambiguous = envspec("emit", cwd=root)
    assert ambiguous.returncode == 2
    assert "2 locks" in ambiguous.stderr
    foreign = envspec("emit", "--lock", "locks/pylock.other.toml", cwd=root)
    assert foreign.returncode == 2
    assert "Traceback" not in foreign.stderr


def test_a_spec_refuses_a_lock_whose_recorded_spec_was_edited(tmp_path: Path) -> None:
    """The spec hash still matches, but someone changed the lock's copy of the spec: emit SPEC refuses."""
    root = project(tmp_path)
    lock = root / "locks" / "pylock.demo.toml"
    lock.write_text(lock.read_text().replace('OMP_NUM_THREADS = "4"', 'OMP_NUM_THREADS = "64"'))
    edited = envspec("emit", "demo.toml", "-o", "out", cwd=root)
    assert edited.returncode == 2
    assert "records a spec that differs from demo.toml" in edited.stderr
    assert not (root / "out").exists()
    # read with --lock alone, the same file is a consistent lock: the spec is what says it is wrong
    assert envspec("emit", "--lock", "locks/pylock.demo.toml", "-o", "out", cwd=root).returncode == 0


def test_unreadable_locks_are_bad_input(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "locks" / "pylock.demo.toml").write_bytes(b"lock-version = '1.0'\n\xff\xfe\n")
    binary = envspec("emit", "--lock", "locks/pylock.demo.toml", cwd=root)
    assert binary.returncode == 2
    assert "not valid UTF-8" in binary.stderr
    folder = envspec("emit", "--lock", "locks", cwd=root)
    assert folder.returncode == 2
    assert "is a directory" in folder.stderr


def test_unwritable_output_folders_are_bad_input_and_nothing_is_written(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "a-file").write_text("keep me")
    (root / "out" / "Dockerfile").mkdir(parents=True)  # one of the files to write is a directory
    cases = {
        "a-file": "a-file",  # the folder is a file
        "a-file/sub": "a-file",  # a part of it is a file
        "out": "out/Dockerfile",
    }
    for output, named in cases.items():
        result = envspec("emit", "-o", output, cwd=root)
        assert result.returncode == 2, result.stderr
        assert named in result.stderr
        assert "Traceback" not in result.stderr
        assert "internal error" not in result.stderr
    assert (root / "a-file").read_text() == "keep me"
    assert sorted(p.name for p in (root / "out").iterdir()) == ["Dockerfile"]  # no file written before it
    assert list((root / "out" / "Dockerfile").iterdir()) == []


def test_a_read_only_output_folder_is_bad_input(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "ro").mkdir()
    with read_only(root / "ro"):
        into = envspec("emit", "-o", "ro", cwd=root)
        below = envspec("emit", "-o", "ro/env", cwd=root)
        assert list((root / "ro").iterdir()) == []
    for result in (into, below):
        assert result.returncode == 2, result.stderr
        assert "in ro: " in result.stderr
        assert "Traceback" not in result.stderr
        assert "internal error" not in result.stderr
