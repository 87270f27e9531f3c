"""Validate: the load -> check -> lint pipeline for one spec file, as a value the CLI reports."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from envspec.checks import check
from envspec.compat import Compat
from envspec.errors import Diagnostic, Severity, SpecError
from envspec.lint import LintContext, lint
from envspec.load import LoadedSpec, parse_spec, read_spec_file


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """What validation found in one file; ``loaded`` is None when the file did not parse."""

    file: str
    diagnostics: tuple[Diagnostic, ...]
    loaded: LoadedSpec | None

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return self.errors == 0


def _sorted(diagnostics: tuple[Diagnostic, ...]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(diagnostics, key=lambda d: (d.line or 0, d.severity is not Severity.ERROR)))


def validate_bytes(
    data: bytes, file: str, compat: Compat, ctx: LintContext, *, strict: bool = False
) -> Report:
    """Validate spec bytes: structural errors, then domain errors, then (on a clean spec) lint warnings."""
    try:
        loaded = parse_spec(data, file)
    except SpecError as exc:
        return Report(file, _sorted(exc.diagnostics), None)
    warnings = lint(loaded.spec, compat, ctx)
    if strict:
        warnings = tuple(d.as_error() for d in warnings)
    found = (*check(loaded.spec, compat), *warnings)
    return Report(file, _sorted(tuple(loaded.locate(d) for d in found)), loaded)


def validate_file(path: Path, compat: Compat, ctx: LintContext, *, strict: bool = False) -> Report:
    """Read and validate one spec file (raises :class:`~envspec.errors.UsageError` if unreadable)."""
    return validate_bytes(read_spec_file(path), str(path), compat, ctx, strict=strict)
