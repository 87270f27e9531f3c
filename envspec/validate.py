"""Validate: the load -> check -> lint pipeline for one spec file, as a value the CLI reports."""

from __future__ import annotations

from pathlib import Path

from envspec.checks import check
from envspec.compat import Compat
from envspec.errors import Diagnostic, Severity, SpecError
from envspec.lint import LintContext, lint
from envspec.load import parse_spec, read_spec_file
from envspec.report import Report

__all__ = ["Report", "validate_bytes", "validate_file"]


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
    from envspec.checkvariants import explain_builds

    builds = explain_builds(loaded.spec, compat)
    return Report(file, _sorted(tuple(loaded.locate(d) for d in found)), loaded, builds)


def validate_file(path: Path, compat: Compat, ctx: LintContext, *, strict: bool = False) -> Report:
    """Read and validate one spec file (raises :class:`~envspec.errors.UsageError` if unreadable)."""
    return validate_bytes(read_spec_file(path), str(path), compat, ctx, strict=strict)
