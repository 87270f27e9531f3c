"""The content-addressed store: every locked file under ``<store>/sha256/<digest>``, checked.

``envspec fetch`` fills it from the locks' URLs (with the same per-file failover as an install), and
``bootstrap.sh --offline <store>`` installs from it with no network at all. A file gets its store
name only once its size and sha256 are the lock's (it is written beside it first and renamed), so
what a store holds under a name is always that file; an entry found damaged is fetched again.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.utils import parse_wheel_filename

from envspec.cache import cache_dir
from envspec.emit.base import EmitContext, mirror_urls, packages_for, scoped_urls
from envspec.emit.scripts import fetch as fetcher
from envspec.errors import EnvspecError, UsageError
from envspec.lock.artifacts import target_tags
from envspec.lock.diskcache import file_digest
from envspec.lock.model import Lock


class FetchError(EnvspecError):
    """Some locked files could not be fetched from any source."""


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    files: int
    present: int  # already in the store, checked
    fetched: int
    bytes_fetched: int
    seconds: float


def default_store() -> Path:
    """``<envspec's cache folder>/store``; an error when the cache is switched off."""
    root = cache_dir(None)
    if root is None:
        raise UsageError("there is no default store with ENVSPEC_NO_CACHE set", hint="pass --store DIR")
    return root / "store"


def entry_path(store: Path, sha256: str) -> Path:
    return store / "sha256" / sha256


def locked_files(lock: Lock, platforms: Sequence[str]) -> list[fetcher.Entry]:
    """The files of ``lock`` that install on any of ``platforms``: the wheels that fit, else the
    sdist; for every locked platform when ``platforms`` is empty."""
    chosen = platforms or lock.platforms
    files: dict[str, fetcher.Entry] = {}
    for platform in chosen:
        accepted = target_tags(lock.python, platform)
        for package in packages_for(lock, platform):
            wheels = [w for w in package.wheels if parse_wheel_filename(w.name)[3] & accepted]
            for artifact in wheels or ([package.sdist] if package.sdist else []):
                files[artifact.sha256] = fetcher.Entry(
                    artifact.sha256, artifact.size, package.name, artifact.name, artifact.url
                )
    return [files[digest] for digest in sorted(files)]


def is_intact(store: Path, entry: fetcher.Entry) -> bool:
    """Whether the store holds ``entry`` whole: its size and sha256 (a damaged entry is removed)."""
    path = entry_path(store, entry.sha256)
    try:
        whole = path.is_file() and path.stat().st_size == entry.size
        if whole and file_digest(path, "sha256") == entry.sha256:
            return True
        path.unlink(missing_ok=True)
    except OSError:
        pass
    return False


class _StoreFetcher(fetcher.Fetcher):
    def __init__(self, options: argparse.Namespace, store: Path) -> None:
        super().__init__(options)
        self.store = store

    def target(self, entry: fetcher.Entry) -> Path:
        return entry_path(self.store, entry.sha256)


def fetch_into(
    store: Path,
    entries: Iterable[fetcher.Entry],
    indexes: Sequence[str],
    *,
    timeout: float,
    retries: int,
    jobs: int = 4,
) -> Summary:
    """Fetch every entry not already intact in ``store``; raise FetchError naming each that failed."""
    started = time.monotonic()
    wanted = list(entries)
    missing = [e for e in wanted if not is_intact(store, e)]
    (store / "sha256").mkdir(parents=True, exist_ok=True)
    options = argparse.Namespace(
        timeout=timeout,
        retries=retries,
        dest=str(store),
        offline=None,
        lock_index=list(indexes),
        mirror=[],
        resume=True,
    )
    worker = _StoreFetcher(options, store)
    worker.planned = sum(e.size for e in missing)
    if missing:
        fetcher.say(
            f"fetching {len(missing)} of {len(wanted)} files ({fetcher.human(sum(e.size for e in missing))})"
        )
    failed: list[tuple[fetcher.Entry, list[str]]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(jobs, len(missing) or 1))) as pool:
        futures = {pool.submit(worker.fetch, entry, len(missing)): entry for entry in missing}
        for future in concurrent.futures.as_completed(futures):
            tried = future.result()
            if tried:
                failed.append((futures[future], tried))
    if failed:
        lines = [
            f"{entry.filename} (sha256 {entry.sha256[:16]}...): " + "; ".join(tried)
            for entry, tried in sorted(failed, key=lambda item: item[0].filename)
        ]
        raise FetchError(
            f"{len(failed)} of {len(wanted)} files could not be fetched:\n" + "\n".join(lines),
            hint="check the mirrors named above; what was fetched stays in the store",
        )
    return Summary(
        files=len(wanted),
        present=len(wanted) - len(missing),
        fetched=len(missing),
        bytes_fetched=worker.bytes,
        seconds=time.monotonic() - started,
    )


def only_builds(lock: Lock, variants: Sequence[str], where: Path) -> Lock:
    """``lock`` with only the torch builds ``variants`` (all of them when empty); a usage error for a
    build it lacks, or for builds asked of a lock of one build."""
    if not variants:
        return lock
    if not lock.variants:
        raise UsageError(f"--variant: {where} holds one torch build", hint="leave --variant out")
    try:
        return lock.restrict(variants)
    except KeyError as missing:
        raise UsageError(
            f"--variant {missing.args[0]}: {where} has no such torch build",
            hint="its builds: " + ", ".join(lock.variant_names),
        ) from None


def fill_store(
    locks: Sequence[Path],
    store: Path | None,
    platforms: Sequence[str],
    *,
    jobs: int = 4,
    variants: Sequence[str] = (),
) -> tuple[Path, Summary, list[fetcher.Entry]]:
    """Every file of ``locks`` (the one lock in ``./locks`` when none) in the store, checked: the
    store folder, what it took, and the files. ``variants``: of a lock of several torch builds,
    only these builds' files."""
    from envspec.emitcmd import the_lock_in_locks
    from envspec.lock.read import read_lock

    folder = store or default_store()
    files: dict[str, fetcher.Entry] = {}
    indexes: list[str] = []
    timeout, retries = 0.0, 0
    for path in locks or [the_lock_in_locks()]:
        lock, text = read_lock(path)
        lock = only_builds(lock, variants, path)
        unknown = sorted(set(platforms) - set(lock.platforms))
        if unknown:
            raise UsageError(
                f"{path} is not locked for {', '.join(unknown)}", hint="locked: " + ", ".join(lock.platforms)
            )
        for entry in locked_files(lock, platforms):
            files.setdefault(entry.sha256, entry)
        indexes += [i for i in lock_indexes(EmitContext(lock, text, path.name)) if i not in indexes]
        timeout = max(timeout, lock.spec.network.timeout)
        retries = max(retries, lock.spec.network.retries)
    entries = list(files.values())
    summary = fetch_into(folder, entries, indexes, timeout=timeout, retries=retries, jobs=jobs)
    return folder, summary, entries


def lock_indexes(context: EmitContext) -> list[str]:
    """The indexes a lock's files may also be found on, in failover order ("" is the default index)."""
    return ["" if url is None else url for url in mirror_urls(context)] + scoped_urls(context)
