"""Atomic writes: the old file survives any failure, and no temporary file is left behind.

Output paths are checked before any work, and every OS error on a path is bad input (a
``UsageError`` naming the path), never an internal error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from envspec.errors import ExitCode, UsageError
from envspec.fsio import check_writable, write_atomic


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """Make ``directory`` refuse new entries, for root too where the system allows it, then restore it.

    An ordinary user gets mode 0o555. Root ignores permission bits, so it gets the immutable flag
    (``chattr +i``), which binds root as well; where that is not possible the test is skipped.
    """
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield directory
        finally:
            directory.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root, which ignores permission bits, and chattr is not installed")
    made = subprocess.run([chattr, "+i", str(directory)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"running as root, which ignores permission bits, and chattr +i failed: {made.stderr}")
    try:
        yield directory
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_write_creates_parents_and_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.txt"
    write_atomic(target, b"one")
    assert target.read_bytes() == b"one"
    assert target.stat().st_mode & 0o777 == 0o644
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.txt"]


def test_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "lock.toml"
    target.write_bytes(b"old")

    def broken_fsync(_fd: int) -> None:
        raise KeyboardInterrupt  # as if Ctrl-C arrived mid-write

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock.toml"]


def test_check_refuses_a_directory(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(UsageError) as caught:
        check_writable(tmp_path / "out", what="lockfile")
    assert str(caught.value) == f"{tmp_path / 'out'} is a directory, not a file"
    assert caught.value.hint == "give the path of the lockfile to write, not a directory"
    assert caught.value.exit_code is ExitCode.INVALID


@pytest.mark.parametrize("below", ["lock.toml", "a/b/lock.toml"])
def test_check_refuses_a_path_under_a_file(tmp_path: Path, below: str) -> None:
    (tmp_path / "file").write_text("mine")
    with pytest.raises(UsageError) as caught:
        check_writable(tmp_path / "file" / below, what="lockfile")
    assert f"{tmp_path / 'file'} is a file, not a directory" in str(caught.value)
    assert str(tmp_path / "file" / below) in str(caught.value)
    assert (tmp_path / "file").read_text() == "mine"


def test_check_accepts_new_and_existing_paths_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "old.toml").write_text("old")
    check_writable(tmp_path / "old.toml", what="lockfile")
    check_writable(tmp_path / "new.toml", what="lockfile")
    check_writable(tmp_path / "a" / "b" / "new.toml", what="lockfile")  # directories still to be made
    check_writable(Path("relative.toml"), what="lockfile")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.toml"]
    assert (tmp_path / "old.toml").read_text() == "old"


@pytest.mark.parametrize("below", ["lock.toml", "new/lock.toml"])
def test_check_refuses_a_read_only_directory(tmp_path: Path, below: str) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder), pytest.raises(UsageError) as caught:
        check_writable(folder / below, what="lockfile")
    assert str(folder / below) in str(caught.value)
    assert f"in {folder}: " in str(caught.value)
    assert caught.value.hint
    assert list(folder.iterdir()) == []


def test_os_errors_while_writing_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("mine")
    with pytest.raises(UsageError, match=r"dir: Is a directory"):
        write_atomic(tmp_path / "dir", b"x")
    with pytest.raises(UsageError, match=r"cannot write .*file/a/b\.toml: "):
        write_atomic(tmp_path / "file" / "a" / "b.toml", b"x")
    with pytest.raises(UsageError, match=r"cannot write .*file/b\.toml: File exists") as caught:
        write_atomic(tmp_path / "file" / "b.toml", b"x")
    assert caught.value.hint == "a part of the path is a file, not a directory: choose another path"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]  # no temporary file left
    assert list((tmp_path / "dir").iterdir()) == []
    assert (tmp_path / "file").read_text() == "mine"


def test_a_read_only_directory_keeps_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "lock.toml").write_text("old")
    with read_only(folder), pytest.raises(UsageError) as caught:
        write_atomic(folder / "lock.toml", b"new")
    assert str(caught.value).startswith(f"cannot write {folder / 'lock.toml'}: ")
    assert (folder / "lock.toml").read_text() == "old"
    assert sorted(p.name for p in folder.iterdir()) == ["lock.toml"]
