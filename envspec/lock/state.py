"""Lock state: is a lock fresh for its spec, and one writer at a time (no resolution here).

Freshness compares the spec hash a lock records with the hash of the spec as it is now. Reading the
hash needs only ``tomllib``, so ``envspec lock --check`` answers without validating the whole lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from envspec.compat import Compat
from envspec.errors import UsageError
from envspec.lock.model import Lock
from envspec.lock.plan import plan_lock, spec_hash
from envspec.lock.read import read_spec_hash
from envspec.spec import Spec


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


def freshness(spec: Spec, compat: Compat, target: Path) -> Freshness:
    """Compare the lockfile at ``target`` (if any) with ``spec``."""
    current = spec_hash(spec, plan_lock(spec, compat))
    existing: str | None = None
    if target.is_file():
        try:
            existing = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            existing = ""  # unreadable: stale, and the write will say why
    locked = read_spec_hash(existing) if existing else None
    return Freshness(current=current, existing=existing, locked=locked)


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
