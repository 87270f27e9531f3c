"""Render validation reports for people (rich text) and for machines (JSON). Pure: text in, text out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.markup import escape

from envspec.errors import Diagnostic, Severity
from envspec.validate import Report

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow"}


def diagnostic_markup(d: Diagnostic) -> str:
    """One diagnostic as rich markup: ``file:line: error[code] key: message`` plus indented details."""
    label = escape(f"{d.severity.value}[{d.code}]")
    head = f"[bold]{escape(d.where())}[/]: [{_STYLE[d.severity]}]{label}[/]"
    if d.path:
        head += f" [cyan]{escape(d.key)}[/]:"
    lines = [f"{head} {escape(d.message)}"]
    for label, text in (("expected", d.expected), ("why", d.reason), ("hint", d.hint)):
        if text:
            lines.append(f"  [dim]{label}:[/] {escape(text)}")
    return "\n".join(lines)


def summary_markup(reports: Sequence[Report]) -> str:
    errors = sum(r.errors for r in reports)
    warnings = sum(r.warnings for r in reports)
    files = len(reports)
    noun = "file" if files == 1 else "files"
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    if errors:
        return f"[bold red]invalid[/]: {files} {noun} checked, {counts}"
    return f"[bold green]valid[/]: {files} {noun} checked, {counts}"


def report_markup(reports: Sequence[Report]) -> str:
    blocks = [diagnostic_markup(d) for r in reports for d in r.diagnostics]
    return "\n".join([*blocks, summary_markup(reports)])


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    return {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "file": d.file,
        "line": d.line,
        "key": d.key or None,
        "path": list(d.path),
        "expected": d.expected,
        "why": d.reason,
        "hint": d.hint,
    }


def report_json(reports: Sequence[Report]) -> str:
    document = {
        "valid": all(r.ok for r in reports),
        "errors": sum(r.errors for r in reports),
        "warnings": sum(r.warnings for r in reports),
        "files": [
            {
                "file": r.file,
                "valid": r.ok,
                "errors": r.errors,
                "warnings": r.warnings,
                "diagnostics": [diagnostic_json(d) for d in r.diagnostics],
            }
            for r in reports
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
