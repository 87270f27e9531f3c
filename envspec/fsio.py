"""Write files atomically: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``.

    An interruption (Ctrl-C, a full disk, a crash) leaves the previous file untouched and no
    temporary file behind. The new file keeps the old one's permissions (``0o644`` for a new file)
    unless ``mode`` is given.
    """
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
    from envspec.errors import UsageError

    try:
        if path.is_dir():
            raise UsageError(f"{path} is a directory, not a {what}", hint=f"pass the path of a {what}")
        with path.open("rb") as handle:
            return handle.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", hint=missing_hint) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
