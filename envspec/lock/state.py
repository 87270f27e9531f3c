"""Lock state: is a lock fresh for its spec, and one writer at a time (no resolution here).

Freshness compares the spec hash a lock records with the hash of the spec as it is now. Reading the
recorded hash needs only ``tomllib``; computing the hash now needs the validated spec and its plan,
that is pydantic. :func:`cached_freshness` skips that step for spec bytes seen before: the cache maps
:func:`spec_hash_key` of the bytes to their spec hash, stored by the full check. Importing this module
is cheap (the standard library only), so that the no-op ``envspec lock`` can use it before anything
else is imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from envspec import __version__
from envspec.cache import cached_spec_hash, store_spec_hash
from envspec.errors import UsageError

if TYPE_CHECKING:
    from envspec.compat import Compat
    from envspec.lock.model import Lock
    from envspec.spec import Spec

LOCK_FORMAT = 1  # envspec.lock.model.LOCK_FORMAT, which imports pydantic; a test keeps the two equal
KEY_FORMAT = 1  # bump when what spec_hash_key covers changes
_PACKAGE = Path(__file__).resolve().parent.parent
_LIBRARIES = ("pydantic", "pydantic_core", "packaging")  # they parse the spec and serialise it for the hash


def default_lock_path(spec: Path) -> Path:
    """``locks/pylock.<spec stem>.toml``, relative to the working directory."""
    return Path("locks") / f"pylock.{spec.stem}.toml"


@dataclasses.dataclass(frozen=True, slots=True)
class Freshness:
    """A lock file against the spec as it is now."""

    current: str  # the spec hash now
    existing: str | None  # the lockfile's text, None when there is none
    locked: str | None  # the spec hash the lockfile records, None when it is not a current envspec lock

    @property
    def fresh(self) -> bool:
        return self.locked == self.current

    @property
    def reason(self) -> str | None:
        """Why the lock is stale, in a few words; None when it is fresh."""
        if self.fresh:
            return None
        if self.existing is None:
            return "no lockfile"
        if self.locked is None:
            return "not an envspec lock of this format"
        return "the spec changed since it was locked"


def is_lock_name(name: str) -> bool:
    """``pylock.toml`` or ``pylock.<name>.toml``: the names PEP 751 gives lockfiles."""
    return name == "pylock.toml" or (
        name.startswith("pylock.") and name.endswith(".toml") and len(name) > len("pylock..toml")
    )


def freshness(spec: Spec, compat: Compat, target: Path) -> Freshness:
    """Compare the lockfile at ``target`` (if any) with ``spec``."""
    from envspec.lock.plan import lock_plans, spec_hash
    from envspec.lock.read import read_spec_hash

    current = spec_hash(spec, lock_plans(spec, compat))
    existing: str | None = None
    if target.is_file():
        try:
            existing = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            existing = ""  # unreadable: stale, and the write will say why
    locked = read_spec_hash(existing) if existing else None
    return Freshness(current=current, existing=existing, locked=locked)


def spec_hash_key(data: bytes) -> str | None:
    """The spec-hash cache key of a spec file's bytes; None when envspec's own files cannot be read.

    A sha256 over the bytes and everything else the spec hash (and the spec's validity) depends on:
    envspec's version, the bytes of every module of the package and of every file under
    ``envspec/data/`` (so a new ``PLAN_FORMAT``, a changed default, a compatibility-data update), and a
    stamp of the folders pydantic, pydantic-core and packaging are installed in (an upgrade there
    changes the folder). It does not change with the spec's path, the lock, or the machine's cores.
    """
    code = _package_digest()
    if code is None:
        return None
    digest = hashlib.sha256()
    for part in (f"envspec spec-hash key {KEY_FORMAT}", __version__, code, _libraries_stamp()):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(data)
    return digest.hexdigest()


@functools.cache
def _package_digest() -> str | None:
    """A sha256 over envspec's modules and data files, names and bytes; computed once per process."""
    digest = hashlib.sha256()
    modules = 0
    try:
        for folder, subfolders, files in os.walk(_PACKAGE, onerror=_raise):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            place = Path(folder)
            is_data = place == _PACKAGE / "data" or _PACKAGE / "data" in place.parents
            for name in sorted(files):
                if not (is_data or name.endswith(".py")):
                    continue
                data = (place / name).read_bytes()
                label = (place / name).relative_to(_PACKAGE).as_posix()
                digest.update(f"{label}\0{len(data)}\0".encode("utf-8", "surrogateescape") + data)
                modules += name.endswith(".py")
    except OSError:
        return None
    return digest.hexdigest() if modules else None  # no sources (a zip import): no cache


def _raise(error: OSError) -> None:
    raise error


@functools.cache
def _libraries_stamp() -> str:
    """Where the libraries that shape the hash are installed, and when that folder last changed."""
    from importlib.machinery import PathFinder

    parts = []
    for name in _LIBRARIES:
        found = PathFinder.find_spec(name)
        places = list(found.submodule_search_locations or ()) if found else []
        try:
            folder = Path(places[0]).parent if places else None
            parts.append(f"{name}={folder}@{folder.stat().st_mtime_ns}" if folder else f"{name}=-")
        except OSError:
            parts.append(f"{name}=?")
    return ";".join(parts)


def cached_freshness(data: bytes, target: Path, cache: Path) -> str | None:
    """The spec hash, when the cache knows it for these spec bytes and the lock at ``target`` records it.

    None means "not known to be fresh": no cache entry, no lockfile, or one that is unreadable, not
    TOML, not an envspec lock of this format, or records another hash. Only :func:`freshness` says
    stale. A hit implies the spec is valid: an entry is stored only after the full check passed.
    """
    key = spec_hash_key(data)
    current = cached_spec_hash(cache, key) if key else None
    if current is None or not target.is_file():
        return None
    try:
        tool = tomllib.loads(target.read_text(encoding="utf-8"))["tool"]["envspec"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(tool, dict) or tool.get("format") != LOCK_FORMAT or tool.get("spec-hash") != current:
        return None
    return current


def remember_spec_hash(cache: Path | None, data: bytes, current: str) -> None:
    """Store the spec hash of spec bytes that passed the full check (nothing without a cache)."""
    key = spec_hash_key(data) if cache is not None else None
    if cache is not None and key is not None:
        store_spec_hash(cache, key, current)


def check_matches_spec(lock: Lock, spec: Spec, lock_file: str, spec_file: str) -> None:
    """Refuse a lock whose recorded spec is not ``spec``: its hash may match while its content was edited."""
    if lock.spec != spec:
        raise UsageError(
            f"{lock_file} records a spec that differs from {spec_file} although its spec hash matches:"
            " the lock's [tool.envspec.spec] was edited by hand",
            hint=f"restore it from version control, or delete it and run: envspec lock {spec_file}",
        )


@contextlib.contextmanager
def exclusive(target: Path) -> Iterator[None]:
    """Serialise concurrent locks of one file: an advisory lock on its directory."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
