"""One ``[[packages]]`` entry of a lockfile: every value an emitter writes checked (names, versions,
URLs, hashes, file names), then the entry as a :class:`LockedPackage` (pure)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Mapping
from typing import Any

from envspec.errors import Diagnostic, KeyPath, Severity
from envspec.lock.buildmarkers import split_marker
from envspec.lock.model import HASH_FROM, Artifact, HashFrom, LockedPackage

SHA256 = re.compile(r"[0-9a-f]{64}")
# Distribution file names (PEP 427 wheels, PEP 625 sdists) and index/file URLs: no character that
# a shell, a requirements file or a Dockerfile gives a meaning to.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*\.(whl|tar\.gz|zip)")
URL = re.compile(r"(https?://[A-Za-z0-9.\-\[\]:@%]+|file://)(/[A-Za-z0-9._~%!+,;=:@/-]*)?")


def _diagnostic(code: str, message: str, path: KeyPath, expected: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, path=path, expected=expected)


def _upload_text(value: object) -> str | None:
    if isinstance(value, datetime.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return when.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return None


def _file_problems(data: Mapping[str, Any], path: KeyPath) -> Iterator[Diagnostic]:
    name, url, size, hashes = data.get("name"), data.get("url"), data.get("size"), data.get("hashes")
    if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
        yield _diagnostic(
            "invalid-file",
            "not a distribution file name",
            (*path, "name"),
            "a wheel or sdist file name of letters, digits and . _ + ! -",
        )
    if not isinstance(url, str) or not URL.fullmatch(url):
        yield _diagnostic(
            "invalid-url",
            "not a plain http(s) or file URL",
            (*path, "url"),
            "a URL without spaces, quotes or shell characters",
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        yield _diagnostic(
            "invalid-size", "not a file size", (*path, "size"), "a byte count (an integer >= 0)"
        )
    digest = hashes.get("sha256") if isinstance(hashes, Mapping) else None
    if not isinstance(digest, str) or not SHA256.fullmatch(digest):
        yield _diagnostic(
            "invalid-hash", "no usable sha256", (*path, "hashes", "sha256"), "64 lowercase hex digits"
        )
    if "upload-time" in data and not isinstance(data["upload-time"], datetime.datetime):
        yield _diagnostic("wrong-type", "not a date-time", (*path, "upload-time"), "a TOML date-time")


def package_problems(data: Mapping[str, Any], path: KeyPath) -> Iterator[Diagnostic]:
    for key in ("vcs", "directory", "archive"):
        if key in data:
            yield _diagnostic(
                "unsupported-source",
                f"a {key} source is not something envspec locks",
                (*path, key),
                "wheels (or one sdist) from an index",
            )
    if not isinstance(data.get("version"), str):
        yield _diagnostic("missing-key", 'required key "version" is missing', (*path, "version"))
    index = data.get("index")
    if not isinstance(index, str) or not URL.fullmatch(index):
        yield _diagnostic(
            "invalid-url",
            "not a plain http(s) or file URL",
            (*path, "index"),
            "the simple-index URL the package came from",
        )
    tool = data.get("tool")
    index_name = tool.get("envspec", {}).get("index") if isinstance(tool, Mapping) else None
    if not isinstance(index_name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", index_name):
        yield _diagnostic(
            "invalid-name",
            "not the name of one of the spec's mirrors",
            (*path, "tool", "envspec", "index"),
            'a mirror name such as "default"',
        )
    wheels = data.get("wheels", [])
    for i, wheel in enumerate(wheels if isinstance(wheels, list) else []):
        yield from _file_problems(wheel, (*path, "wheels", i))
    if isinstance(data.get("sdist"), Mapping):
        yield from _file_problems(data["sdist"], (*path, "sdist"))
    if "variants-json" in data:
        yield from _variants_json_problems(data["variants-json"], (*path, "variants-json"))
    yield from _hashes_from_problems(data, path)


VARIANTS_JSON = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*-variants\.json")


def _variants_json_name(url: object) -> str:
    return url.rsplit("/", 1)[-1] if isinstance(url, str) else ""


def _variants_json_problems(data: object, path: KeyPath) -> Iterator[Diagnostic]:
    """PEP 825's ``[packages.variants-json]``: a URL of a ``...-variants.json`` file, its size and sha256."""
    if not isinstance(data, Mapping):
        yield _diagnostic("wrong-type", "not a table", path, "a table of url, size and hashes")
        return
    named = {**data, "name": _variants_json_name(data.get("url"))}
    for found in _file_problems(named, path):
        if found.path[-1] == "name":
            continue
        yield found
    if not VARIANTS_JSON.fullmatch(named["name"]):
        yield _diagnostic(
            "invalid-file",
            "not the URL of a variants.json file",
            (*path, "url"),
            "a URL ending in -variants.json",
        )


def _file_names(data: Mapping[str, Any]) -> set[str]:
    sdist = data.get("sdist")
    files = [*(data.get("wheels") or []), *([sdist] if isinstance(sdist, Mapping) else [])]
    return {f["name"] for f in files if isinstance(f, Mapping) and isinstance(f.get("name"), str)}


def _hashes_from_problems(data: Mapping[str, Any], path: KeyPath) -> Iterator[Diagnostic]:
    """``[packages.tool.envspec] hashes-from``: optional; each key one of the package's files, each
    value one of :data:`HASH_FROM`."""
    tool = data.get("tool")
    sources = tool.get("envspec", {}).get("hashes-from") if isinstance(tool, Mapping) else None
    where: KeyPath = (*path, "tool", "envspec", "hashes-from")
    if sources is None:
        return
    if not isinstance(sources, Mapping):
        yield _diagnostic("wrong-type", "not a table", where, "a table of file name = source")
        return
    names = _file_names(data)
    for name, source in sources.items():
        if name not in names:
            yield _diagnostic("invalid-file", "not one of this package's files", (*where, name))
        elif source not in HASH_FROM:
            yield _diagnostic(
                "invalid-value", f"unknown hash source {source!r}", (*where, name), " or ".join(HASH_FROM)
            )


def _artifact(data: Mapping[str, Any], sources: Mapping[str, HashFrom]) -> Artifact:
    return Artifact(
        name=data["name"],
        url=data["url"],
        size=data["size"],
        sha256=data["hashes"]["sha256"],
        upload_time=_upload_text(data.get("upload-time")),
        hash_from=sources.get(data["name"]),
    )


def package_from(data: Mapping[str, Any]) -> LockedPackage:
    sources = data["tool"]["envspec"].get("hashes-from", {})
    split = split_marker(data.get("marker"))
    marker, builds = split if split is not None else (data.get("marker"), ())
    return LockedPackage(
        name=data["name"],
        version=data["version"],
        index_name=data["tool"]["envspec"]["index"],
        index_url=data["index"],
        wheels=tuple(_artifact(w, sources) for w in data.get("wheels", [])),
        sdist=_artifact(data["sdist"], sources) if "sdist" in data else None,
        marker=marker,
        variants=builds,
        variants_json=_variants_json(data.get("variants-json")),
    )


def _variants_json(data: Mapping[str, Any] | None) -> Artifact | None:
    if data is None:
        return None
    return _artifact({**data, "name": _variants_json_name(data["url"])}, {})
