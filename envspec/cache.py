"""envspec's own cache folder: where it is, whether there is one, and its spec-hash entries.

The cache holds what envspec can fetch or compute again: index pages (validated with their ETag or
Last-Modified on the next use), files checked against a published hash, the resolvers' caches, and
the spec hashes of spec files it has seen. Nothing in it can change a lock: content is checked by
hash before use. It is never the user's pip or uv cache.

Where it is, first match wins: ``--no-cache`` (none at all), ``--cache-dir DIR``,
``ENVSPEC_NO_CACHE=1`` (none), ``ENVSPEC_CACHE_DIR``, then the platform's user cache folder:
``$XDG_CACHE_HOME/envspec`` or ``~/.cache/envspec`` on Linux, ``~/Library/Caches/envspec`` on macOS.

A spec-hash entry is one small file, ``spec-hash/<key>``, holding ``sha256:<64 hex digits>``: the
spec hash of the spec file whose bytes (with envspec's own code and data) give ``key`` (see
:func:`envspec.lock.state.spec_hash_key`). Entries are written atomically and checked on every read;
an entry that is missing, unreadable or malformed is a miss, and a cache that cannot be written is
no cache. Trust: the folder is the user's own, like pip's cache. Whoever can write it can make
``envspec lock`` report a stale lock as up to date (or the other way round), but cannot make the
entry of one spec's bytes answer for other bytes, since the key is a sha256 over them.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

CACHE_FORMAT = 1  # bump to start from an empty cache when the layout changes
SPEC_HASH_ENTRIES = 512  # storing more removes the oldest: a few dozen bytes each, for edited specs
_KEY = re.compile(r"[0-9a-f]{64}")
_SPEC_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def default_cache_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The platform's user cache folder for envspec (it need not exist)."""
    env = os.environ if environ is None else environ
    system = sys.platform if platform is None else platform
    if system == "darwin":
        return Path(env.get("HOME", "~")).expanduser() / "Library" / "Caches" / "envspec"
    xdg = env.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "envspec"
    return Path(env.get("HOME", "~")).expanduser() / ".cache" / "envspec"


def cache_dir(
    explicit: Path | None = None, *, disabled: bool = False, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The cache folder to use (with the format version in its path), or None for no cache."""
    env = os.environ if environ is None else environ
    if disabled:
        return None
    if explicit is not None:
        root = explicit
    elif env.get("ENVSPEC_NO_CACHE", "") not in ("", "0"):
        return None
    elif env.get("ENVSPEC_CACHE_DIR"):
        root = Path(env["ENVSPEC_CACHE_DIR"])
    else:
        root = default_cache_dir(env)
    return root.expanduser() / f"v{CACHE_FORMAT}"


def cached_spec_hash(folder: Path, key: str) -> str | None:
    """The spec hash stored under ``key`` in the cache ``folder``, or None (a miss, whatever the cause)."""
    if not _KEY.fullmatch(key):
        return None
    try:
        # O_NONBLOCK: a FIFO planted in the cache reads as empty instead of hanging
        fd = os.open(folder / "spec-hash" / key, os.O_RDONLY | os.O_NONBLOCK)
        try:
            raw = os.read(fd, 128)
        finally:
            os.close(fd)
    except OSError:
        return None
    text = raw.decode("ascii", "replace").removesuffix("\n")
    return text if _SPEC_HASH.fullmatch(text) else None


def store_spec_hash(folder: Path, key: str, value: str) -> None:
    """Remember ``value`` under ``key``, atomically; best effort, silent when the cache is not writable."""
    if not _KEY.fullmatch(key) or not _SPEC_HASH.fullmatch(value):
        raise ValueError(f"not a spec-hash cache entry: {key!r} -> {value!r}")
    import tempfile  # only the full path stores; the fast path must not pay for this import

    entries = folder / "spec-hash"
    try:
        entries.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".new-", dir=entries)
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(f"{value}\n".encode("ascii"))
            temp.replace(entries / key)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        _prune(entries, SPEC_HASH_ENTRIES)
    except OSError:
        return


def _prune(entries: Path, keep: int) -> None:
    """Remove the oldest files of ``entries`` beyond ``keep`` (a leftover temporary file counts too)."""
    with os.scandir(entries) as scan:
        found = [entry for entry in scan if entry.is_file(follow_symlinks=False)]
    if len(found) <= keep:
        return
    found.sort(key=lambda entry: entry.stat(follow_symlinks=False).st_mtime_ns)
    for entry in found[: len(found) - keep]:
        with contextlib.suppress(OSError):
            Path(entry.path).unlink()
