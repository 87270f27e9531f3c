"""Compare two lock values (pure): pair their pins, mirrors and settings into a :class:`LockDiff`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name
from pydantic import BaseModel

from envspec.diff.highlights import highlights
from envspec.diff.model import (
    IndexChange,
    LockDiff,
    MirrorChange,
    Pin,
    PinChange,
    Value,
    ValueChange,
    show,
    sort_key,
)
from envspec.errors import KeyPath, format_path
from envspec.lock.model import Lock, LockedPackage
from envspec.spec import Mirror

# Spec keys reported elsewhere (as flags, mirrors, python, platforms or torch/CUDA highlights),
# and fact keys folded into the torch and CUDA highlights: left out of the generic settings list.
# They are TOML key paths, as the lockfile writes them.
COVERED_SPEC: tuple[KeyPath, ...] = (
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

PinKey = tuple[str, str]


# --- pins --------------------------------------------------------------------------------------


def _normal_marker(marker: str | None) -> str | None:
    if not marker or not marker.strip():
        return None
    try:
        return str(Marker(marker))
    except InvalidMarker:
        return marker.strip()


def _by_key(packages: Iterable[LockedPackage]) -> dict[PinKey, LockedPackage]:
    return {(canonicalize_name(p.name), _normal_marker(p.marker) or ""): p for p in packages}


def _pin(package: LockedPackage) -> Pin:
    return Pin(package.name, package.version, _normal_marker(package.marker), package.index_name)


def _files(package: LockedPackage) -> dict[str, str]:
    """Each locked file's sha256 by name, the PEP 825 variants.json included (it is in the env id)."""
    meta = (package.variants_json,) if package.variants_json is not None else ()
    return {a.name: a.sha256 for a in (*package.artifacts, *meta)}


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


# --- settings ----------------------------------------------------------------------------------


def dump_toml(model: BaseModel) -> Mapping[str, object]:
    """A model as the lockfile writes it: JSON values under the TOML (kebab-case) key names."""
    return model.model_dump(mode="json", by_alias=True)


def _leaf(value: object) -> Value:
    """A setting's value as a JSON-friendly scalar or tuple of scalars; empty lists read as unset."""
    if isinstance(value, list | tuple):
        if not value:
            return None
        scalars = tuple(v for v in value if isinstance(v, str | int | float | bool))
        if len(scalars) == len(value):
            return scalars
        return json.dumps(list(value), sort_keys=True, ensure_ascii=False)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _flatten(value: Mapping[str, object], prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, Value]]:
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


def value_changes(
    old: Mapping[str, object], new: Mapping[str, object], prefix: KeyPath, covered: Sequence[KeyPath] = ()
) -> list[ValueChange]:
    before = {p: v for p, v in _flatten(old) if not _covered(p, covered)}
    after = {p: v for p, v in _flatten(new) if not _covered(p, covered)}
    out = []
    for path in sorted(before.keys() | after.keys()):
        if show(before.get(path)) != show(after.get(path)):  # so that true differs from 1
            out.append(ValueChange(format_path((*prefix, *path)), before.get(path), after.get(path)))
    return out


def _flag_changes(old: Lock, new: Lock) -> list[ValueChange]:
    before, after = old.spec.runtime, new.spec.runtime
    return [
        *value_changes(before.env, after.env, ("runtime", "env")),
        *value_changes(dump_toml(before.torch), dump_toml(after.torch), ("runtime", "torch")),
    ]


def _describe_mirror(mirror: Mirror) -> str:
    text = mirror.url or "(the installer's default index)"
    if mirror.trusted:
        text += " (trusted)"
    if mirror.packages:
        text += " only for " + ", ".join(mirror.packages)
    return text


def _mirror_changes(old: Lock, new: Lock) -> tuple[list[MirrorChange], ValueChange | None]:
    before = {m.name: m for m in old.spec.mirrors}
    after = {m.name: m for m in new.spec.mirrors}
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
    return ValueChange(key, old, new) if show(old) != show(new) else None


# --- the diff ----------------------------------------------------------------------------------


def diff_locks(old: Lock, new: Lock) -> LockDiff:
    """What changed from ``old`` to ``new``: pins, flags, mirrors, target and settings, highlights first."""
    before, after = _by_key(old.packages), _by_key(new.packages)
    added = sorted((_pin(after[k]) for k in after.keys() - before.keys()), key=sort_key)
    removed = sorted((_pin(before[k]) for k in before.keys() - after.keys()), key=sort_key)
    changed: list[PinChange] = []
    indexes: list[IndexChange] = []
    for key in before.keys() & after.keys():
        was, now = before[key], after[key]
        change = _pin_change(was, now)
        if change is not None:
            changed.append(change)
        if was.index_name != now.index_name:
            indexes.append(IndexChange(now.name, _normal_marker(now.marker), was.index_name, now.index_name))
    changed.sort(key=sort_key)
    indexes.sort(key=sort_key)

    flags = _flag_changes(old, new)
    mirrors, order = _mirror_changes(old, new)
    settings = [
        *value_changes(dump_toml(old.spec), dump_toml(new.spec), ("spec",), COVERED_SPEC),
        *value_changes(dump_toml(old.facts), dump_toml(new.facts), ("facts",), _COVERED_FACTS),
    ]
    d = LockDiff(
        old_env_id=old.env_id,
        new_env_id=new.env_id,
        added=tuple(added),
        removed=tuple(removed),
        changed=tuple(changed),
        flags=tuple(flags),
        mirrors=tuple(mirrors),
        mirror_order=order,
        indexes=tuple(indexes),
        python=_simple("python", old.python, new.python),
        platforms=_simple("platforms", tuple(old.platforms), tuple(new.platforms)),
        resolver=_simple(
            "resolver", f"{old.resolver} {old.resolver_version}", f"{new.resolver} {new.resolver_version}"
        ),
        settings=tuple(settings),
        highlights=(),
    )
    return dataclasses.replace(d, highlights=highlights(old, new, d))
