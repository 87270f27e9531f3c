"""``envspec pack``: one file that builds a lock's environment with no network and no envspec.

The pack is a bash script followed by an uncompressed tar (wheels are compressed already)::

    bootstrap.sh        the venv target's script for the lock (it holds the lock itself)
    pylock.toml         the lock, for reading and for ``envspec verify --lock``
    SHA256SUMS          every member's sha256, for ``sha256sum -c`` after ``--extract``
    files/<file name>   every locked file, taken from the store (checked there)

The script checks the tar's sha256 (written into it) before unpacking anything, so a truncated or
damaged copy is refused whole; bootstrap.sh then checks each file against the lock as it installs.
The bytes depend only on the lock, the platforms chosen and envspec's version: members are sorted,
with no times, owners or absolute paths.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import IO

from envspec.emit.base import EmitContext
from envspec.emit.scripts.fetch import Entry
from envspec.errors import UsageError
from envspec.store import entry_path

SIZE_WIDTH = 20  # the payload size field, padded so the header's length never depends on it


@dataclasses.dataclass(frozen=True, slots=True)
class Packed:
    files: int
    payload_bytes: int
    payload_sha256: str


class _HashingWriter(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``out``."""

    def __init__(self, out: IO[bytes]) -> None:
        super().__init__()
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def header(ctx: EmitContext, files: int, total: int, payload_size: int, payload_sha256: str) -> bytes:
    """The script part of a pack; its length depends only on the lock and the file counts."""
    template = resources.files("envspec.emit").joinpath("scripts/pack_header.sh").read_text(encoding="utf-8")
    values = {
        "@NAME@": ctx.lock.name,  # an identifier (the spec's schema allows nothing else)
        "@ENV_ID@": ctx.env_id,
        "@LOCK_SHA256@": ctx.lock_sha256,
        "@FILES@": str(files),
        "@BYTES@": str(total),
        # padded, so that the final value can be written over the placeholder in place
        "@PAYLOAD_SIZE@": f"{payload_size:<{SIZE_WIDTH}}",
        "@PAYLOAD_SHA256@": payload_sha256,
    }
    text = template
    for key, value in values.items():
        text = text.replace(key, value)
    return text.encode("utf-8")


def _member(name: str, size: int, *, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o755 if executable else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_payload(
    out: IO[bytes], ctx: EmitContext, script: str, entries: Sequence[Entry], store: Path
) -> tuple[int, str]:
    writer = _HashingWriter(out)
    small = {
        "bootstrap.sh": script.encode("utf-8"),
        "pylock.toml": ctx.lock_text.encode("utf-8"),
    }
    sums = [f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(small.items())]
    sums += [f"{e.sha256}  files/{e.filename}\n" for e in entries]
    small["SHA256SUMS"] = "".join(sums).encode("utf-8")
    with tarfile.open(fileobj=writer, mode="w|", bufsize=1 << 20, format=tarfile.PAX_FORMAT) as archive:
        for name in ("SHA256SUMS", "bootstrap.sh", "pylock.toml"):
            data = small[name]
            archive.addfile(_member(name, len(data), executable=name.endswith(".sh")), io.BytesIO(data))
        for entry in entries:
            with entry_path(store, entry.sha256).open("rb") as source:
                archive.addfile(_member(f"files/{entry.filename}", entry.size), source)
    return writer.size, writer.digest.hexdigest()


def write_pack(ctx: EmitContext, script: str, entries: Sequence[Entry], store: Path, out: Path) -> Packed:
    """Write the pack for ``entries`` (all intact in ``store``) to ``out``, atomically."""
    ordered = sorted(entries, key=lambda e: e.filename)
    names = [e.filename for e in ordered]
    if len(set(names)) != len(names):
        raise UsageError(
            "two locked files share one file name", hint="pack one platform at a time (--platform)"
        )
    total = sum(e.size for e in ordered)
    placeholder = header(ctx, len(ordered), total, 0, "0" * 64)
    with _temporary_beside(out) as (handle, temp):
        handle.write(placeholder)
        size, digest = _write_payload(handle, ctx, script, ordered, store)
        final = header(ctx, len(ordered), total, size, digest)
        if len(final) != len(placeholder):  # the size field is padded: this cannot differ
            raise AssertionError("the pack header changed length")
        handle.seek(0)
        handle.write(final)
        handle.flush()
        os.fsync(handle.fileno())
        temp.chmod(0o755)
        temp.replace(out)
    return Packed(files=len(ordered), payload_bytes=size, payload_sha256=digest)


@contextlib.contextmanager
def _temporary_beside(path: Path) -> Iterator[tuple[IO[bytes], Path]]:
    directory = path.parent if str(path.parent) else Path()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}", hint="check the path") from None
    temp = Path(name)
    try:
        with os.fdopen(fd, "w+b") as handle:
            yield handle, temp
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}", hint="check the free space") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def pack_lock(
    lock_path: Path | None,
    out: Path | None,
    store: Path | None,
    platforms: Sequence[str],
    *,
    jobs: int,
    variants: Sequence[str] = (),
) -> tuple[Path, Packed, Path, int]:
    """Fill the store for one lock and write its pack: the pack's path, what it holds, the store,
    and how many files had to be downloaded. ``variants``: of a lock of several torch builds, only
    these builds (the pack's bootstrap.sh then chooses among them)."""
    from envspec.emit.venv import VenvEmitter
    from envspec.emitcmd import the_lock_in_locks
    from envspec.fsio import check_writable
    from envspec.lock.read import read_lock
    from envspec.store import fill_store

    path = lock_path or the_lock_in_locks()
    from envspec.store import only_builds

    lock, text = read_lock(path)
    ctx = EmitContext(only_builds(lock, variants, path), text, path.name)
    target = out or Path(f"{lock.name}.pack.sh")
    check_writable(target, what="pack")
    script = VenvEmitter().render(ctx)["bootstrap.sh"]
    folder, summary, entries = fill_store([path], store, platforms, jobs=jobs, variants=variants)
    return target, write_pack(ctx, script, entries, folder, target), folder, summary.fetched
