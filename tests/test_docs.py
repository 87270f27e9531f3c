"""Every diagnostic code the package can emit is documented, and every command has its page."""

from __future__ import annotations

import re

from envspec.cli import app

from .conftest import REPO

CODE_CALL = re.compile(
    r"(?:_error|_warn|_fail|_pattern|_diagnostic|PydanticCustomError|Diagnostic)\(\s*\"([a-z0-9-]+)\"", re.S
)


def emitted_codes() -> set[str]:
    codes: set[str] = set()
    sources = (
        "load.py",
        "spec.py",
        "fields.py",
        "checks.py",
        "checkvariants.py",
        "lint.py",
        "text.py",
        "lock/read.py",
        "lock/model.py",
        "lock/buildmarkers.py",
        "lock/entries.py",
    )
    for name in sources:
        text = (REPO / "envspec" / name).read_text()
        codes |= set(CODE_CALL.findall(text))
        # pattern(regex, code, ...) takes the code second
        codes |= set(re.findall(r"pattern\([^\n]*?, \"(invalid-[a-z-]+)\"", text))
        codes |= set(re.findall(r"^\s+\"(invalid-[a-z-]+)\",$", text, re.M))
    codes |= set(
        re.findall(r"_fail\(\s*file,\s*\"([a-z0-9-]+)\"", (REPO / "envspec" / "load.py").read_text())
    )
    return codes


def test_the_scan_finds_codes() -> None:
    assert {"unknown-key", "driver-too-old", "launch-blocking-noop", "control-character"} <= emitted_codes()


def test_every_code_is_documented() -> None:
    rules = (REPO / "docs" / "rules.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", rules, re.M))
    extra = {
        "unknown-key",
        "missing-key",
        "wrong-type",
        "invalid-value",
        "out-of-range",
    }  # from pydantic errors
    assert emitted_codes() | extra == documented


def test_every_command_has_a_page_with_exit_codes() -> None:
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        page = REPO / "docs" / f"{name}.md"
        assert page.exists(), f"docs/{name}.md is missing"
        text = page.read_text()
        assert "## Exit codes" in text
        assert "## Example" in text
        assert f"envspec {name}" in text
        assert name in (REPO / "README.md").read_text()
