"""Byte-deterministic wheels and sdists, built in-process with the standard library.

Every archive is a pure function of its arguments: entries are sorted, timestamps are fixed
(1980-01-01 for zips, the same instant for tars), permissions are fixed and wheel entries are
STORED (not deflated), so a wheel's sha256 does not even depend on the zlib build.  Tests may
therefore pin hashes of these wheels in expected lock files.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import stat
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version

__all__ = [
    "ZIP_EPOCH",
    "build_sdist",
    "build_wheel",
    "core_metadata",
    "module_name",
    "read_wheel_metadata",
    "record_hash",
    "sdist_filename",
    "tamper_wheel",
    "wheel_filename",
]

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
"""The zip timestamp of every wheel entry (the earliest a zip can hold)."""
TAR_EPOCH = 315532800
"""The same instant, 1980-01-01T00:00:00Z, as a POSIX timestamp for sdist entries."""
_FILE_MODE = 0o644
_TAMPER_PAYLOAD = b"TAMPERED = True\n"


def module_name(name: str) -> str:
    """The importable top-level package a built distribution holds: ``es-app`` -> ``es_app``."""
    return canonicalize_name(name).replace("-", "_")


def _version(version: str) -> str:
    return str(Version(version))


def wheel_filename(name: str, version: str, tag: str = "py3-none-any") -> str:
    """The PEP 427/491 file name, e.g. ``es_app-1.0-py3-none-any.whl``."""
    parse_tag(tag)  # raises on a malformed tag
    return f"{module_name(name)}-{_version(version)}-{tag}.whl"


def sdist_filename(name: str, version: str) -> str:
    """The PEP 625 file name, e.g. ``es_app-1.0.tar.gz``."""
    return f"{module_name(name)}-{_version(version)}.tar.gz"


def record_hash(data: bytes) -> str:
    """A RECORD hash: ``sha256=`` and the urlsafe base64 digest without padding."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _with_extra(requirement: str, extra: str) -> str:
    req = Requirement(requirement)
    marker = f'extra == "{canonicalize_name(extra)}"'
    if req.marker is not None:
        marker = f"({req.marker}) and {marker}"
    req.marker = Marker(marker)
    return str(req)


def core_metadata(
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    extras: Mapping[str, Sequence[str]] | None = None,
    requires_python: str | None = None,
) -> str:
    """METADATA / PKG-INFO text (Metadata-Version 2.1).

    Requirements are parsed and re-serialised by :mod:`packaging` (so a malformed one raises);
    an extra's requirements get ``extra == "<extra>"`` added to their marker.
    """
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {_version(version)}",
        f"Summary: {name}, a test distribution built by tests.support.wheels",
    ]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Requires-Dist: {Requirement(r)}" for r in requires)
    for extra, extra_requires in sorted((extras or {}).items()):
        lines.append(f"Provides-Extra: {canonicalize_name(extra)}")
        lines.extend(f"Requires-Dist: {_with_extra(r, extra)}" for r in extra_requires)
    return "\n".join(lines) + "\n"


def _default_module(name: str, version: str) -> str:
    return f'"""{name} {_version(version)}: a test distribution."""\n\n__version__ = "{_version(version)}"\n'


def _zip(entries: Sequence[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # Unix, whatever machine builds it
            info.external_attr = (stat.S_IFREG | _FILE_MODE) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _record(files: Sequence[tuple[str, bytes]], record_path: str) -> bytes:
    lines = [f"{path},{record_hash(data)},{len(data)}" for path, data in files]
    lines.append(f"{record_path},,")
    return ("\n".join(lines) + "\n").encode()


def _wheel_bytes(files: Mapping[str, bytes], dist_info: str) -> bytes:
    """A wheel of ``files`` plus its RECORD: sorted entries, the .dist-info last, RECORD at the end."""
    record_path = f"{dist_info}/RECORD"
    ordered = sorted(files.items(), key=lambda item: (item[0].startswith(f"{dist_info}/"), item[0]))
    return _zip([*ordered, (record_path, _record(ordered, record_path))])


def build_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    extras: Mapping[str, Sequence[str]] | None = None,
    requires_python: str | None = None,
    tag: str = "py3-none-any",
    module_source: str | None = None,
) -> Path:
    """Write a valid, installable wheel into the folder ``dest`` and return its path.

    The wheel holds ``<module>/__init__.py`` (``module_source`` verbatim if given, otherwise a
    module defining ``__version__``) and ``<name>-<version>.dist-info/{METADATA,WHEEL,RECORD}``.
    ``tag`` may be a compressed tag set (``cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64``);
    WHEEL lists every tag it expands to.  Root-Is-Purelib is true unless a tag names an ABI or a
    platform (then the content still is pure Python: only the tag matters to resolvers).
    """
    tags = sorted(str(t) for t in parse_tag(tag))
    purelib = all(t.endswith("-none-any") for t in tags)
    version = _version(version)
    module = module_name(name)
    dist_info = f"{module}-{version}.dist-info"
    wheel_text = "\n".join(
        [
            "Wheel-Version: 1.0",
            "Generator: tests.support.wheels",
            f"Root-Is-Purelib: {'true' if purelib else 'false'}",
            *(f"Tag: {t}" for t in tags),
        ]
    )
    files = {
        f"{module}/__init__.py": (module_source or _default_module(name, version)).encode(),
        f"{dist_info}/METADATA": core_metadata(
            name, version, requires=requires, extras=extras, requires_python=requires_python
        ).encode(),
        f"{dist_info}/WHEEL": (wheel_text + "\n").encode(),
    }
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / wheel_filename(name, version, tag)
    path.write_bytes(_wheel_bytes(files, dist_info))
    return path


def build_sdist(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    extras: Mapping[str, Sequence[str]] | None = None,
    requires_python: str | None = None,
    module_source: str | None = None,
) -> Path:
    """Write a minimal ``.tar.gz`` sdist into the folder ``dest`` and return its path.

    It holds ``<name>-<version>/`` with PKG-INFO, a ``pyproject.toml`` using the hatchling
    backend, and ``<module>/__init__.py``.  Building it needs hatchling: with build isolation
    that means fetching hatchling from an index, so offline it builds only without isolation in
    an environment that has hatchling (``pip wheel --no-build-isolation``, or calling
    ``hatchling.build.build_wheel`` directly, as tests/test_support.py does).

    The tar stream is deterministic (sorted entries, fixed mtime, uid/gid 0, mode 0644) and the
    gzip header carries no name or time; the compressed bytes depend only on the zlib build.
    """
    version = _version(version)
    module = module_name(name)
    top = f"{module}-{version}"
    pkg_info = core_metadata(name, version, requires=requires, extras=extras, requires_python=requires_python)
    project = [
        "[build-system]",
        'requires = ["hatchling"]',
        'build-backend = "hatchling.build"',
        "",
        "[project]",
        f"name = {json.dumps(name)}",
        f"version = {json.dumps(version)}",
    ]
    if requires_python is not None:
        project.append(f"requires-python = {json.dumps(requires_python)}")
    project.append(f"dependencies = {json.dumps([str(Requirement(r)) for r in requires])}")
    if extras:
        project.extend(["", "[project.optional-dependencies]"])
        project.extend(
            f"{canonicalize_name(extra)} = {json.dumps([str(Requirement(r)) for r in reqs])}"
            for extra, reqs in sorted(extras.items())
        )
    project.extend(["", "[tool.hatch.build.targets.wheel]", f"packages = [{json.dumps(module)}]"])
    files = {
        f"{top}/PKG-INFO": pkg_info.encode(),
        f"{top}/pyproject.toml": ("\n".join(project) + "\n").encode(),
        f"{top}/{module}/__init__.py": (module_source or _default_module(name, version)).encode(),
    }
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = TAR_EPOCH
            info.mode = _FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    gz_buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_buffer, mtime=0) as compressed:
        compressed.write(tar_buffer.getvalue())
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / sdist_filename(name, version)
    out.write_bytes(gz_buffer.getvalue())
    return out


def read_wheel_metadata(wheel: bytes | Path) -> bytes:
    """The ``*.dist-info/METADATA`` bytes of a wheel (what PEP 658 serves as ``<file>.metadata``)."""
    data = wheel.read_bytes() if isinstance(wheel, Path) else wheel
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        candidates = [
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(candidates) != 1:
            raise ValueError(f"expected one .dist-info/METADATA in the wheel, found {candidates}")
        return archive.read(candidates[0])


def _tampered_source(data: bytes) -> bytes:
    """Different Python source of the same length where possible (``TAMPERED = True``)."""
    if len(data) > len(_TAMPER_PAYLOAD) + 1:
        padded = _TAMPER_PAYLOAD + b"#" * (len(data) - len(_TAMPER_PAYLOAD) - 1) + b"\n"
        if padded != data:
            return padded
    return data + b"\n" + _TAMPER_PAYLOAD


def tamper_wheel(data: bytes) -> bytes:
    """A modified but still valid wheel: its first top-level ``.py`` file becomes ``TAMPERED = True``.

    RECORD is updated to match, so the wheel installs; only its sha256 gives it away.  For wheels
    from :func:`build_wheel` (stored entries, module source longer than the payload) the result
    has the same size as the original, so that only a hash check can tell the two apart.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        contents = {info.filename: archive.read(info) for info in infos}
    records = [n for n in contents if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        raise ValueError(f"expected one .dist-info/RECORD in the wheel, found {records}")
    record_path = records[0]
    payload_files = [n for n in contents if ".dist-info/" not in n]
    python_files = sorted(n for n in payload_files if n.endswith(".py"))
    target = (python_files or sorted(payload_files) or ["tampered.py"])[0]
    contents[target] = _tampered_source(contents.get(target, b""))

    rows = list(csv.reader(io.StringIO(contents[record_path].decode())))
    seen = False
    for row in rows:
        if row and row[0] == target:
            row[1:] = [record_hash(contents[target]), str(len(contents[target]))]
            seen = True
    if not seen:
        rows.insert(len(rows) - 1, [target, record_hash(contents[target]), str(len(contents[target]))])
    record_text = io.StringIO()
    csv.writer(record_text, lineterminator="\n").writerows(rows)
    contents[record_path] = record_text.getvalue().encode()

    order = [info.filename for info in infos]
    if target not in order:
        order.insert(0, target)
    by_name = {info.filename: info for info in infos}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name in order:
            old = by_name.get(name)
            info = zipfile.ZipInfo(name, date_time=old.date_time if old else ZIP_EPOCH)
            info.compress_type = old.compress_type if old else zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = old.external_attr if old else (stat.S_IFREG | _FILE_MODE) << 16
            out.writestr(info, contents[name])
    return buffer.getvalue()
