"""Render verification checks as a readable table (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape

from envspec.verify.model import Check, Status

_MARK = {
    Status.PASS: "[green]ok  [/]",
    Status.FAIL: "[bold red]FAIL[/]",
    Status.WARN: "[yellow]warn[/]",
    Status.SKIP: "[dim]skip[/]",
}


def render_checks(checks: Sequence[Check], env_id: str, python: str, build: str | None = None) -> str:
    """Failures show their fix; passing per-package lines are folded into the group summaries.
    ``build``: the torch build verified, of a lock of several."""
    which = f" (torch build {escape(build)})" if build else ""
    lines = [f"verifying {escape(python)} against environment {escape(env_id)}{which}"]
    for check in checks:
        if check.status is Status.PASS and check.group in ("packages", "files") and check.name != "summary":
            continue
        label = check.group if check.name == "summary" else f"{check.group} {check.name}"
        lines.append(f"  {_MARK[check.status]} {escape(label)}: {escape(check.detail)}")
        if check.fix and check.status is not Status.PASS:
            lines.append(f"        [dim]fix:[/] {escape(check.fix)}")
    failed = sum(1 for c in checks if c.status is Status.FAIL)
    warned = sum(1 for c in checks if c.status is Status.WARN)
    skipped = sum(1 for c in checks if c.status is Status.SKIP)
    verdict = "[bold red]differs[/]" if failed else "[bold green]matches the lock[/]"
    counts = f"{failed} failed, {warned} warnings" + (f", {skipped} skipped" if skipped else "")
    lines.append(f"{verdict}: {counts}, {len(checks)} checks")
    return "\n".join(lines)
