"""One malformed or questionable spec per failure mode, each with the diagnostics it must produce.

A fixture states its expectations in header comments (or, for files that cannot hold a comment, in a
sidecar ``.expect`` file), one per line::

    # expect: error[unknown-key] cuda.drivr @8 "did you mean \"driver\""

severity and code are required; the key path, the line and a quoted fragment of the rendered
message are checked when given. A fixture must produce exactly its expected errors and warnings.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from envspec.compat import Compat
from envspec.errors import Diagnostic
from envspec.lint import LintContext
from envspec.validate import validate_bytes

from .conftest import FIXTURES

EXPECT = re.compile(
    r"(?P<severity>error|warning)\[(?P<code>[a-z0-9-]+)\]"
    r"(?:\s+(?P<key>[^\s@\"]+))?(?:\s+@(?P<line>\d+))?(?:\s+\"(?P<text>(?:[^\"\\]|\\.)*)\")?\s*$"
)


@dataclasses.dataclass(frozen=True)
class Expectation:
    severity: str
    code: str
    key: str | None
    line: int | None
    text: str | None

    def matches(self, d: Diagnostic) -> bool:
        return (
            d.severity.value == self.severity
            and d.code == self.code
            and (self.key is None or d.key == self.key)
            and (self.line is None or d.line == self.line)
            and (self.text is None or self.text in str(d))
        )


def expectations(path: Path) -> list[Expectation]:
    sidecar = path.with_suffix(".expect")
    if sidecar.exists():
        lines = sidecar.read_text().splitlines()
    else:
        text = path.read_bytes().decode("utf-8", errors="replace")
        lines = [
            ln.removeprefix("# expect:").strip() for ln in text.splitlines() if ln.startswith("# expect:")
        ]
    found = []
    for line in lines:
        match = EXPECT.match(line.strip())
        assert match, f"{path.name}: unreadable expectation {line!r}"
        text = match["text"]
        found.append(
            Expectation(
                match["severity"],
                match["code"],
                match["key"],
                int(match["line"]) if match["line"] else None,
                text.replace('\\"', '"') if text else None,
            )
        )
    return found


INVALID = sorted((FIXTURES / "invalid").glob("*.toml"))
LINT = sorted((FIXTURES / "lint").glob("*.toml"))


def test_there_is_a_fixture_per_failure_mode() -> None:
    assert len(INVALID) >= 25
    codes = {e.code for path in INVALID for e in expectations(path)}
    assert len(codes) >= 25, sorted(codes)


@pytest.mark.parametrize("path", INVALID + LINT, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_produces_exactly_its_diagnostics(path: Path, compat: Compat, ctx: LintContext) -> None:
    expected = expectations(path)
    report = validate_bytes(path.read_bytes(), path.name, compat, ctx)
    for want in expected:
        assert any(want.matches(d) for d in report.diagnostics), f"{want} not in:\n" + "\n".join(
            map(str, report.diagnostics)
        )
    assert len(report.diagnostics) == len(expected), "\n".join(map(str, report.diagnostics))
    for d in report.diagnostics:
        assert d.file == path.name
        assert d.message
        assert d.code
        if d.severity.value == "error" and d.code not in ("empty", "not-text", "toml-syntax", "not-utf8"):
            assert d.expected or d.hint, f"{d.code} gives no expected value nor hint"
        if d.severity.value == "warning":
            assert d.reason, f"{d.code} must say why"
            assert d.hint, f"{d.code} must say how to fix it"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture_exits_2_without_traceback(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "envspec", "validate", "--json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["errors"] == sum(1 for e in expectations(path) if e.severity == "error")


def test_lint_fixtures_pass_unless_strict(compat: Compat, ctx: LintContext) -> None:
    for path in LINT:
        report = validate_bytes(path.read_bytes(), path.name, compat, ctx)
        assert report.ok, path.name
        strict = validate_bytes(path.read_bytes(), path.name, compat, ctx, strict=True)
        assert strict.ok == (report.warnings == 0), path.name
