"""Pick out what matters most in a lock diff: torch, CUDA, runtime flags, mirrors, Python, files."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envspec.diff.model import (
    Highlight,
    IndexChange,
    LockDiff,
    MirrorChange,
    Pin,
    PinChange,
    ValueChange,
    plain,
    show,
)
from envspec.lock.model import CudaFacts, Lock

_CUDA_PREFIXES = ("nvidia-", "cuda-")
_NAMES_SHOWN = 5
WHEELS = "CUDA runtime wheels"  # how the one line about the nvidia-*/cuda-* pins begins


@dataclasses.dataclass(frozen=True, slots=True)
class _Torch:
    version: str | None
    build: str | None
    cuda: str | None


def _local_label(version: str) -> str | None:
    try:
        return Version(version).local
    except InvalidVersion:
        return version.partition("+")[2] or None


def _public(version: str) -> str:
    try:
        return Version(version).public
    except InvalidVersion:
        return version.partition("+")[0]


def _joined(values: Iterable[str | None]) -> str | None:
    present = sorted({v for v in values if v})
    return ", ".join(present) if present else None


def _torch(lock: Lock) -> _Torch | None:
    """The torch a lock pins: from its facts, else from the ``+local`` labels of its torch pins."""
    facts = lock.facts.torch
    pins = [p.version for p in lock.packages if canonicalize_name(p.name) == "torch"]
    if facts is None and not pins:
        return None
    version = (facts.version if facts else None) or _joined(_public(v) for v in pins)
    build = ((facts.variant or facts.local) if facts else None) or _joined(_local_label(v) for v in pins)
    return _Torch(version, build, (facts.cuda if facts else None) or None)


def _torch_highlights(old: Lock, new: Lock) -> list[Highlight]:
    before, after = _torch(old), _torch(new)
    if before is None or after is None:
        sides = [(t, what) for t, what in ((before, "removed"), (after, "added")) if t is not None]
        return [
            Highlight("torch", f"torch {plain(t.version)} ({plain(t.build)}) {what}") for t, what in sides
        ]
    out = []
    if before.version != after.version:
        out.append(Highlight("torch", f"torch version {plain(before.version)} -> {plain(after.version)}"))
    if before.build != after.build or before.cuda != after.cuda:
        message = f"torch build {plain(before.build)} -> {plain(after.build)}"
        if before.cuda != after.cuda:
            message += f" (CUDA {plain(before.cuda)} -> {plain(after.cuda)})"
        out.append(Highlight("torch", message))
    return out


def is_cuda_package(name: str) -> bool:
    return canonicalize_name(name).startswith(_CUDA_PREFIXES)


def _cuda_suffixes(lock: Lock) -> str | None:
    """The CUDA major the nvidia wheels are built for (``cu12`` in ``nvidia-cublas-cu12``)."""
    majors = set()
    for package in lock.packages:
        name = canonicalize_name(package.name)
        if is_cuda_package(name):
            tail = name.rsplit("-", 1)[-1]
            if tail.startswith("cu") and tail[2:].isdigit():
                majors.add(tail)
    return ", ".join(sorted(majors)) or None


def _cuda_facts(cuda: CudaFacts | None) -> dict[str, str | None]:
    """The CUDA facts a highlight names, by their label."""
    return {
        "CUDA": cuda.version if cuda else None,
        "fleet driver": cuda.driver if cuda else None,
        "minimum driver": cuda.min_driver if cuda else None,
    }


def _cuda_highlights(
    old: Lock, new: Lock, added: Sequence[Pin], removed: Sequence[Pin], changed: Sequence[PinChange]
) -> list[Highlight]:
    before, after = _cuda_facts(old.facts.cuda), _cuda_facts(new.facts.cuda)
    out = [
        Highlight("cuda", f"{label} {plain(before[label])} -> {plain(after[label])}")
        for label in before
        if before[label] != after[label]
    ]
    counts = {
        "added": sum(1 for p in added if is_cuda_package(p.name)),
        "removed": sum(1 for p in removed if is_cuda_package(p.name)),
        "changed": sum(1 for c in changed if is_cuda_package(c.name)),
    }
    total = sum(counts.values())
    if total:
        parts = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        noun = "package" if total == 1 else "packages"
        message = f"{WHEELS}: {total} nvidia-*/cuda-* {noun} differ ({parts})"
        old_major, new_major = _cuda_suffixes(old), _cuda_suffixes(new)
        if old_major != new_major:
            message += f", {plain(old_major)} -> {plain(new_major)}"
        out.append(Highlight("cuda", message))
    return out


def _names(pins: Sequence[IndexChange]) -> str:
    names = [p.name for p in pins[:_NAMES_SHOWN]]
    more = len(pins) - len(names)
    return ", ".join(names) + (f" and {more} more" if more else "")


def _mirror_highlights(
    mirrors: Sequence[MirrorChange], order: ValueChange | None, indexes: Sequence[IndexChange]
) -> list[Highlight]:
    out = []
    for m in mirrors:
        if m.change == "added":
            out.append(Highlight("mirrors", f"mirror {m.name} added: {m.new}"))
        elif m.change == "removed":
            out.append(Highlight("mirrors", f"mirror {m.name} removed (was {m.old})"))
        else:
            out.append(Highlight("mirrors", f"mirror {m.name}: {m.old} -> {m.new}"))
    if order is not None:
        out.append(Highlight("mirrors", f"mirror order {show(order.old)} -> {show(order.new)}"))
    moves: dict[tuple[str, str], list[IndexChange]] = {}
    for change in indexes:
        moves.setdefault((change.old, change.new), []).append(change)
    for (was, now), pins in sorted(moves.items()):
        noun = "package" if len(pins) == 1 else "packages"
        message = f"index {plain(was)} -> {plain(now)} for {len(pins)} {noun}: {_names(pins)}"
        out.append(Highlight("mirrors", message))
    return out


def _file_highlights(changed: Sequence[PinChange]) -> list[Highlight]:
    out = []
    for c in (c for c in changed if c.same_version):
        message = f"{c.name} {c.old_version}: same version, different files"
        if c.rehashed:
            message += f" ({', '.join(c.rehashed)}: different sha256; a re-upload or a different index)"
        else:
            message += f" ({len(c.files_added)} added, {len(c.files_removed)} removed)"
        out.append(Highlight("files", message))
    return out


def highlights(old: Lock, new: Lock, d: LockDiff) -> tuple[Highlight, ...]:
    """The highlights of ``d`` (the diff of ``old`` and ``new``), in the order `envspec diff` shows them."""
    out = [
        *_torch_highlights(old, new),
        *_cuda_highlights(old, new, d.added, d.removed, d.changed),
        *(Highlight("runtime", f"{f.key}: {show(f.old)} -> {show(f.new)}") for f in d.flags),
        *_mirror_highlights(d.mirrors, d.mirror_order, d.indexes),
    ]
    if d.python is not None:
        out.append(Highlight("python", f"Python {old.python} -> {new.python}"))
    if d.platforms is not None:
        was_on, now_on = ", ".join(old.platforms) or "(none)", ", ".join(new.platforms) or "(none)"
        out.append(Highlight("platforms", f"platforms {was_on} -> {now_on}"))
    out.extend(_file_highlights(d.changed))
    if d.resolver is not None:
        message = f"resolver {d.resolver.old} -> {d.resolver.new}"
        out.append(Highlight("resolver", message, informational=True))
    return tuple(out)
