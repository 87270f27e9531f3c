"""Commands answered without typer: the no-op ``lock`` and ``validate``, with typer's output and exits.

``envspec lock SPEC`` on an unchanged spec, and ``--check`` of a fresh lock, are answered from the
spec-hash cache (:func:`envspec.lock.state.cached_freshness`) with the standard library alone: no
typer, rich or pydantic is imported. ``validate`` needs pydantic, but not typer. Arguments these
parsers do not take exactly as written here, and every lock not known to be fresh, go to the typer
commands (:mod:`envspec.commands`), which share the printing below.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from envspec.cache import cache_dir
from envspec.errors import ExitCode
from envspec.lock.state import cached_freshness, default_lock_path

if TYPE_CHECKING:
    from rich.console import Console

RESOLVERS = ("auto", "pip-tools", "uv")
SPEC_READ_LIMIT = 1024 * 1024  # as envspec.load.MAX_SPEC_BYTES; a larger file takes the full path
# Text that rich prints unchanged: no markup brackets, no backslash, no ':' (emoji codes such as
# :smile:), printable ASCII only (rich drops some control characters).
_PLAIN = re.compile(r"[A-Za-z0-9 !\"#$%&'()*+,./;<=>?@^_`{|}~-]*")
_LOCK_FLAGS = {"--check": "check", "--json": "as_json", "--no-cache": "no_cache"}
_LOCK_OPTIONS = {"-o": "output", "--output": "output", "--resolver": "resolver", "--cache-dir": "cache_dir"}


def out_console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False)


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def say(message: str) -> None:
    """Print text without markup on stderr, exactly as ``err_console().print(escape(message))`` does."""
    if _PLAIN.fullmatch(message):
        sys.stderr.write(message + "\n")
        return
    from rich.markup import escape

    err_console().print(escape(message))


def report_fresh(target: Path, current: str, *, check: bool, as_json: bool) -> None:
    """What ``envspec lock`` prints for a lock that is up to date (``--check`` or not)."""
    if as_json:
        import json

        sys.stdout.write(json.dumps({"lock": str(target), "state": "fresh", "spec-hash": current}) + "\n")
    say(f"{target} is up to date" if check else f"{target} is up to date (spec unchanged)")


def validate_specs(specs: Sequence[Path], *, strict: bool, as_json: bool) -> ExitCode:
    """``envspec validate``: check each spec, print one report, and say whether all are valid."""
    from envspec.compat import load_compat
    from envspec.lint import LintContext
    from envspec.report import report_json, report_markup
    from envspec.validate import validate_file

    compat = load_compat()
    ctx = LintContext(cores=os.cpu_count())
    reports = [validate_file(path, compat, ctx, strict=strict) for path in specs]
    if as_json:
        sys.stdout.write(report_json(reports))
    else:
        out_console().print(report_markup(reports))
    return ExitCode.OK if all(r.ok for r in reports) else ExitCode.INVALID


@dataclasses.dataclass(frozen=True, slots=True)
class LockArgs:
    """The ``lock`` flags the fast path takes; the others (``--upgrade``, ``-P``) always re-resolve."""

    spec: Path
    output: Path | None = None
    check: bool = False
    as_json: bool = False
    cache_dir: Path | None = None
    no_cache: bool = False


def lock_args(argv: Sequence[str]) -> LockArgs | None:
    """Parse ``lock SPEC [flags]``; None for anything unusual, which typer then parses and reports."""
    if not argv or argv[0] != "lock":
        return None
    flags: set[str] = set()
    values: dict[str, str] = {}
    positional: list[str] = []
    rest = iter(argv[1:])
    for arg in rest:
        name, equals, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _LOCK_FLAGS and not equals:
            flags.add(_LOCK_FLAGS[name])
        elif name in _LOCK_OPTIONS:
            key = _LOCK_OPTIONS[name]
            value = inline if equals else next(rest, "")
            if key in values or not value or value.startswith("-"):
                return None
            values[key] = value
        elif arg and not arg.startswith("-"):
            positional.append(arg)
        else:
            return None
    if len(positional) != 1 or values.get("resolver", "auto") not in RESOLVERS:
        return None
    return LockArgs(
        spec=Path(positional[0]),
        output=Path(values["output"]) if "output" in values else None,
        check="check" in flags,
        as_json="as_json" in flags,
        cache_dir=Path(values["cache_dir"]) if "cache_dir" in values else None,
        no_cache="no_cache" in flags,
    )


def validate_args(argv: Sequence[str]) -> tuple[list[Path], bool, bool] | None:
    """Parse ``validate [--strict] [--json] SPEC...`` into (specs, strict, as_json); None otherwise."""
    if not argv or argv[0] != "validate":
        return None
    specs: list[Path] = []
    for arg in argv[1:]:
        if arg in ("--strict", "--json"):
            continue
        if not arg or arg.startswith("-"):
            return None
        specs.append(Path(arg))
    return (specs, "--strict" in argv[1:], "--json" in argv[1:]) if specs else None


def _spec_bytes(path: Path) -> bytes | None:
    """The bytes of a regular spec file no larger than the limit; None for anything else."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None
        with path.open("rb") as handle:
            data = handle.read(SPEC_READ_LIMIT + 1)
    except OSError:
        return None
    return data if len(data) <= SPEC_READ_LIMIT else None


def lock_if_fresh(argv: Sequence[str]) -> int | None:
    """``envspec lock`` when the cache shows the lock is fresh: its exit code; None: run the full path."""
    args = lock_args(argv)
    if args is None:
        return None
    cache = cache_dir(args.cache_dir, disabled=args.no_cache)
    data = _spec_bytes(args.spec) if cache is not None else None
    if cache is None or data is None:
        return None
    target = args.output or default_lock_path(args.spec)
    current = cached_freshness(data, target, cache)
    if current is None:
        return None
    return as_typer_would(lambda: report_fresh(target, current, check=args.check, as_json=args.as_json))


def answer(argv: Sequence[str]) -> int | None:
    """Run ``argv`` here when this module can; None when it is typer's to run."""
    fresh = lock_if_fresh(argv)
    if fresh is not None:
        return fresh
    parsed = validate_args(argv)
    if parsed is None:
        return None
    specs, strict, as_json = parsed
    return as_typer_would(lambda: validate_specs(specs, strict=strict, as_json=as_json))


def as_typer_would(body: Callable[[], int | None]) -> int:
    """Run a command's body with the exits typer gives it: Ctrl-C is 130, a closed output pipe 1."""
    try:
        code = body()
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # as click does: the flush at exit must not report the closed pipe once more
        sys.stdout = cast(TextIO, _Pacified(sys.stdout))
        sys.stderr = cast(TextIO, _Pacified(sys.stderr))
        return 1
    return int(ExitCode.OK if code is None else code)


class _Pacified:
    """A stream whose ``flush`` ignores a closed pipe."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)
