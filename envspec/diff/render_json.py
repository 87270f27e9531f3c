"""Render a lock diff as JSON for machines: a fixed key order, kebab-case keys like `envspec lock --json`."""

from __future__ import annotations

import json
from typing import TypeAlias

from envspec.diff.model import LockDiff, Pin, Value, ValueChange

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


def render_diff_json(d: LockDiff) -> str:
    """The diff as JSON for machines: stable key order, two-space indent, one trailing newline."""
    return json.dumps(diff_json(d), indent=2, ensure_ascii=False) + "\n"
