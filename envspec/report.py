"""Validation reports: the value (one per file), rendered for people (rich text) and for machines
(JSON). Pure: text in, text out. Light to import: the fast ``validate`` path builds a clean report
without loading pydantic."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from envspec.errors import Diagnostic, Severity

if TYPE_CHECKING:
    from envspec.load import LoadedSpec

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow"}


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """What validation found in one file; ``loaded`` is None when the file did not parse."""

    file: str
    diagnostics: tuple[Diagnostic, ...]
    loaded: LoadedSpec | None
    builds: tuple[str, ...] = ()  # a spec of several torch builds: what each needs of a machine

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return self.errors == 0


Styler = Callable[[str, str | None], str]


def _markup(text: str, style: str | None) -> str:
    from rich.markup import escape

    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def _plain(text: str, style: str | None) -> str:
    del style
    return text


def _diagnostic(d: Diagnostic, styled: Styler) -> str:
    """``file:line: error[code] key: message`` plus indented details."""
    head = f"{styled(d.where(), 'bold')}: {styled(f'{d.severity.value}[{d.code}]', _STYLE[d.severity])}"
    if d.path:
        head += f" {styled(d.key, 'cyan')}:"
    lines = [f"{head} {styled(d.message, None)}"]
    for label, text in (("expected", d.expected), ("why", d.reason), ("hint", d.hint)):
        if text:
            lines.append(f"  {styled(label + ':', 'dim')} {styled(text, None)}")
    return "\n".join(lines)


def _summary(reports: Sequence[Report], styled: Styler) -> str:
    errors = sum(r.errors for r in reports)
    warnings = sum(r.warnings for r in reports)
    files = len(reports)
    noun = "file" if files == 1 else "files"
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    verdict = styled("invalid", "bold red") if errors else styled("valid", "bold green")
    return f"{verdict}: {files} {noun} checked, {counts}"


def _report(reports: Sequence[Report], styled: Styler) -> str:
    blocks = [_diagnostic(d, styled) for r in reports for d in r.diagnostics]
    for r in reports:
        if r.builds:
            blocks.append(
                f"{styled(r.file, 'bold')}: torch builds in order of preference"
                " (each machine installs the first it can run):"
            )
            blocks += [f"  {styled(line, None)}" for line in r.builds]
    return "\n".join([*blocks, _summary(reports, styled)])


def diagnostic_markup(d: Diagnostic) -> str:
    """One diagnostic as rich markup."""
    return _diagnostic(d, _markup)


def report_markup(reports: Sequence[Report]) -> str:
    """The report as rich markup: styles on a terminal."""
    return _report(reports, _markup)


def report_text(reports: Sequence[Report]) -> str:
    """The report as rich prints its markup where there are no styles (a pipe, a file, CI)."""
    return _report(reports, _plain)


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
                **({"builds": list(r.builds)} if r.builds else {}),
            }
            for r in reports
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
