"""One index's page for one project, as the lock uses it (parsed only as far as needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from envspec.lock.diskcache import CachedPage
from envspec.lock.plan import IndexRef
from envspec.lock.simple import IndexFile, parse_simple_json


def _file_version(filename: str) -> str | None:
    """The version part of a wheel or sdist file name, unparsed (None for other files)."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return parts[1] if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            return stem.rsplit("-", 1)[1] if "-" in stem else None
    return None


class ProjectPage:
    """A project's files as one index lists them.

    A PEP 691 JSON page keeps its ``files`` entries as the index sent them (``entries``), so that the
    router can pass them on with nothing but their URLs changed; they become :class:`IndexFile`
    values only when envspec itself needs them (``files``), for the few projects that get pinned.
    """

    def __init__(
        self,
        project: NormalizedName,
        index: IndexRef,
        index_url: str,
        *,
        page_url: str = "",
        entries: list[Mapping[str, Any]] | None = None,
        files: tuple[IndexFile, ...] = (),
        raw: CachedPage | None = None,
    ) -> None:
        self.project = project
        self.index = index
        self.index_url = index_url
        self.page_url = page_url
        self.entries = entries
        self.raw = raw  # the page as the index sent it, when it may be passed on unchanged
        self._files = files if entries is None else None
        self._by_name: dict[str, IndexFile] | None = None
        self._entry_of: dict[str, Mapping[str, Any]] = {}

    @property
    def files(self) -> tuple[IndexFile, ...]:
        if self._files is None:
            self._files = tuple(parse_simple_json({"files": self.entries}, self.page_url))
        return self._files

    def file(self, filename: str) -> IndexFile | None:
        """The listed file of that name, if any (only that entry is parsed)."""
        if self._by_name is None:
            if self.entries is not None and self._files is None:
                self._entry_of = {e["filename"]: e for e in self.entries}
                self._by_name = {}
            else:
                self._by_name = {f.filename: f for f in self.files}
        found = self._by_name.get(filename)
        if found is None and (entry := self._entry_of.get(filename)) is not None:
            (found,) = parse_simple_json({"files": [entry]}, self.page_url)
            self._by_name[filename] = found
        return found

    def release_files(self, version: str) -> tuple[IndexFile, ...]:
        """The listed files whose file name carries ``version`` (only those entries are parsed)."""
        if self.entries is None or self._files is not None:
            return self.files
        wanted = Version(version)
        same: dict[str, bool] = {}
        kept = []
        for entry in self.entries:
            text = _file_version(entry["filename"])
            if text is None:
                continue
            if text not in same:
                try:
                    same[text] = Version(text) == wanted
                except InvalidVersion:
                    same[text] = False
            if same[text]:
                kept.append(entry)
        return tuple(parse_simple_json({"files": kept}, self.page_url))

    def __bool__(self) -> bool:
        """Whether the page lists any file."""
        return bool(self.entries) if self.entries is not None else bool(self._files)
