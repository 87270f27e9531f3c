"""``envspec export-mirror``: a static simple index (PEP 503) of exactly the locked files.

The layout needs nothing but a static file server (nginx, ``python -m http.server``, a bucket behind
HTTP) or removable media::

    DIR/simple/index.html               every project
    DIR/simple/<project>/index.html     its locked files, each link with ``#sha256=<digest>``
    DIR/files/<file name>               the files, taken from the store (checked there)

Installers point at ``DIR/simple/`` (``pip install --index-url``, ``uv pip install --index-url``,
``bootstrap.sh --mirror``). A file name locked with two different sha256 by two locks is refused: a
static index can list one file under one name.
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from packaging.utils import canonicalize_name

from envspec.emit.scripts.fetch import Entry
from envspec.errors import UsageError
from envspec.fsio import write_atomic
from envspec.lock.router import render_page
from envspec.lock.simple import IndexFile
from envspec.store import entry_path


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


def export_mirror(entries: Iterable[Entry], store: Path, out: Path) -> dict[str, int]:
    """Write the index for ``entries`` (all present and checked in ``store``) into ``out``.

    Returns how many projects and files it lists.
    """
    by_name: dict[str, Entry] = {}
    for entry in entries:
        seen = by_name.setdefault(entry.filename, entry)
        if seen.sha256 != entry.sha256:
            raise UsageError(
                f"{entry.filename} is locked with two different sha256 ({seen.sha256[:16]}... and"
                f" {entry.sha256[:16]}...): a static index can list only one file under one name",
                hint="export the locks that disagree into separate folders",
            )
    projects: dict[str, list[Entry]] = {}
    for entry in by_name.values():
        projects.setdefault(canonicalize_name(entry.project), []).append(entry)
    (out / "files").mkdir(parents=True, exist_ok=True)
    for entry in sorted(by_name.values(), key=lambda e: e.filename):
        _place(entry_path(store, entry.sha256), out / "files" / entry.filename)
    for project, files in sorted(projects.items()):
        listed = tuple(
            IndexFile(e.filename, "../../files/" + quote(e.filename), {"sha256": e.sha256}) for e in files
        )
        page = render_page(project, listed)
        write_atomic(out / "simple" / project / "index.html", page.encode("utf-8"))
    links = "".join(
        f'<a href="{html.escape(quote(name))}/">{html.escape(name)}</a><br/>\n' for name in sorted(projects)
    )
    root = f"<!DOCTYPE html>\n<html><head><title>Simple index</title></head><body>\n{links}</body></html>\n"
    write_atomic(out / "simple" / "index.html", root.encode("utf-8"))
    return {"projects": len(projects), "files": len(by_name)}
