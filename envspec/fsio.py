"""The disk, for every command: bounded reads, output paths checked up front, atomic writes.

Every way a path can fail (a missing file, a directory where a file belongs, a file where a
directory belongs, a read-only directory, a full disk) becomes a
:class:`~envspec.errors.UsageError` that names the path: bad input, never a bug in envspec.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from envspec.errors import UsageError

_WRITE_HINTS = {
    errno.EACCES: "choose a directory you can write to, or fix its permissions",
    errno.EPERM: "choose a directory you can write to, or fix its permissions (or its immutable flag)",
    errno.EROFS: "the file system is read-only: choose a directory on a writable one",
    errno.ENOSPC: "the disk is full: free some space and run the command again",
    errno.EDQUOT: "the disk quota is used up: free some space and run the command again",
    errno.EISDIR: "give the path of a file, not of a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
    errno.EEXIST: "a part of the path is a file, not a directory: choose another path",
}


def check_writable(path: Path, *, what: str) -> None:
    """Refuse, before any work, a file path that :func:`write_atomic` could not write.

    ``what`` names the file in messages ("lockfile", "spec"). The path must not be a directory, no
    part above it may be a file, and the nearest directory that exists must take a new entry: a
    real probe (a temporary file, or a temporary directory where directories are still to be made)
    is created and removed, which catches a read-only file system or an immutable directory where
    even root cannot write and gives the OS's reason, and ``os.access`` must agree. Nothing is left
    behind: the missing directories are made by the write, not here.
    """
    if path.is_dir():
        raise UsageError(
            f"{path} is a directory, not a file",
            hint=f"give the path of the {what} to write, not a directory",
        )
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path())
    if not existing.is_dir():
        raise UsageError(
            f"cannot write the {what} {path}: {existing} is a file, not a directory",
            hint="choose another path, or move that file out of the way",
        )
    action = f"write in {existing}" if existing == folder else f"create {folder} in {existing}"
    problem: OSError | None = None
    try:
        _probe(existing, make_directory=existing != folder)  # the OS's own reason, when there is one
    except OSError as exc:
        problem = exc
    if problem is None and not os.access(existing, os.W_OK | os.X_OK):
        problem = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    if problem is not None:
        raise UsageError(
            f"cannot write the {what} {path}: cannot {action}: {problem.strerror or problem}",
            hint=_WRITE_HINTS.get(problem.errno or 0, "check the path and its permissions"),
        )


def _probe(directory: Path, *, make_directory: bool) -> None:
    """Create and remove a hidden entry in ``directory``: the OS's own answer to "can I write here?"."""
    if make_directory:
        Path(tempfile.mkdtemp(prefix=".envspec-probe.", dir=directory)).rmdir()
        return
    fd, name = tempfile.mkstemp(prefix=".envspec-probe.", dir=directory)
    try:
        os.close(fd)
    finally:
        Path(name).unlink()


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``.

    An interruption (Ctrl-C, a full disk, a crash) leaves the previous file untouched and no
    temporary file behind. The new file keeps the old one's permissions (``0o644`` for a new file)
    unless ``mode`` is given. An OS error (a directory in the way, no permission, a full disk) is a
    :class:`~envspec.errors.UsageError` naming ``path``.
    """
    try:
        _write_atomic(path, data, mode)
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint=_WRITE_HINTS.get(exc.errno or 0, "check the path and its permissions"),
        ) from None


def _write_atomic(path: Path, data: bytes, mode: int | None) -> None:
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    directory = path.parent if str(path.parent) else Path()
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(mode)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def read_limited(path: Path, limit: int, *, what: str, missing_hint: str) -> bytes:
    """At most ``limit + 1`` bytes of the file at ``path`` (so a caller can tell "too large").

    Every way the read can fail becomes a :class:`~envspec.errors.UsageError` naming the path: a
    missing file (with ``missing_hint``), a directory, a permission or other OS error.
    """
    try:
        if path.is_dir():
            raise UsageError(f"{path} is a directory, not a {what}", hint=f"pass the path of a {what}")
        with path.open("rb") as handle:
            return handle.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", hint=missing_hint) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
