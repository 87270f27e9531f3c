"""What the commands print, and how: plain writes where rich would print the same, rich otherwise.

rich costs about 0.01-0.02 s to import; a command whose output needs no styling (no terminal, no
markup, no emoji code) prints without it, byte for byte as rich would (tests hold it to that).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console

    from envspec.report import Report

# Text that rich prints unchanged: printable ASCII only (rich drops some control characters and
# expands tabs), no markup brackets or backslash, and no emoji code (``:name:``, no space inside).
_PLAIN = re.compile(r"[A-Za-z0-9 !\"#$%&'()*+,./:;<=>?@^_`{|}~-]*")
_EMOJI_CODE = re.compile(r":\S*?:")


def out_console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False)


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def _prints_as_is(text: str) -> bool:
    """Whether rich prints ``text`` (escaped) unchanged where there is no terminal to style."""
    return all(_PLAIN.fullmatch(line) and not _EMOJI_CODE.search(line) for line in text.split("\n"))


def say(message: str) -> None:
    """Print text without markup on stderr, exactly as ``err_console().print(escape(message))`` does."""
    if _prints_as_is(message):
        sys.stderr.write(message + "\n")
        return
    from rich.markup import escape

    err_console().print(escape(message))


def show_report(reports: Sequence[Report], *, stream: TextIO) -> None:
    """A validation report as ``Console().print(report_markup(reports))`` prints it: without rich
    when there is no terminal to style and the text needs nothing of rich."""
    from envspec.report import report_markup, report_text

    plain = report_text(reports)
    if not stream.isatty() and _prints_as_is(plain):
        stream.write(plain + "\n")
        return
    from rich.console import Console

    Console(file=stream, soft_wrap=True, highlight=False).print(report_markup(reports))


def report_fresh(target: Path, current: str, *, check: bool, as_json: bool) -> None:
    """What ``envspec lock`` prints for a lock that is up to date (``--check`` or not)."""
    if as_json:
        import json

        sys.stdout.write(json.dumps({"lock": str(target), "state": "fresh", "spec-hash": current}) + "\n")
    say(f"{target} is up to date" if check else f"{target} is up to date (spec unchanged)")
