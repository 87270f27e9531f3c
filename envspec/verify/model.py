"""A verify check's outcome: what was checked, what it found, and the fix."""

from __future__ import annotations

import dataclasses
from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check's outcome, not a password
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    group: str
    name: str
    status: Status
    detail: str
    fix: str | None = None
