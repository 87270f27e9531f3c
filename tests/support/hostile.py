"""Distributions as hostile or broken as an index can serve, for the exporter to survive: lying or
invalid Requires-Python, METADATA that is missing, doubled, huge, a zip bomb, not UTF-8 or damaged,
files that are no archive, and an sdist whose PKG-INFO hides behind 300 MiB of zeros."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.wheels import build_sdist, core_metadata

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["hostile_files"]


def _zip(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compression)
    return path


def _wheel(
    folder: Path, name: str, metadata: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED
) -> Path:
    """A wheel of ``name`` 1.0 whose dist-info folders hold exactly ``metadata`` ({folder: METADATA})."""
    module = name.replace("-", "_")
    members = {f"{module}/__init__.py": b"", **{f"{d}/METADATA": m for d, m in metadata.items()}}
    return _zip(folder / f"{module}-1.0-py3-none-any.whl", members, compression=compression)


def _meta(name: str, *lines: str) -> bytes:
    return (core_metadata(name, "1.0") + "".join(f"{line}\n" for line in lines)).encode()


def _corrupt(path: Path) -> Path:
    """A stored wheel whose METADATA bytes no longer match their CRC."""
    data = path.read_bytes()
    assert data.count(b"Requires-Python: >=3.8") == 1
    path.write_bytes(data.replace(b"Requires-Python: >=3.8", b"Requires-Python: >=3.9"))
    return path


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, without holding them in memory."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._left)
        view[:count] = bytes(count)
        self._left -= count
        return count


def _tar_bomb(folder: Path) -> Path:
    """A small .tar.gz sdist whose PKG-INFO comes after 300 MiB of zeros (past the scan cap)."""
    path = folder / "es_h_tarbomb-1.0.tar.gz"
    zeros = tarfile.TarInfo("es_h_tarbomb-1.0/padding")
    zeros.size = 300 << 20
    info = _meta("es-h-tarbomb", "Requires-Python: >=3.8")
    pkg_info = tarfile.TarInfo("es_h_tarbomb-1.0/PKG-INFO")
    pkg_info.size = len(info)
    with gzip.open(path, "wb", compresslevel=1) as unzipped, tarfile.open(fileobj=unzipped, mode="w|") as tar:
        tar.addfile(zeros, io.BufferedReader(_Zeros(zeros.size)))
        tar.addfile(pkg_info, io.BytesIO(info))
    return path


def hostile_files(folder: Path) -> dict[str, tuple[Path, str | None, bool]]:
    """Files as hostile or broken as an index can serve: {project: (file, its Requires-Python as
    exported or None, whether core metadata is published)}."""

    def wheel(case: str, *lines: str, compression: int = zipfile.ZIP_STORED) -> Path:
        name = f"es-h-{case}"
        return _wheel(
            folder, name, {f"es_h_{case}-1.0.dist-info": _meta(name, *lines)}, compression=compression
        )

    (folder / "es_h_notzip-1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 not a zip at all")
    padding = "Description: " + "x" * (2 << 20)  # stored: 2 MiB, past the 1 MiB cap
    bomb = "Description: " + "x" * (16 << 20)  # deflated to about 16 kB: the size says no at once
    return {
        "es-h-script": (wheel("script", 'Requires-Python: "><script>alert(1)</script>'), None, True),
        "es-h-arbitrary": (wheel("arbitrary", 'Requires-Python: ==="><b>'), '==="><b>', True),
        "es-h-invalid": (wheel("invalid", "Requires-Python: >=3.8; rm -rf /"), None, True),
        "es-h-repeated": (wheel("repeated", "Requires-Python: >=3.8", "Requires-Python: <3"), None, True),
        "es-h-range": (wheel("range", "Requires-Python: >=3.8, <4"), "<4,>=3.8", True),
        "es-h-control": (wheel("control", "Requires-Python: ===1\x00\x1b[2J"), None, True),
        "es-h-huge": (wheel("huge", "Requires-Python: >=3.8", padding), None, False),
        "es-h-bomb": (
            wheel("bomb", "Requires-Python: >=3.8", bomb, compression=zipfile.ZIP_DEFLATED),
            None,
            False,
        ),
        "es-h-corrupt": (_corrupt(wheel("corrupt", "Requires-Python: >=3.8")), None, False),
        "es-h-latin1": (
            _wheel(
                folder, "es-h-latin1", {"es_h_latin1-1.0.dist-info": b"Name: caf\xe9\nRequires-Python: >=3\n"}
            ),
            None,
            False,
        ),
        "es-h-none": (_wheel(folder, "es-h-none", {}), None, False),
        "es-h-two": (
            _wheel(
                folder,
                "es-h-two",
                {f"{d}.dist-info": _meta("es-h-two", "Requires-Python: >=3") for d in "ab"},
            ),
            None,
            False,
        ),
        "es-h-garbage": (_zip(folder / "es_h_garbage-1.0-py3-none-any.whl", {}), None, False),
        "es-h-notzip": (folder / "es_h_notzip-1.0-py3-none-any.whl", None, False),
        "es-h-tarbomb": (_tar_bomb(folder), None, False),
        "es-h-sdist": (build_sdist(folder, "es-h-sdist", "1.0", requires_python=">=3.9"), ">=3.9", False),
        "es-h-zipsdist": (
            _zip(
                folder / "es_h_zipsdist-1.0.zip",
                {"es_h_zipsdist-1.0/PKG-INFO": _meta("x", "Requires-Python: >3")},
            ),
            ">3",
            False,
        ),
    }
