"""Compare two locks: what `envspec diff` reports. Pure: lock values in, a diff value and its renderings out.

The diff pairs pins by normalized project name and marker, then calls out what matters most for a
GPU environment first ("highlights"): the torch version and build, the CUDA runtime, the runtime
flags, the mirrors, the Python version and platforms. Everything else the locks record (other spec
settings, derived facts) is listed too, so an empty diff means the two locks describe the same
environment.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from rich.markup import escape

from envspec.errors import KeyPath, format_path
from envspec.lockfile import Lock, LockedPackage

Scalar = str | int | float | bool | None
Value = Scalar | tuple[Scalar, ...]

HighlightKind = Literal["torch", "cuda", "runtime", "mirrors", "python", "platforms", "files", "resolver"]
MirrorChangeKind = Literal["added", "removed", "changed"]

# Spec keys reported elsewhere (as flags, mirrors, python, platforms or torch/CUDA highlights),
# and fact keys folded into the torch and CUDA highlights: left out of the generic settings list.
_COVERED_SPEC: tuple[KeyPath, ...] = (
    ("runtime", "env"),
    ("runtime", "torch"),
    ("mirrors",),
    ("env", "python"),
    ("env", "platforms"),
    ("cuda", "version"),
    ("cuda", "driver"),
    ("torch", "version"),
    ("torch", "variant"),
)
_COVERED_FACTS: tuple[KeyPath, ...] = (
    ("torch", "version"),
    ("torch", "variant"),
    ("torch", "local"),
    ("torch", "cuda"),
    ("cuda", "version"),
    ("cuda", "driver"),
    ("cuda", "min-driver"),
)
_CUDA_PREFIXES = ("nvidia-", "cuda-")
_NAMES_SHOWN = 5


@dataclasses.dataclass(frozen=True, slots=True)
class Pin:
    """A pin present in only one of the two locks."""

    name: str
    version: str
    marker: str | None = None
    index: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class PinChange:
    """A pin present in both locks (same name and marker) whose version or files differ.

    When the version is the same, the files are what changed: ``rehashed`` names the files present in
    both locks with a different sha256 (a re-upload, or another index serving other bytes), and
    ``files_added`` / ``files_removed`` the files only one lock has.
    """

    name: str
    marker: str | None
    old_version: str
    new_version: str
    rehashed: tuple[str, ...] = ()
    files_added: tuple[str, ...] = ()
    files_removed: tuple[str, ...] = ()

    @property
    def same_version(self) -> bool:
        return self.old_version == self.new_version


@dataclasses.dataclass(frozen=True, slots=True)
class ValueChange:
    """One setting whose value differs; ``None`` means the setting is absent (unset) on that side."""

    key: str
    old: Value
    new: Value


@dataclasses.dataclass(frozen=True, slots=True)
class MirrorChange:
    """A ``[[mirrors]]`` entry added, removed or changed (``old`` / ``new`` describe it: URL and options)."""

    name: str
    change: MirrorChangeKind
    old: str | None
    new: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class IndexChange:
    """A pin in both locks served by a different index (by mirror name)."""

    name: str
    marker: str | None
    old: str
    new: str


@dataclasses.dataclass(frozen=True, slots=True)
class Highlight:
    """One line of what matters most; an ``informational`` one (the resolver) is no difference by itself."""

    kind: HighlightKind
    message: str
    informational: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class LockDiff:
    old_env_id: str
    new_env_id: str
    added: tuple[Pin, ...]
    removed: tuple[Pin, ...]
    changed: tuple[PinChange, ...]
    flags: tuple[ValueChange, ...]  # runtime.env.* and runtime.torch.*
    mirrors: tuple[MirrorChange, ...]
    mirror_order: ValueChange | None  # the failover order of the mirrors both locks declare
    indexes: tuple[IndexChange, ...]
    python: ValueChange | None
    platforms: ValueChange | None
    resolver: ValueChange | None  # informational: a different resolver may pick the same pins
    settings: tuple[ValueChange, ...]  # every other spec setting and derived fact (spec.* and facts.*)
    highlights: tuple[Highlight, ...]

    @property
    def env_id_changed(self) -> bool:
        return self.old_env_id != self.new_env_id

    @property
    def empty(self) -> bool:
        """No pin, flag, mirror, index, Python, platform or other setting differs (the resolver may)."""
        return not (
            self.added
            or self.removed
            or self.changed
            or self.flags
            or self.mirrors
            or self.mirror_order
            or self.indexes
            or self.python
            or self.platforms
            or self.settings
            or any(not h.informational for h in self.highlights)
        )


# --- comparing ---------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _normal_marker(marker: str | None) -> str | None:
    if not marker or not marker.strip():
        return None
    try:
        return str(Marker(marker))
    except InvalidMarker:
        return marker.strip()


PinKey = tuple[str, str]


def _pin_key(package: LockedPackage) -> PinKey:
    return (canonicalize_name(package.name), _normal_marker(package.marker) or "")


def _by_key(packages: Iterable[LockedPackage]) -> dict[PinKey, LockedPackage]:
    return {_pin_key(p): p for p in packages}


def _pin(package: LockedPackage) -> Pin:
    return Pin(package.name, package.version, _normal_marker(package.marker), package.index_name)


def _files(package: LockedPackage) -> dict[str, str]:
    return {a.name: a.sha256 for a in package.artifacts}


def _pin_change(old: LockedPackage, new: LockedPackage) -> PinChange | None:
    marker = _normal_marker(new.marker)
    if old.version != new.version:
        return PinChange(new.name, marker, old.version, new.version)
    before, after = _files(old), _files(new)
    if before == after:
        return None
    return PinChange(
        new.name,
        marker,
        old.version,
        new.version,
        rehashed=tuple(sorted(n for n in before.keys() & after.keys() if before[n] != after[n])),
        files_added=tuple(sorted(after.keys() - before.keys())),
        files_removed=tuple(sorted(before.keys() - after.keys())),
    )


def _leaf(value: Any) -> Value:
    """A setting's value as a JSON-friendly scalar or tuple of scalars; empty lists read as unset."""
    if isinstance(value, list | tuple):
        if not value:
            return None
        if all(isinstance(v, str | int | float | bool) for v in value):
            return tuple(value)
        return json.dumps(list(value), sort_keys=True, ensure_ascii=False)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _flatten(value: Mapping[str, Any], prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, Value]]:
    """Every leaf setting of a nested mapping, by key path; unset (``None``, empty) leaves are skipped."""
    for key, item in value.items():
        path = (*prefix, str(key))
        if isinstance(item, Mapping):
            yield from _flatten(item, path)
        else:
            leaf = _leaf(item)
            if leaf is not None:
                yield path, leaf


def _covered(path: KeyPath, covered: Sequence[KeyPath]) -> bool:
    return any(path[: len(c)] == c for c in covered)


def _value_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], prefix: KeyPath, covered: Sequence[KeyPath] = ()
) -> list[ValueChange]:
    before = {p: v for p, v in _flatten(old) if not _covered(p, covered)}
    after = {p: v for p, v in _flatten(new) if not _covered(p, covered)}
    out = []
    for path in sorted(before.keys() | after.keys()):
        if _show(before.get(path)) != _show(after.get(path)):  # so that true differs from 1
            out.append(ValueChange(format_path((*prefix, *path)), before.get(path), after.get(path)))
    return out


def _flag_changes(old: Lock, new: Lock) -> list[ValueChange]:
    out = []
    for section in ("env", "torch"):
        before = _mapping(_mapping(old.spec.get("runtime")).get(section))
        after = _mapping(_mapping(new.spec.get("runtime")).get(section))
        out.extend(_value_changes(before, after, ("runtime", section)))
    return out


def _mirrors(lock: Lock) -> dict[str, Mapping[str, Any]]:
    entries = lock.spec.get("mirrors")
    if not isinstance(entries, list | tuple):
        return {}
    return {str(m["name"]): m for m in entries if isinstance(m, Mapping) and "name" in m}


def _describe_mirror(mirror: Mapping[str, Any]) -> str:
    text = str(mirror.get("url") or "(the installer's default index)")
    if mirror.get("trusted"):
        text += " (trusted)"
    packages = mirror.get("packages")
    if packages:
        text += " only for " + ", ".join(str(p) for p in packages)
    return text


def _mirror_changes(old: Lock, new: Lock) -> tuple[list[MirrorChange], ValueChange | None]:
    before, after = _mirrors(old), _mirrors(new)
    changes = []
    for name in sorted(before.keys() | after.keys()):
        was = _describe_mirror(before[name]) if name in before else None
        now = _describe_mirror(after[name]) if name in after else None
        if was is None:
            changes.append(MirrorChange(name, "added", None, now))
        elif now is None:
            changes.append(MirrorChange(name, "removed", was, None))
        elif was != now:
            changes.append(MirrorChange(name, "changed", was, now))
    common = before.keys() & after.keys()
    old_order = tuple(n for n in before if n in common)
    new_order = tuple(n for n in after if n in common)
    order = ValueChange("mirrors", old_order, new_order) if old_order != new_order else None
    return changes, order


def _simple(key: str, old: Value, new: Value) -> ValueChange | None:
    return ValueChange(key, old, new) if _show(old) != _show(new) else None


# --- highlights --------------------------------------------------------------------------------


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
    facts = _mapping(lock.facts.get("torch"))
    pins = [p.version for p in lock.packages if canonicalize_name(p.name) == "torch"]
    if not facts and not pins:
        return None
    version = facts.get("version") or _joined(_public(v) for v in pins)
    build = facts.get("variant") or facts.get("local") or _joined(_local_label(v) for v in pins)
    cuda = facts.get("cuda")
    return _Torch(
        str(version) if version else None, str(build) if build else None, str(cuda) if cuda else None
    )


def _show(value: Value) -> str:
    """A value as a person reads it in a TOML file: strings quoted, ``(unset)`` for absent."""
    if value is None:
        return "(unset)"
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _plain(value: object) -> str:
    return "(none)" if value is None or value == "" else str(value)


def _torch_highlights(old: Lock, new: Lock) -> list[Highlight]:
    before, after = _torch(old), _torch(new)
    if before is None or after is None:
        sides = [(t, what) for t, what in ((before, "removed"), (after, "added")) if t is not None]
        return [
            Highlight("torch", f"torch {_plain(t.version)} ({_plain(t.build)}) {what}") for t, what in sides
        ]
    out = []
    if before.version != after.version:
        out.append(Highlight("torch", f"torch version {_plain(before.version)} -> {_plain(after.version)}"))
    if before.build != after.build or before.cuda != after.cuda:
        message = f"torch build {_plain(before.build)} -> {_plain(after.build)}"
        if before.cuda != after.cuda:
            message += f" (CUDA {_plain(before.cuda)} -> {_plain(after.cuda)})"
        out.append(Highlight("torch", message))
    return out


def _is_cuda_package(name: str) -> bool:
    return canonicalize_name(name).startswith(_CUDA_PREFIXES)


def _cuda_suffixes(lock: Lock) -> str | None:
    """The CUDA major the nvidia wheels are built for (``cu12`` in ``nvidia-cublas-cu12``)."""
    majors = set()
    for package in lock.packages:
        name = canonicalize_name(package.name)
        if _is_cuda_package(name):
            tail = name.rsplit("-", 1)[-1]
            if tail.startswith("cu") and tail[2:].isdigit():
                majors.add(tail)
    return ", ".join(sorted(majors)) or None


def _cuda_highlights(
    old: Lock, new: Lock, added: Sequence[Pin], removed: Sequence[Pin], changed: Sequence[PinChange]
) -> list[Highlight]:
    out = []
    before, after = _mapping(old.facts.get("cuda")), _mapping(new.facts.get("cuda"))
    for key, label in (("version", "CUDA"), ("driver", "fleet driver"), ("min-driver", "minimum driver")):
        if before.get(key) != after.get(key):
            out.append(Highlight("cuda", f"{label} {_plain(before.get(key))} -> {_plain(after.get(key))}"))
    counts = {
        "added": sum(1 for p in added if _is_cuda_package(p.name)),
        "removed": sum(1 for p in removed if _is_cuda_package(p.name)),
        "changed": sum(1 for c in changed if _is_cuda_package(c.name)),
    }
    total = sum(counts.values())
    if total:
        parts = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        noun = "package" if total == 1 else "packages"
        message = f"CUDA runtime wheels: {total} nvidia-*/cuda-* {noun} differ ({parts})"
        old_major, new_major = _cuda_suffixes(old), _cuda_suffixes(new)
        if old_major != new_major:
            message += f", {_plain(old_major)} -> {_plain(new_major)}"
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
        out.append(Highlight("mirrors", f"mirror order {_show(order.old)} -> {_show(order.new)}"))
    moves: dict[tuple[str, str], list[IndexChange]] = {}
    for change in indexes:
        moves.setdefault((change.old, change.new), []).append(change)
    for (was, now), pins in sorted(moves.items()):
        noun = "package" if len(pins) == 1 else "packages"
        out.append(
            Highlight(
                "mirrors",
                f"index {_plain(was)} -> {_plain(now)} for {len(pins)} {noun}: {_names(pins)}",
            )
        )
    return out


def _file_highlights(changed: Sequence[PinChange]) -> list[Highlight]:
    out = []
    for c in changed:
        if not c.same_version:
            continue
        message = f"{c.name} {c.old_version}: same version, different files"
        if c.rehashed:
            message += f" ({', '.join(c.rehashed)}: different sha256; a re-upload or a different index)"
        else:
            message += f" ({len(c.files_added)} added, {len(c.files_removed)} removed)"
        out.append(Highlight("files", message))
    return out


# --- the diff ----------------------------------------------------------------------------------


def _sort_key(item: Pin | PinChange | IndexChange) -> tuple[str, str]:
    return (canonicalize_name(item.name), item.marker or "")


def diff_locks(old: Lock, new: Lock) -> LockDiff:
    """What changed from ``old`` to ``new``: pins, flags, mirrors, target and settings, highlights first."""
    before, after = _by_key(old.packages), _by_key(new.packages)
    added = sorted((_pin(after[k]) for k in after.keys() - before.keys()), key=_sort_key)
    removed = sorted((_pin(before[k]) for k in before.keys() - after.keys()), key=_sort_key)
    changed: list[PinChange] = []
    indexes: list[IndexChange] = []
    for key in before.keys() & after.keys():
        change = _pin_change(before[key], after[key])
        if change is not None:
            changed.append(change)
        if before[key].index_name != after[key].index_name:
            pin = after[key]
            indexes.append(
                IndexChange(pin.name, _normal_marker(pin.marker), before[key].index_name, pin.index_name)
            )
    changed.sort(key=_sort_key)
    indexes.sort(key=_sort_key)

    flags = _flag_changes(old, new)
    mirrors, order = _mirror_changes(old, new)
    python = _simple("python", old.python, new.python)
    platforms = _simple("platforms", tuple(old.platforms), tuple(new.platforms))
    resolver = _simple(
        "resolver", f"{old.resolver} {old.resolver_version}", f"{new.resolver} {new.resolver_version}"
    )
    settings = [
        *_value_changes(_mapping(old.spec), _mapping(new.spec), ("spec",), _COVERED_SPEC),
        *_value_changes(_mapping(old.facts), _mapping(new.facts), ("facts",), _COVERED_FACTS),
    ]

    highlights = [
        *_torch_highlights(old, new),
        *_cuda_highlights(old, new, added, removed, changed),
        *(Highlight("runtime", f"{f.key}: {_show(f.old)} -> {_show(f.new)}") for f in flags),
        *_mirror_highlights(mirrors, order, indexes),
    ]
    if python is not None:
        highlights.append(Highlight("python", f"Python {old.python} -> {new.python}"))
    if platforms is not None:
        highlights.append(
            Highlight(
                "platforms",
                f"platforms {', '.join(old.platforms) or '(none)'} -> {', '.join(new.platforms) or '(none)'}",
            )
        )
    highlights.extend(_file_highlights(changed))
    if resolver is not None:
        highlights.append(
            Highlight("resolver", f"resolver {resolver.old} -> {resolver.new}", informational=True)
        )

    return LockDiff(
        old_env_id=old.env_id,
        new_env_id=new.env_id,
        added=tuple(added),
        removed=tuple(removed),
        changed=tuple(changed),
        flags=tuple(flags),
        mirrors=tuple(mirrors),
        mirror_order=order,
        indexes=tuple(indexes),
        python=python,
        platforms=platforms,
        resolver=resolver,
        settings=tuple(settings),
        highlights=tuple(highlights),
    )


# --- rendering ---------------------------------------------------------------------------------


def _marker_text(marker: str | None) -> str:
    return f" ; {marker}" if marker else ""


def _pin_lines(d: LockDiff) -> list[tuple[tuple[str, str], str]]:
    lines: list[tuple[tuple[str, str], str]] = []
    for pin in d.added:
        text = escape(f"+ {pin.name} {pin.version}{_marker_text(pin.marker)}")
        lines.append((_sort_key(pin), f"[green]{text}[/]"))
    for pin in d.removed:
        text = escape(f"- {pin.name} {pin.version}{_marker_text(pin.marker)}")
        lines.append((_sort_key(pin), f"[red]{text}[/]"))
    for c in d.changed:
        if c.same_version:
            text = escape(f"~ {c.name} {c.old_version}{_marker_text(c.marker)}")
            lines.append((_sort_key(c), f"[bold red]{text}[/] (same version, different files)"))
        else:
            text = escape(f"~ {c.name} {c.old_version} -> {c.new_version}{_marker_text(c.marker)}")
            lines.append((_sort_key(c), f"[yellow]{text}[/]"))
    return sorted(lines, key=lambda line: line[0])


def render_diff_text(d: LockDiff, old_name: str, new_name: str) -> str:
    """The diff as rich markup for people: highlights first, then the pins by name, then other settings."""
    lines = [f"[bold]{escape(old_name)}[/] -> [bold]{escape(new_name)}[/]"]
    if d.env_id_changed:
        lines.append(f"environment id: {escape(d.old_env_id)} -> {escape(d.new_env_id)}")
    else:
        lines.append(f"environment id: {escape(d.new_env_id)} (unchanged)")
    if d.empty:
        lines.append("[bold green]no differences[/]")
        lines.extend(f"  [dim]i {escape(h.message)}[/]" for h in d.highlights)
        return "\n".join(lines) + "\n"
    if d.highlights:
        lines += ["", "[bold]highlights:[/]"]
        for h in d.highlights:
            if h.informational:
                lines.append(f"  [dim]i {escape(h.message)}[/]")
            else:
                lines.append(f"  [bold yellow]![/] {escape(h.message)}")
    pins = _pin_lines(d)
    if pins:
        counts = f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed"
        lines += ["", f"[bold]pins:[/] {counts}"]
        lines.extend(f"  {text}" for _key, text in pins)
    if d.settings:
        lines += ["", "[bold]other settings:[/]"]
        lines.extend(f"  ~ {escape(f'{s.key}: {_show(s.old)} -> {_show(s.new)}')}" for s in d.settings)
    return "\n".join(lines) + "\n"


def _json_value(value: Value) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _change_json(change: ValueChange | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {"key": change.key, "old": _json_value(change.old), "new": _json_value(change.new)}


def _pin_json(pin: Pin) -> dict[str, Any]:
    return {"name": pin.name, "version": pin.version, "marker": pin.marker, "index": pin.index}


def diff_json(d: LockDiff) -> dict[str, Any]:
    """The diff as a JSON-ready mapping with a fixed key order."""
    return {
        "differs": not d.empty,
        "env_id": {"old": d.old_env_id, "new": d.new_env_id, "changed": d.env_id_changed},
        "highlights": [
            {"kind": h.kind, "message": h.message, "informational": h.informational} for h in d.highlights
        ],
        "added": [_pin_json(p) for p in d.added],
        "removed": [_pin_json(p) for p in d.removed],
        "changed": [
            {
                "name": c.name,
                "marker": c.marker,
                "old_version": c.old_version,
                "new_version": c.new_version,
                "same_version_different_files": c.same_version,
                "rehashed": list(c.rehashed),
                "files_added": list(c.files_added),
                "files_removed": list(c.files_removed),
            }
            for c in d.changed
        ],
        "flags": [_change_json(f) for f in d.flags],
        "mirrors": [{"name": m.name, "change": m.change, "old": m.old, "new": m.new} for m in d.mirrors],
        "mirror_order": _change_json(d.mirror_order),
        "indexes": [{"name": i.name, "marker": i.marker, "old": i.old, "new": i.new} for i in d.indexes],
        "python": _change_json(d.python),
        "platforms": _change_json(d.platforms),
        "resolver": _change_json(d.resolver),
        "settings": [_change_json(s) for s in d.settings],
    }


def render_diff_json(d: LockDiff) -> str:
    """The diff as JSON for machines: stable key order, two-space indent, one trailing newline."""
    return json.dumps(diff_json(d), indent=2, ensure_ascii=False) + "\n"
