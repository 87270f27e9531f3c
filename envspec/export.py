"""``envspec export-mirror``: a static simple index (PEP 503 HTML, PEP 691 JSON) of exactly the locked files.

The layout needs nothing but a static file server (nginx, ``python -m http.server``, a bucket behind
HTTP) or removable media::

    DIR/simple/index.html               every project (PEP 503)
    DIR/simple/index.json               the same list (PEP 691, api-version 1.1)
    DIR/simple/<project>/index.html     its locked files, each link with ``#sha256=<digest>``
    DIR/simple/<project>/index.json     the same files (PEP 691/700/714)
    DIR/files/<file name>               the files, taken from the store (checked there)
    DIR/files/<wheel name>.metadata     a wheel's METADATA (PEP 658/714), where it could be read

Installers point at ``DIR/simple/`` (``pip install --index-url``, ``uv pip install --index-url``,
``bootstrap.sh --mirror``). A file name locked with two different sha256 by two locks is refused: a
static index can list one file under one name.

A lock records no Requires-Python per file, so it is read from each file's own core metadata (a
wheel's ``*.dist-info/METADATA``, an sdist's ``PKG-INFO``). Those files are untrusted input: what is
read is capped, and a file whose metadata cannot be read whole, is not UTF-8, is ambiguous or holds
an invalid specifier is listed without it, never an error.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import gzip
import hashlib
import html
import io
import json
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from envspec.emit.scripts.fetch import Entry
from envspec.errors import UsageError
from envspec.fsio import write_atomic
from envspec.lock.router import render_page
from envspec.lock.simple import IndexFile
from envspec.store import entry_path

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

API_VERSION = "1.1"  # PEP 700: adds ``versions`` and each file's ``size`` to PEP 691's JSON
METADATA_CAP = 1 << 20
"""The most bytes of METADATA / PKG-INFO read from one file; a larger one is not read at all."""
_TAR_SCAN_CAP = 256 << 20  # bytes of an sdist's tar stream decompressed while looking for PKG-INFO
_TAR_MEMBER_CAP = 100_000  # members of an sdist looked at while looking for PKG-INFO


@dataclasses.dataclass(frozen=True, slots=True)
class FileMetadata:
    """What a file's own core metadata adds to its index entry."""

    requires_python: str | None = None  # normalised, valid specifier set; None when unknown
    metadata: bytes | None = None  # a wheel's METADATA, read whole and UTF-8, to serve (PEP 658)


def _capped(stream: IO[bytes], declared: int) -> bytes | None:
    """The member's bytes, or None when it says or turns out to be larger than :data:`METADATA_CAP`."""
    if declared > METADATA_CAP:
        return None
    data = stream.read(METADATA_CAP + 1)
    return data if len(data) <= METADATA_CAP else None


def _top_level(name: str, folder_suffix: str, file: str) -> bool:
    """Whether an archive member is ``<folder><folder_suffix>/<file>``, one folder deep."""
    folder, _, rest = name.partition("/")
    return rest == file and folder.endswith(folder_suffix) and len(folder) > len(folder_suffix)


def _zip_member(path: Path, folder_suffix: str, file: str) -> bytes | None:
    """The one top-level ``<dir>/<file>`` in a zip file (a wheel's ``x.dist-info/METADATA``, a zip
    sdist's ``x-1.0/PKG-INFO``); None when there is none or more than one (ambiguous)."""
    with zipfile.ZipFile(path) as archive:
        found = [i for i in archive.infolist() if _top_level(i.filename, folder_suffix, file)]
        if len(found) != 1:
            return None
        with archive.open(found[0]) as member:
            return _capped(member, found[0].file_size)


class _TooLongError(Exception):
    """An sdist whose tar stream runs past :data:`_TAR_SCAN_CAP` before its PKG-INFO."""


class _Bounded(io.RawIOBase):
    """A read-only stream that fails once more than ``limit`` bytes are read from it: a gzip bomb, or
    a tar header claiming a huge PAX record, costs at most that much."""

    def __init__(self, stream: gzip.GzipFile, limit: int) -> None:
        super().__init__()
        self._stream = stream
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(min(len(view), self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise _TooLongError
        view[: len(data)] = data
        return len(data)


def _tar_pkg_info(path: Path) -> bytes | None:
    """The one top-level ``<dir>/PKG-INFO`` of a ``.tar.gz`` sdist, read as a stream (no seeking back)."""
    found: bytes | None = None
    with (
        gzip.GzipFile(path, "rb") as unzipped,
        tarfile.open(fileobj=io.BufferedReader(_Bounded(unzipped, _TAR_SCAN_CAP)), mode="r|") as archive,
    ):
        for count, member in enumerate(archive):
            if count >= _TAR_MEMBER_CAP:
                return None
            if not member.isfile() or not _top_level(member.name, "", "PKG-INFO"):
                continue
            if found is not None:
                return None  # two candidates: ambiguous
            stream = archive.extractfile(member)
            found = _capped(stream, member.size) if stream is not None else None
            if found is None:
                return None
    return found


def _metadata_bytes(path: Path, filename: str) -> bytes | None:
    """The file's core metadata file, or None where it has none that can be read safely."""
    lowered = filename.lower()
    if lowered.endswith(".whl"):
        return _zip_member(path, ".dist-info", "METADATA")
    if lowered.endswith(".tar.gz"):
        return _tar_pkg_info(path)
    if lowered.endswith(".zip"):
        return _zip_member(path, "", "PKG-INFO")
    return None


def _requires_python(text: str) -> str | None:
    """The ``Requires-Python`` header of core metadata text, as a normalised specifier set; None
    when absent, repeated, empty, invalid or not printable."""
    headers = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    values = headers.get_all("Requires-Python") or []
    if len(values) != 1 or not isinstance(values[0], str):
        return None
    try:
        normalised = str(SpecifierSet(values[0]))
    except InvalidSpecifier:
        return None
    # ``===`` takes any text but white space: no control character reaches a page
    return normalised if normalised and normalised.isprintable() else None


def read_file_metadata(path: Path, filename: str) -> FileMetadata:
    """Requires-Python (wheels and sdists) and METADATA to serve (wheels) from the file at ``path``.

    Never raises for a damaged or hostile file: whatever cannot be read safely is left out.
    """
    try:
        data = _metadata_bytes(path, filename)
        if data is None:
            return FileMetadata()
        text = data.decode("utf-8")
        requires = _requires_python(text)
    except Exception:  # a hostile archive fails in many ways (zlib, CRC, tar, lzma, ...): leave it out
        return FileMetadata()
    return FileMetadata(requires, data if filename.lower().endswith(".whl") else None)


def _version_of(filename: str) -> Version | None:
    """The version a distribution's file name states (PEP 427 wheel, PEP 625 sdist)."""
    try:
        if filename.lower().endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class _Listed:
    entry: Entry
    meta: FileMetadata

    @property
    def metadata_sha256(self) -> str | None:
        return hashlib.sha256(self.meta.metadata).hexdigest() if self.meta.metadata is not None else None

    @property
    def url(self) -> str:
        return "../../files/" + quote(self.entry.filename)

    def index_file(self) -> IndexFile:
        digest = self.metadata_sha256
        return IndexFile(
            self.entry.filename,
            self.url,
            {"sha256": self.entry.sha256},
            requires_python=self.meta.requires_python,
            size=self.entry.size,
            metadata=digest is not None,
            metadata_hash=("sha256", digest) if digest is not None else None,
        )

    def json_file(self) -> dict[str, object]:
        """The file's PEP 691 entry, with PEP 700's ``size`` and PEP 714's ``core-metadata``."""
        entry: dict[str, object] = {
            "filename": self.entry.filename,
            "url": self.url,
            "hashes": {"sha256": self.entry.sha256},
            "size": self.entry.size,
        }
        if self.meta.requires_python is not None:
            entry["requires-python"] = self.meta.requires_python
        digest = self.metadata_sha256
        if digest is not None:
            entry["core-metadata"] = {"sha256": digest}
        return entry


def _json_bytes(document: Mapping[str, object]) -> bytes:
    """Canonical JSON: sorted keys, fixed separators, ASCII only, one trailing newline."""
    return (json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n").encode()


def project_json(project: str, listed: Iterable[_Listed]) -> bytes:
    """A PEP 691 project page (api-version 1.1): the files sorted by name, the versions they hold."""
    files = sorted(listed, key=lambda item: item.entry.filename)
    versions = {v for item in files if (v := _version_of(item.entry.filename)) is not None}
    document = {
        "meta": {"api-version": API_VERSION},
        "name": project,
        "files": [item.json_file() for item in files],
        "versions": [str(v) for v in sorted(versions)],
    }
    return _json_bytes(document)


def root_json(projects: Iterable[str]) -> bytes:
    """The PEP 691 project list."""
    names = [{"name": name} for name in sorted(projects)]
    return _json_bytes({"meta": {"api-version": API_VERSION}, "projects": names})


def root_html(projects: Iterable[str]) -> bytes:
    """The PEP 503 project list."""
    links = "".join(
        f'<a href="{html.escape(quote(name))}/">{html.escape(name)}</a><br/>\n' for name in sorted(projects)
    )
    page = f"<!DOCTYPE html>\n<html><head><title>Simple index</title></head><body>\n{links}</body></html>\n"
    return page.encode("utf-8")


def _place(source: Path, target: Path) -> None:
    """The store's file at ``target``: a hard link where the file system allows, else a copy."""
    if target.is_file() and source.samefile(target):
        return  # already the store's own file
    partial = target.with_name(f".{target.name}.part")
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:
        shutil.copyfile(source, partial)
    partial.replace(target)


def _unique(entries: Iterable[Entry]) -> dict[str, Entry]:
    """The entries by file name; a name locked with two sha256 is refused."""
    by_name: dict[str, Entry] = {}
    for entry in entries:
        seen = by_name.setdefault(entry.filename, entry)
        if seen.sha256 != entry.sha256:
            raise UsageError(
                f"{entry.filename} is locked with two different sha256 ({seen.sha256[:16]}... and"
                f" {entry.sha256[:16]}...): a static index can list only one file under one name",
                hint="export the locks that disagree into separate folders",
            )
    return by_name


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_PAGE_LIMIT = 64 << 20


def listed_before(out: Path) -> list[Entry]:
    """The files an earlier export into ``out`` listed that are still there (by size): exporting
    more locks into a folder adds to its index instead of replacing it."""
    found: list[Entry] = []
    for page in sorted((out / "simple").glob("*/index.json")):
        try:
            with page.open("rb") as handle:
                raw = handle.read(_PAGE_LIMIT + 1)
            document = json.loads(raw) if len(raw) <= _PAGE_LIMIT else {}
            project = document["name"]
            for item in document["files"]:
                name, digest, size = item["filename"], item["hashes"]["sha256"], item["size"]
                if not (
                    isinstance(project, str)
                    and isinstance(name, str)
                    and _SAFE_NAME.fullmatch(name)
                    and isinstance(digest, str)
                    and _DIGEST.fullmatch(digest)
                    and isinstance(size, int)
                ):
                    raise ValueError(f"an unexpected entry {str(item)[:200]!r}")
                kept = out / "files" / name
                if kept.is_file() and not kept.is_symlink() and kept.stat().st_size == size:
                    found.append(Entry(digest, size, project, name, ""))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                f"{page} is not a page envspec export-mirror wrote ({exc})",
                hint=f"export into an empty folder, or remove {out / 'simple'} to list only these locks",
            ) from None
    return found


def export_mirror(entries: Iterable[Entry], store: Path, out: Path) -> dict[str, int]:
    """Write the index for ``entries`` (all present and checked in ``store``) into ``out``, keeping
    what an earlier export there listed.

    Returns how many projects and files it lists, and how many of the files are new.
    """
    by_name = _unique(entries)
    before = {e.filename: e for e in listed_before(out)}
    _unique([*before.values(), *by_name.values()])  # a name may not change its bytes either
    projects: dict[str, list[_Listed]] = {}
    (out / "files").mkdir(parents=True, exist_ok=True)
    for entry in sorted({**before, **by_name}.values(), key=lambda e: e.filename):
        if entry.filename in by_name:
            source = entry_path(store, entry.sha256)
            _place(source, out / "files" / entry.filename)
        else:
            source = out / "files" / entry.filename
        listed = _Listed(entry, read_file_metadata(source, entry.filename))
        if listed.meta.metadata is not None:
            write_atomic(out / "files" / f"{entry.filename}.metadata", listed.meta.metadata)
        projects.setdefault(canonicalize_name(entry.project), []).append(listed)
    for project, files in sorted(projects.items()):
        page = render_page(project, tuple(item.index_file() for item in files))
        write_atomic(out / "simple" / project / "index.html", page.encode("utf-8"))
        write_atomic(out / "simple" / project / "index.json", project_json(project, files))
    write_atomic(out / "simple" / "index.html", root_html(projects))
    write_atomic(out / "simple" / "index.json", root_json(projects))
    files_listed = sum(len(f) for f in projects.values())
    return {"projects": len(projects), "files": files_listed, "new": len(set(by_name) - set(before))}
