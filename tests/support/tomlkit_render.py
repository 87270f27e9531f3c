"""The lock renderer envspec used before ``envspec.tomlwrite``: tomlkit, kept as a test oracle.

The new writer must give these bytes for every lock, so that no committed lock changes.

Packages are sorted by name (then marker), files by file name, keys come in a fixed order, and
there are no timestamps but the indexes' upload times and no absolute paths, so the same lock value
always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.items import AoT, InlineTable, Table

from envspec.lock.model import Artifact, Lock, LockedPackage
from envspec.lock.render import HEADER, _upload_time, tool_table
from envspec.platforms import environment_marker, python_minor


def _inline(mapping: Mapping[str, Any]) -> InlineTable:
    table = tomlkit.inline_table()
    table.update(mapping)
    return table


def _artifact(artifact: Artifact) -> Table:
    table = tomlkit.table()
    table["name"] = artifact.name
    table["url"] = artifact.url
    table["size"] = artifact.size
    when = _upload_time(artifact.upload_time)
    if when is not None:
        table["upload-time"] = when
    table["hashes"] = _inline({"sha256": artifact.sha256})
    return table


def _hashes_from(package: LockedPackage) -> InlineTable | None:
    """``{file name = "index" | "cross-checked" | "first-download"}``: who vouches for each sha256."""
    sources = {a.name: a.hash_from for a in sorted(package.artifacts, key=lambda a: a.name) if a.hash_from}
    return _inline(sources) if sources else None


def render_lock_tomlkit(lock: Lock) -> str:
    """The lockfile text: canonical, deterministic, ending in one newline."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment(HEADER))
    doc.add(tomlkit.comment(f"environment {lock.env_id}"))
    doc["lock-version"] = "1.0"
    doc["environments"] = [environment_marker(p) for p in lock.platforms]
    doc["requires-python"] = f"=={python_minor(lock.python)}.*"
    doc["created-by"] = "envspec"
    packages = AoT([])
    for package in sorted(lock.packages, key=lambda p: (p.name, p.marker or "")):
        table = tomlkit.table()
        table["name"] = package.name
        table["version"] = package.version
        if package.marker:
            table["marker"] = package.marker
        table["index"] = package.index_url
        if package.sdist is not None:
            table["sdist"] = _artifact(package.sdist)
        if package.wheels:
            table["wheels"] = AoT([_artifact(w) for w in sorted(package.wheels, key=lambda a: a.name)])
        tool = tomlkit.table()
        envspec_table = _inline({"index": package.index_name})
        sources = _hashes_from(package)
        if sources is not None:
            envspec_table["hashes-from"] = sources
        tool["envspec"] = envspec_table
        table["tool"] = tool
        packages.append(table)
    doc["packages"] = packages
    tool_root = tomlkit.table(is_super_table=True)
    tool_root["envspec"] = tool_table(lock)
    doc["tool"] = tool_root
    return tomlkit.dumps(doc).rstrip("\n") + "\n"
