"""Hash trust: which sha256 a lock records for a file, who vouches for it, and which bytes match it.

A hash an index publishes on its project page is that index's word (``index``). A file whose index
publishes none is downloaded and hashed, then compared with every other in-scope index that does
publish one for the same file name: all agree (``cross-checked``), one disagrees (an error naming
both), or none publishes any (``first-download``: a warning, or an error under
``[lock] require_index_hashes``).

Every file the resolver downloads goes through :meth:`Verifier.file` too (the loopback router serves
verified copies), so a mirror whose bytes do not match its own page ("a lying mirror") is skipped,
with a one-line reason, for the next mirror that lists the same file, whatever the resolver.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from envspec.errors import EnvspecError
from envspec.lock.diskcache import file_digest
from envspec.lock.index import IndexClient, MirrorError, ProjectPage
from envspec.lock.model import HashFrom
from envspec.lock.simple import IndexFile

# hashes strong enough to vouch for a file (md5 and sha1 are not)
STRONG = ("sha256", "sha512", "sha384", "sha3_256", "sha3_512", "blake2b")


class TamperError(EnvspecError):
    """Two indexes disagree on a file's hash, or an index's bytes disagree with every published hash."""


class UntrustedHashError(EnvspecError):
    """``[lock] require_index_hashes`` is set and no in-scope index publishes a file's hash."""


def published(file: IndexFile) -> tuple[str, str] | None:
    """The strongest hash an index page gives for a file: (algorithm, hex digest), or None."""
    for algorithm in STRONG:
        digest = file.hashes.get(algorithm)
        if digest:
            return algorithm, digest
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Verified:
    """A downloaded file whose bytes match what its hash source says, and where it came from."""

    path: Path
    sha256: str
    size: int
    hash_from: HashFrom
    mirror: str  # the name of the index whose bytes these are


def _short(digest: str) -> str:
    return digest[:16] + "..."


class Verifier:
    """Downloads files (and their PEP 658 metadata) for one lock and decides whom to trust.

    Thread-safe; each file is downloaded at most once per lock and kept in ``folder``.
    """

    def __init__(self, client: IndexClient, folder: Path) -> None:
        self.client = client
        self.folder = folder
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._file_locks: dict[str, threading.Lock] = {}
        self._done: dict[str, Verified] = {}
        self._counter = 0

    def _warn(self, message: str) -> None:
        with self._lock:
            if message not in self.warnings:
                self.warnings.append(message)

    def _file_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._file_locks.setdefault(key, threading.Lock())

    def _dest(self) -> Path:
        with self._lock:
            self._counter += 1
            return self.folder / f"{self._counter:06d}.part"

    def _listings(self, page: ProjectPage, filename: str) -> Iterator[tuple[str, IndexFile]]:
        """(index name, file) for every in-scope index that lists ``filename``, the serving one first.

        The other indexes' pages are fetched only when the caller goes on past the first listing.
        """
        own = page.file(filename)
        if own is not None:
            yield page.index.name, own
        for other in self.client.other_pages(page.project):
            listed = other.file(filename)
            if listed is not None:
                yield other.index.name, listed

    def page(self, project: str) -> ProjectPage:
        name = canonicalize_name(project)
        page = self.client.project(name)
        if page is None:
            raise MirrorError(f"no index lists {name} any more")
        return page

    def locate(self, project: str, filename: str) -> tuple[str, int | None]:
        """Where the serving index has ``filename``, and its size if the page gives it."""
        page = self.page(project)
        own = page.file(filename)
        if own is None:
            raise MirrorError(f"{page.index.name} does not list {filename}")
        return own.url, own.size

    def file(self, project: str, filename: str) -> Verified:
        """The file ``filename`` of ``project``, downloaded and judged (cached for the whole lock)."""
        page = self.page(project)
        key = f"{page.project}/{filename}"
        with self._file_lock(key):
            if key in self._done:
                return self._done[key]
            own = page.file(filename)
            if own is None:
                raise MirrorError(f"{page.index.name} does not list {filename}")
            vouched = published(own)
            if vouched is None:
                verified = self._hashless(page.project, filename, list(self._listings(page, filename)))
            else:
                verified = self._vouched(filename, vouched, self._listings(page, filename))
            self._done[key] = verified
            return verified

    def _download(self, file: IndexFile) -> tuple[Path, dict[str, str], int]:
        """A file's bytes and digests: from the disk cache when its published sha256 is there."""
        cache = self.client.cache
        if cache is not None and file.sha256 and (hit := cache.blob("sha256", file.sha256)) is not None:
            dest = self._dest()
            shutil.copyfile(hit, dest)
            algorithms = ("sha256", *self._extra(file))
            digests = {a: file.sha256 if a == "sha256" else file_digest(dest, a) for a in algorithms}
            return dest, digests, dest.stat().st_size
        dest = self._dest()
        digests = self.client.download(file.url, dest, algorithms=("sha256", *self._extra(file)))
        if cache is not None and file.sha256 and digests["sha256"] == file.sha256:
            cache.store_blob("sha256", file.sha256, dest)  # only bytes that match a published hash
        return dest, digests, dest.stat().st_size

    @staticmethod
    def _extra(file: IndexFile) -> tuple[str, ...]:
        vouched = published(file)
        return (vouched[0],) if vouched and vouched[0] != "sha256" else ()

    def _vouched(
        self, filename: str, vouched: tuple[str, str], listings: Iterator[tuple[str, IndexFile]]
    ) -> Verified:
        """A file whose serving index publishes a hash: take the first listing whose bytes match it."""
        algorithm, digest = vouched
        reasons: list[str] = []
        for mirror, file in listings:
            other = published(file)
            if other is not None and other[0] == algorithm and other[1] != digest:
                continue  # a mirror that publishes another hash (cross_check reports it)
            try:
                path, digests, size = self._download(file)
            except MirrorError as exc:
                reasons.append(f"{mirror}: {exc}")
                continue
            if algorithm not in digests:
                path.unlink(missing_ok=True)
                continue  # published another algorithm; the serving page's one decides
            if digests[algorithm] != digest:
                path.unlink(missing_ok=True)
                reason = (
                    f"{mirror} served {filename} with {algorithm} {_short(digests[algorithm])}, but the"
                    f" page says {_short(digest)} (a tampered or corrupted file)"
                )
                reasons.append(reason)
                self._warn(f"skipped {reason}")
                continue
            return Verified(path, digests["sha256"], size, "index", mirror)
        raise TamperError(
            f"no index served {filename} with the {algorithm} its page publishes: " + "; ".join(reasons),
            hint="a mirror serves tampered or corrupted files; remove it from [[mirrors]] until it is fixed",
        )

    def _hashless(
        self, project: NormalizedName, filename: str, listings: list[tuple[str, IndexFile]]
    ) -> Verified:
        """A file whose serving index publishes no hash: hash the download and cross-check it."""
        mirror, file = listings[0]
        path, digests, size = self._download(file)
        sha256 = digests["sha256"]
        confirmed: list[str] = []
        for other_mirror, other in listings[1:]:
            vouched = published(other)
            if vouched is None:
                continue
            algorithm, digest = vouched
            actual = sha256 if algorithm == "sha256" else file_digest(path, algorithm)
            if actual != digest:
                path.unlink(missing_ok=True)
                raise TamperError(
                    f"{filename}: {mirror} publishes no hash and served a file with sha256 {sha256},"
                    f" but {other_mirror} publishes {algorithm} {digest} for it",
                    hint=f"one of the two serves a tampered or corrupted file; remove {mirror} (or"
                    f" {other_mirror}) from [[mirrors]] until it is fixed",
                )
            confirmed.append(other_mirror)
        if confirmed:
            return Verified(path, sha256, size, "cross-checked", mirror)
        self._warn(
            f"{mirror} publishes no hash for {project}'s files and no other index in scope does: their"
            " sha256 is what envspec downloaded (trust on first download); set [lock]"
            " require_index_hashes = true to refuse this"
        )
        return Verified(path, sha256, size, "first-download", mirror)

    def metadata(self, project: str, filename: str) -> bytes:
        """A wheel's PEP 658 metadata file from the first index whose bytes match its published hash."""
        page = self.page(project)
        reasons: list[str] = []
        cache = self.client.cache
        for mirror, file in self._listings(page, filename):
            if not file.metadata:
                continue
            if cache is not None and file.metadata_hash is not None:
                hit = cache.blob(*file.metadata_hash)
                if hit is not None:
                    return hit.read_bytes()
            try:
                body = self.client.fetch_small(file.metadata_url)
            except MirrorError as exc:
                reasons.append(f"{mirror}: {exc}")
                continue
            if file.metadata_hash is not None:
                algorithm, digest = file.metadata_hash
                known = algorithm in hashlib.algorithms_guaranteed
                if known and hashlib.new(algorithm, body).hexdigest() != digest:
                    reason = f"{mirror} served the metadata of {filename} with a hash its page does not give"
                    reasons.append(reason)
                    self._warn(f"skipped {reason}")
                    continue
                if known and cache is not None:
                    cache.store_bytes(algorithm, digest, body)
            return body
        reasons = reasons or ["no index lists it"]
        raise MirrorError(f"no index served the metadata of {filename}: " + "; ".join(reasons))


def cross_check(client: IndexClient, page: ProjectPage, chosen: tuple[IndexFile, ...]) -> None:
    """Two in-scope indexes that publish different hashes for the same file name are an error."""
    ours = {f.filename: published(f) for f in chosen}
    for other in client.other_pages(page.project):
        for file in other.files:
            mine, theirs = ours.get(file.filename), published(file)
            if mine and theirs and mine[0] == theirs[0] and mine[1] != theirs[1]:
                raise TamperError(
                    f"{file.filename} has different hashes on two mirrors:"
                    f" {page.index.name} says {mine[0]} {mine[1]}, {other.index.name} says {theirs[1]}",
                    hint="one of the mirrors serves a tampered or corrupted file; remove it from [[mirrors]]"
                    " until it is fixed",
                )
