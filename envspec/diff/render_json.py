"""Render a lock diff as JSON for machines: a fixed key order, kebab-case keys like `envspec lock --json`."""

from __future__ import annotations

import json
from typing import TypeAlias

from envspec.diff.model import BuildDiff, BuildsDiff, LockDiff, Pin, Value, ValueChange

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"


def _value(value: Value) -> JsonValue:
    return list(value) if isinstance(value, tuple) else value


def _change(change: ValueChange | None) -> JsonValue:
    if change is None:
        return None
    return {"key": change.key, "old": _value(change.old), "new": _value(change.new)}


def _pin(pin: Pin) -> JsonValue:
    return {"name": pin.name, "version": pin.version, "marker": pin.marker, "index": pin.index}


def diff_json(d: LockDiff) -> dict[str, JsonValue]:
    """The diff as a JSON-ready mapping with a fixed key order (the fields docs/diff.md lists)."""
    return {
        "differs": not d.empty,
        "env-id": {"old": d.old_env_id, "new": d.new_env_id, "changed": d.env_id_changed},
        "highlights": [
            {"kind": h.kind, "message": h.message, "informational": h.informational} for h in d.highlights
        ],
        "added": [_pin(p) for p in d.added],
        "removed": [_pin(p) for p in d.removed],
        "changed": [
            {
                "name": c.name,
                "marker": c.marker,
                "old-version": c.old_version,
                "new-version": c.new_version,
                "same-version-different-files": c.same_version,
                "rehashed": list(c.rehashed),
                "files-added": list(c.files_added),
                "files-removed": list(c.files_removed),
            }
            for c in d.changed
        ],
        "flags": [_change(f) for f in d.flags],
        "mirrors": [{"name": m.name, "change": m.change, "old": m.old, "new": m.new} for m in d.mirrors],
        "mirror-order": _change(d.mirror_order),
        "indexes": [{"name": i.name, "marker": i.marker, "old": i.old, "new": i.new} for i in d.indexes],
        "python": _change(d.python),
        "platforms": _change(d.platforms),
        "resolver": _change(d.resolver),
        "settings": [_change(s) for s in d.settings],
    }


def _env_id(old: str, new: str) -> JsonValue:
    return {"old": old, "new": new, "changed": old != new}


def _section(d: LockDiff) -> dict[str, JsonValue]:
    """A diff's fields after ``differs`` and ``env-id``: highlights, pins, flags, mirrors, settings."""
    return {k: v for k, v in diff_json(d).items() if k not in ("differs", "env-id")}


def _build(b: BuildDiff) -> JsonValue:
    return {
        "name": b.name,
        "compared-with": b.old_name,
        "differs": not b.empty,
        "env-id": _env_id(b.diff.old_env_id, b.diff.new_env_id),
        "facts": [_change(f) for f in b.facts],
        **_section(b.diff),
    }


def builds_json(d: BuildsDiff) -> dict[str, JsonValue]:
    """A comparison build by build as a JSON-ready mapping with a fixed key order (see docs/diff.md)."""
    return {
        "differs": not d.empty,
        "env-id": _env_id(d.old_env_id, d.new_env_id),
        "builds": {
            "old": list(d.old_builds),
            "new": list(d.new_builds),
            "old-single": d.old_single,
            "new-single": d.new_single,
            "added": list(d.added),
            "removed": list(d.removed),
            "order": _change(d.order),
        },
        "highlights": [
            {"kind": h.kind, "message": h.message, "informational": h.informational} for h in d.highlights
        ],
        "all-builds": {
            "builds": list(d.compared),
            "facts": [_change(f) for f in d.shared_facts],
            **_section(d.shared),
        },
        "per-build": [_build(b) for b in d.builds],
    }


def render_diff_json(d: LockDiff | BuildsDiff) -> str:
    """The diff as JSON for machines: stable key order, two-space indent, one trailing newline."""
    data = builds_json(d) if isinstance(d, BuildsDiff) else diff_json(d)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
