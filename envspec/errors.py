"""The one exception root of envspec, the diagnostics it carries, and the exit codes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from enum import IntEnum, StrEnum
from typing import ClassVar

KeyPath = tuple[str | int, ...]


class ExitCode(IntEnum):
    """Process exit codes shared by every command."""

    OK = 0
    DIFFERS = 1  # a check found a difference (stale lock, drifted env)
    INVALID = 2  # bad input: an invalid spec, a missing file, a bad flag
    INTERNAL = 3  # a bug in envspec: never expected, always reported as such


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


def format_path(path: KeyPath) -> str:
    """Render a key path as a user sees it in TOML: ``mirrors[0].url``, ``runtime.env.FOO``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _is_bare_key(part) else '"' + part.replace('"', '\\"') + '"'
            out += f".{text}" if out else text
    return out


def _is_bare_key(key: str) -> bool:
    return bool(key) and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in key)


@dataclasses.dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a spec: where it is, what is wrong, what was expected, how to fix it."""

    code: str
    severity: Severity
    message: str
    path: KeyPath = ()
    expected: str | None = None
    hint: str | None = None
    reason: str | None = None
    file: str | None = None
    line: int | None = None

    @property
    def key(self) -> str:
        return format_path(self.path)

    def located(self, file: str | None, line: int | None) -> Diagnostic:
        return dataclasses.replace(self, file=file, line=line)

    def as_error(self) -> Diagnostic:
        return dataclasses.replace(self, severity=Severity.ERROR)

    def where(self) -> str:
        place = self.file or "<spec>"
        if self.line is not None:
            place += f":{self.line}"
        return place

    def __str__(self) -> str:
        head = f"{self.where()}: {self.severity.value}[{self.code}]"
        if self.path:
            head += f" {self.key}:"
        lines = [f"{head} {self.message}"]
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.reason:
            lines.append(f"  why: {self.reason}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class EnvspecError(Exception):
    """Root of every error a user can cause and fix; the CLI turns it into a message and an exit code."""

    exit_code: ClassVar[ExitCode] = ExitCode.INVALID

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(EnvspecError):
    """A command was called with arguments that cannot work (a missing file, conflicting flags)."""


class SpecError(EnvspecError):
    """A spec that cannot be used: every diagnostic found, gathered, not just the first."""

    def __init__(self, file: str, diagnostics: Iterable[Diagnostic]) -> None:
        self.file = file
        self.diagnostics = tuple(diagnostics)
        count = sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{file}: {count} {noun}")

    def __str__(self) -> str:
        return "\n".join([self.message, *(str(d) for d in self.diagnostics)])
