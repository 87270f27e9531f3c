"""Commands answered without typer: ``lock`` and ``validate``, with typer's output and exits.

``envspec lock SPEC`` on an unchanged spec, and ``--check`` of a fresh lock, are answered from the
spec-hash cache (:func:`envspec.lock.state.cached_freshness`) with the standard library alone: no
typer, rich or pydantic is imported. Any other ``lock`` with the flags parsed here runs
:func:`envspec.lockcmd.run_lock`, and ``validate`` needs pydantic, but neither needs typer. Arguments
these parsers do not take exactly as written here (``--upgrade``, ``-P``, ``--help``, a mistake) go
to the typer commands (:mod:`envspec.commands`), which share the code and the printing below.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO, cast

from envspec.cache import cache_dir, cached_spec_hash, store_spec_hash
from envspec.console import report_fresh, show_report
from envspec.errors import ExitCode
from envspec.lock.state import cached_freshness, default_lock_path, spec_hash_key
from envspec.lockcmd import RESOLVERS, LockRequest, run_lock

SPEC_READ_LIMIT = 1024 * 1024  # as envspec.load.MAX_SPEC_BYTES; a larger file takes the full path
_LOCK_FLAGS = {"--check": "check", "--json": "as_json", "--no-cache": "no_cache"}
_LOCK_OPTIONS = {"-o": "output", "--output": "output", "--resolver": "resolver", "--cache-dir": "cache_dir"}
_EMIT_OPTIONS = {"--lock": "lock", "--target": "target", "-t": "target", "-o": "output", "--output": "output"}


def _clean_key(data: bytes) -> str | None:
    """The cache key saying "these spec bytes validated with no diagnostic, on this many cores".

    The same digest as the spec-hash cache (envspec's code and data, the libraries' stamp, the bytes),
    over bytes no spec can hold (a NUL), so the two kinds of entry never meet. Cores count because one
    lint rule compares thread settings with them.
    """
    return spec_hash_key(f"envspec clean report\0cores={os.cpu_count()}\0".encode() + data)


def _clean_value(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def validate_specs(specs: Sequence[Path], *, strict: bool, as_json: bool) -> ExitCode:
    """``envspec validate``: check each spec, print one report, and say whether all are valid.

    A spec whose exact bytes this envspec found clean before (no error, no warning: ``--strict``
    changes nothing then) is answered from the cache, without pydantic; any other runs in full, as
    ruff and mypy cache their clean files.
    """
    from envspec.report import Report, report_json

    cache = cache_dir(None)
    found = [_spec_bytes(path) if cache is not None else None for path in specs]
    keys = [_clean_key(data) if data is not None else None for data in found]
    if cache is not None and all(
        data is not None and key is not None and cached_spec_hash(cache, key) == _clean_value(data)
        for data, key in zip(found, keys, strict=True)
    ):
        reports = [Report(str(path), (), None) for path in specs]
    else:
        from envspec.compat import load_compat
        from envspec.lint import LintContext
        from envspec.load import read_spec_file
        from envspec.validate import validate_bytes

        compat = load_compat()
        ctx = LintContext(cores=os.cpu_count())
        reports = []
        for path in specs:
            data = read_spec_file(path)
            report = validate_bytes(data, str(path), compat, ctx, strict=strict)
            key = _clean_key(data) if cache is not None else None
            # a report with lines beyond its diagnostics (a spec's torch builds) is not cached clean
            if cache is not None and key is not None and not report.diagnostics and not report.builds:
                store_spec_hash(cache, key, _clean_value(data))
            reports.append(report)
    if as_json:
        sys.stdout.write(report_json(reports))
    else:
        show_report(reports, stream=sys.stdout)
    return ExitCode.OK if all(r.ok for r in reports) else ExitCode.INVALID


LockArgs = LockRequest  # what ``lock_args`` parses: the flags a lock without typer takes


def _parse(
    argv: Sequence[str], flags: dict[str, str], options: dict[str, str]
) -> tuple[set[str], dict[str, str], list[str]] | None:
    """Split arguments into flags, option values and positionals; None for anything unusual (an
    unknown option, a repeated one, a missing value), which typer then parses and reports."""
    seen: set[str] = set()
    values: dict[str, str] = {}
    positional: list[str] = []
    rest = iter(argv)
    for arg in rest:
        name, equals, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in flags and not equals:
            seen.add(flags[name])
        elif name in options:
            key = options[name]
            value = inline if equals else next(rest, "")
            if key in values or not value or value.startswith("-"):
                return None
            values[key] = value
        elif arg and not arg.startswith("-"):
            positional.append(arg)
        else:
            return None
    return seen, values, positional


def lock_args(argv: Sequence[str]) -> LockArgs | None:
    """Parse ``lock SPEC [flags]``; None for anything unusual, which typer then parses and reports."""
    if not argv or argv[0] != "lock":
        return None
    parsed = _parse(argv[1:], _LOCK_FLAGS, _LOCK_OPTIONS)
    if parsed is None:
        return None
    flags, values, positional = parsed
    if len(positional) != 1 or values.get("resolver", "auto") not in RESOLVERS:
        return None
    return LockArgs(
        spec=Path(positional[0]),
        output=Path(values["output"]) if "output" in values else None,
        check="check" in flags,
        as_json="as_json" in flags,
        cache_dir=Path(values["cache_dir"]) if "cache_dir" in values else None,
        no_cache="no_cache" in flags,
        resolver=values.get("resolver", "auto"),
    )


def emit_args(argv: Sequence[str]) -> tuple[Path | None, Path | None, str, Path | None] | None:
    """Parse ``emit [SPEC] [--lock L] [--target T] [-o DIR]`` into (spec, lock, target, output)."""
    if not argv or argv[0] != "emit":
        return None
    parsed = _parse(argv[1:], {}, _EMIT_OPTIONS)
    if parsed is None or len(parsed[2]) > 1:
        return None
    _, values, positional = parsed
    path = {key: Path(values[key]) if key in values else None for key in ("lock", "output")}
    spec = Path(positional[0]) if positional else None
    return spec, path["lock"], values.get("target", "all"), path["output"]


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
    locking = lock_args(argv)
    if locking is not None:  # not known to be fresh: lock (or check) without typer
        return as_typer_would(lambda: run_lock(locking))
    emitting = emit_args(argv)
    if emitting is not None:
        from envspec.emitcmd import run_emit

        return as_typer_would(lambda: run_emit(*emitting))
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
