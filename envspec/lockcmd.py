"""``envspec lock``'s body, without typer: :mod:`envspec.fastpath` runs it for the flags it parses, and
the typer command (:mod:`envspec.commands`) for the rest, so both print and exit alike.

typer, click and the CLI's definitions cost about 0.07 s to import, a quarter of a warm lock of 200
packages outside the resolver; rich is imported only for the spinner on a terminal and for markup in
an error report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from envspec.console import err_console, report_fresh, say, show_report
from envspec.errors import ExitCode, SpecError, UsageError

RESOLVERS = ("auto", "pip-tools", "uv")

if TYPE_CHECKING:
    from envspec.compat import Compat
    from envspec.load import LoadedSpec


@dataclasses.dataclass(frozen=True, slots=True)
class LockRequest:
    spec: Path
    output: Path | None = None
    check: bool = False
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    resolver: str = "auto"
    as_json: bool = False
    cache_dir: Path | None = None
    no_cache: bool = False


def validated(spec: Path) -> tuple[LoadedSpec, Compat, bytes] | ExitCode:
    """A spec loaded and checked, with the bytes that were checked (the spec-hash cache is keyed by
    exactly those); or, having printed its report, the exit code of an invalid spec."""
    from envspec.compat import load_compat
    from envspec.lint import LintContext
    from envspec.load import read_spec_file
    from envspec.validate import validate_bytes

    compat = load_compat()
    data = read_spec_file(spec)
    report = validate_bytes(data, str(spec), compat, LintContext(cores=os.cpu_count()))
    if not report.ok or report.loaded is None:
        show_report([report], stream=sys.stderr)
        return ExitCode.INVALID
    return report.loaded, compat, data


@contextlib.contextmanager
def _status(what: str) -> Iterator[Callable[[str], None]]:
    """A spinner with the current stage on a terminal; nothing elsewhere (logs, pipes, CI)."""
    if not sys.stderr.isatty():
        yield lambda _message: None
        return
    from rich.markup import escape

    with err_console().status(what, spinner="dots") as status:
        yield lambda message: status.update(escape(message))


def run_lock(request: LockRequest) -> ExitCode:
    """Lock ``request.spec`` (or check its lock): the exit code; errors are raised for the boundary."""
    from envspec.cache import cache_dir
    from envspec.fsio import check_writable, write_atomic
    from envspec.lock.state import default_lock_path, freshness, remember_spec_hash

    if request.resolver not in RESOLVERS:
        raise UsageError(f"unknown resolver {request.resolver!r}", hint="choose auto, pip-tools or uv")
    target = request.output or default_lock_path(request.spec)
    checked = validated(request.spec)
    if isinstance(checked, ExitCode):
        return checked
    loaded, compat, data = checked
    state = freshness(loaded.spec, compat, target)
    remember_spec_hash(cache_dir(request.cache_dir, disabled=request.no_cache), data, state.current)
    current, existing = state.current, state.existing

    def summary(outcome: str, **extra: object) -> None:
        if request.as_json:
            line = {"lock": str(target), "state": outcome, "spec-hash": current, **extra}
            sys.stdout.write(json.dumps(line) + "\n")

    if state.fresh and not request.upgrade and not request.upgrade_packages:
        report_fresh(target, current, check=request.check, as_json=request.as_json)
        return ExitCode.OK
    if request.check:
        reason = state.reason or "stale"
        summary("stale", reason=reason)
        say(f"stale: {target}: {reason}")
        return ExitCode.DIFFERS
    check_writable(target, what="lockfile")  # before resolving, which can take minutes

    from envspec.lock.build import LockOptions, build_lock
    from envspec.lock.read import LockFileError, parse_lock
    from envspec.lock.render import render_lock
    from envspec.lock.state import exclusive

    previous = None
    if existing:
        try:
            previous = parse_lock(existing, str(target))
        except (LockFileError, SpecError):
            previous = None  # a broken lock keeps no pins: it is replaced
    options = LockOptions(
        resolver=request.resolver,
        upgrade=request.upgrade,
        upgrade_packages=request.upgrade_packages,
        cache_dir=request.cache_dir,
        no_cache=request.no_cache,
    )
    with exclusive(target), _status("locking") as progress:
        new = build_lock(
            loaded, compat, options, previous=previous, progress=progress, warn=lambda m: say(f"warning: {m}")
        )
    text = render_lock(new)
    changed = text != existing
    if changed:
        write_atomic(target, text.encode("utf-8"))
    summary("written" if changed else "unchanged", **{"env-id": new.env_id, "packages": len(new.packages)})
    verb = "wrote" if changed else "unchanged:"
    say(
        f"{verb} {target}: {len(new.packages)} packages, resolved by {new.resolver}"
        f" {new.resolver_version}; environment {new.env_id}"
    )
    return ExitCode.OK
