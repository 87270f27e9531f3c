"""Render a finished run as the text report or the JSON document the command prints."""

from __future__ import annotations

import dataclasses
import json

from tools.compat_refresh.compare import Difference, Report


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """A finished run: what was compared with what, what was found, and what was written."""

    data: str
    index_url: str
    torch_index: str | None
    report: Report
    written: str | None = None
    applied: tuple[Difference, ...] = ()
    remaining: tuple[Difference, ...] | None = None  # after --write: what the new file still lacks

    @property
    def open_differences(self) -> tuple[Difference, ...]:
        return self.report.differences if self.remaining is None else self.remaining


def render_text(outcome: Outcome) -> str:
    lines = [
        f"compat data: {outcome.data}",
        f"default index: {outcome.index_url}",
        f"PyTorch index: {outcome.torch_index or '(not given)'}",
    ]
    differences = outcome.report.differences
    if differences:
        lines.append(f"{len(differences)} difference{'s' if len(differences) != 1 else ''}:")
        lines.extend(f"  {difference.message()}" for difference in differences)
    else:
        lines.append("the data agrees with the indexes")
    if outcome.report.notes:
        lines.append("notes:")
        lines.extend(f"  {note}" for note in outcome.report.notes)
    if outcome.written is not None:
        lines.append(f"wrote {outcome.written}: {len(outcome.applied)} of {len(differences)} applied")
        lines.extend(f"  not applied: {difference.message()}" for difference in outcome.open_differences)
    return "\n".join(lines) + "\n"


def render_json(outcome: Outcome) -> str:
    document = {
        "data": outcome.data,
        "index_url": outcome.index_url,
        "torch_index": outcome.torch_index,
        "status": "differs" if outcome.open_differences else "agrees",
        "differences": [difference.to_json() for difference in outcome.report.differences],
        "notes": list(outcome.report.notes),
        "written": outcome.written,
        "applied": [difference.to_json() for difference in outcome.applied],
        "not_applied": [difference.to_json() for difference in outcome.open_differences]
        if outcome.written is not None
        else [],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def render_error(message: str, hint: str | None, *, as_json: bool) -> str:
    """An error as the command prints it: JSON on stdout with ``--json``, else lines for stderr."""
    if as_json:
        return json.dumps({"status": "error", "error": message, "hint": hint}, indent=2) + "\n"
    return f"error: {message}\n" + (f"  hint: {hint}\n" if hint else "")
