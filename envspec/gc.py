"""``envspec gc``: remove the store entries that no kept lock references, one unlink each.

The decision is :func:`plan_gc`, a pure function of the digests the kept locks reference and a
listing of ``<store>/sha256/``; :func:`run_gc` reads the locks and the folder, prints, and applies
the plan. Every kept lock is read before anything is removed, so a lock that cannot be read costs
the store nothing. Only regular files named ``<64 hex digits>`` or ``<64 hex digits>.part`` directly
in ``<store>/sha256/`` are ever removed; a symbolic link, a folder or any other name is left alone
and reported, and no link is ever followed. Each removal is one ``unlink``: an interrupted gc
leaves a store whose every entry is still whole (a store never holds a damaged file under its name).
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Iterable, Sequence, Set
from enum import StrEnum
from pathlib import Path

from rich.markup import escape

from envspec.console import err_console
from envspec.emit.scripts.fetch import human
from envspec.errors import EnvspecError, UsageError
from envspec.lock.state import is_lock_name

try:
    import fcntl
except ImportError:  # not on POSIX: no fetch claims a partial download there
    fcntl = None  # type: ignore[assignment]

DIGEST = re.compile(r"[0-9a-f]{64}")
PART = ".part"
DEFAULT_KEEP_DIR = Path("locks")
_NAME_HINT = "name the locks to keep: --keep LOCK or --keep-dir DIR (repeatable)"


class GcError(EnvspecError):
    """The store could not be collected: a kept lock that cannot be read, or an entry not removed."""


class Kind(StrEnum):
    """What a name in ``<store>/sha256/`` is, as ``lstat`` sees it (links are never followed)."""

    FILE = "a file"
    LINK = "a symbolic link"
    FOLDER = "a folder"
    OTHER = "not a regular file"


@dataclasses.dataclass(frozen=True, slots=True)
class Listed:
    """One name in ``<store>/sha256/``: its kind and, for a regular file, its size in bytes."""

    name: str
    size: int = 0
    kind: Kind = Kind.FILE

    @property
    def digest(self) -> str | None:
        """The sha256 this name stores (whole or in part), or None when it is no store name."""
        base = self.name.removesuffix(PART)
        return base if DIGEST.fullmatch(base) else None

    @property
    def partial(self) -> bool:
        return self.name.endswith(PART)


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What gc keeps, removes and leaves alone (with why), each sorted by name."""

    kept: tuple[Listed, ...]
    removed: tuple[Listed, ...]
    skipped: tuple[tuple[Listed, str], ...]

    @property
    def bytes_freed(self) -> int:
        return sum(item.size for item in self.removed)


def plan_gc(referenced: Set[str], listing: Iterable[Listed]) -> Plan:
    """Keep every entry (and partial download) of a ``referenced`` digest, remove every other one,
    and skip what is no store entry: a link, a folder, a special file or a name not ``<digest>`` or
    ``<digest>.part``. Entries are removed only when they are regular files."""
    kept: list[Listed] = []
    removed: list[Listed] = []
    skipped: list[tuple[Listed, str]] = []
    for item in sorted(listing, key=lambda listed: listed.name):
        digest = item.digest
        if item.kind is not Kind.FILE:
            skipped.append((item, item.kind.value))
        elif digest is None:
            skipped.append((item, "not a store entry (no sha256 name)"))
        elif digest in referenced:
            kept.append(item)
        else:
            removed.append(item)
    return Plan(tuple(kept), tuple(removed), tuple(skipped))


def locks_under(folder: Path) -> list[Path]:
    """Every lockfile under ``folder``, at any depth, sorted (links to folders are not followed)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, onerror=_unlistable):
        dirs.sort()
        found += [Path(root) / name for name in sorted(files) if is_lock_name(name)]
    return found


def _unlistable(exc: OSError) -> None:
    """A folder under a kept folder that cannot be listed might hide a lock: stop."""
    raise GcError(
        f"{exc.filename}: cannot list: {exc.strerror or exc}; nothing was removed",
        hint="a lock in a folder gc cannot read would lose its files; fix the permissions",
    )


def kept_lock_paths(keep: Sequence[Path], keep_dirs: Sequence[Path]) -> list[Path]:
    """The locks to keep: ``keep`` and the locks under ``keep_dirs``; those in ``./locks`` when
    neither is given. Never none: an empty list would empty the store."""
    for folder in keep_dirs:
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise UsageError(f"--keep-dir {folder} {what}", hint="pass a folder that holds lockfiles")
    if not keep and not keep_dirs:
        found = locks_under(DEFAULT_KEEP_DIR) if DEFAULT_KEEP_DIR.is_dir() else []
        if not found:
            raise UsageError("no lock to keep was named, and ./locks holds none", hint=_NAME_HINT)
        return found
    paths = list(dict.fromkeys([*keep, *(lock for folder in keep_dirs for lock in locks_under(folder))]))
    if not paths:
        folders = ", ".join(str(folder) for folder in keep_dirs)
        raise UsageError(f"no lockfile under {folders}; nothing would be kept", hint=_NAME_HINT)
    return paths


def referenced_digests(paths: Sequence[Path]) -> set[str]:
    """The sha256 of every file of every platform of every lock (wheels and sdists); a
    :class:`GcError` naming each lock that cannot be read, after trying them all."""
    from envspec.lock.read import read_lock

    digests: set[str] = set()
    problems: list[str] = []
    for path in paths:
        try:
            lock, _ = read_lock(path)
        except EnvspecError as exc:
            problems.append(str(exc))
            continue
        digests |= {artifact.sha256 for package in lock.packages for artifact in package.artifacts}
    if problems:
        noun = "lock" if len(problems) == 1 else "locks"
        raise GcError(
            f"{len(problems)} kept {noun} could not be read; nothing was removed:\n" + "\n".join(problems),
            hint="fix or re-lock each, or stop keeping it: gc never guesses what an unreadable lock needs",
        )
    return digests


def list_store(entries: Path) -> list[Listed]:
    """Every name in the ``entries`` folder, as ``lstat`` sees it (nothing is followed)."""
    listing: list[Listed] = []
    with os.scandir(entries) as found:
        for entry in found:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode):
                listing.append(Listed(entry.name, info.st_size))
            elif stat.S_ISLNK(info.st_mode):
                listing.append(Listed(entry.name, 0, Kind.LINK))
            elif stat.S_ISDIR(info.st_mode):
                listing.append(Listed(entry.name, 0, Kind.FOLDER))
            else:
                listing.append(Listed(entry.name, 0, Kind.OTHER))
    return listing


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    """What applying a plan could not remove: entries that failed (with why), and partial downloads
    a running fetch holds (left to it)."""

    failed: tuple[tuple[Listed, str], ...] = ()
    busy: tuple[Listed, ...] = ()

    @property
    def left(self) -> tuple[Listed, ...]:
        return (*(item for item, _ in self.failed), *self.busy)


def apply_plan(entries: Path, plan: Plan) -> Applied:
    """Unlink each entry ``plan`` removes from the ``entries`` folder; what could not be removed.

    One unlink per entry removes the name and nothing it might point to; an entry already gone
    counts as removed."""
    failed: list[tuple[Listed, str]] = []
    busy: list[Listed] = []
    for item in plan.removed:
        try:
            if not _unlink(entries / item.name, partial=item.partial):
                busy.append(item)
        except OSError as exc:
            failed.append((item, exc.strerror or str(exc)))
    return Applied(tuple(failed), tuple(busy))


def _unlink(path: Path, *, partial: bool) -> bool:
    """Unlink ``path``; False for a partial download that a running fetch holds (it claims the file
    with ``flock``): it is left alone. A partial download is unlinked under the same claim, so a
    fetch that claims it next finds the name gone and starts a file of its own."""
    if not partial or fcntl is None:
        path.unlink(missing_ok=True)
        return True
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            if not os.path.samestat(os.fstat(handle), path.lstat()):
                return False  # the name went to a newer partial download meanwhile
        except FileNotFoundError:
            return True
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(handle)


def _entries_folder(folder: Path) -> Path | None:
    """``<folder>/sha256``, checked; None when there is nothing to collect."""
    if not folder.exists() and not folder.is_symlink():
        return None
    if not folder.is_dir():
        raise UsageError(f"the store {folder} is not a folder", hint="pass --store DIR")
    entries = folder / "sha256"
    if entries.is_symlink():
        raise UsageError(
            f"{entries} is a symbolic link; gc removes only from the store's own folder",
            hint=f"pass the store it belongs to: --store {entries.resolve().parent}",
        )
    if not entries.exists():
        return None
    if not entries.is_dir():
        raise UsageError(f"{entries} is not a folder", hint="is this a store `envspec fetch` filled?")
    return entries


def run_gc(store: Path | None, keep: Sequence[Path], keep_dirs: Sequence[Path], *, dry_run: bool) -> None:
    """Collect ``store`` (the default one when None), printing what goes and a summary."""
    from envspec.store import default_store

    folder = store or default_store()
    paths = kept_lock_paths(keep, keep_dirs)
    referenced = referenced_digests(paths)
    err = err_console()
    entries = _entries_folder(folder)
    if entries is None:
        err.print(f"store {escape(str(folder))} does not exist; nothing to do")
        return
    try:
        plan = plan_gc(referenced, list_store(entries))
    except OSError as exc:
        raise GcError(f"{entries}: cannot list: {exc.strerror or exc}") from None
    verb = "would remove" if dry_run else "removing"
    for item in plan.removed:
        what = " (partial download)" if item.partial else ""
        err.print(f"{verb} sha256/{escape(item.name)}{what}  {human(item.size)}")
    for item, why in plan.skipped:
        err.print(f"skipped sha256/{escape(item.name)}: {escape(why)}, left alone")
    applied = Applied() if dry_run else apply_plan(entries, plan)
    for item in applied.busy:
        err.print(f"left sha256/{escape(item.name)}: in use by a running fetch")
    removed = len(plan.removed) - len(applied.left)
    freed = plan.bytes_freed - sum(item.size for item in applied.left)
    locks = f"{len(paths)} lock" + ("" if len(paths) == 1 else "s")
    skipped = f", {len(plan.skipped)} skipped" if plan.skipped else ""
    busy = f", {len(applied.busy)} in use" if applied.busy else ""
    if dry_run:
        err.print(
            f"store {escape(str(folder))}: {len(plan.kept)} entries kept (for {locks}),"
            f" {removed} would be removed ({human(freed)} would be freed){skipped};"
            " nothing was removed (--dry-run)"
        )
        return
    err.print(
        f"store {escape(str(folder))}: {len(plan.kept)} entries kept (for {locks}),"
        f" {removed} removed ({human(freed)} freed){skipped}{busy}"
    )
    if applied.failed:
        lines = [f"sha256/{item.name}: {why}" for item, why in applied.failed]
        raise GcError(
            f"{len(applied.failed)} of {len(plan.removed)} entries could not be removed:\n"
            + "\n".join(lines),
            hint="check the store's permissions; what was kept or removed stays a valid store",
        )
