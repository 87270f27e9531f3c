"""The entry point: run one command, and map every error to a message and an exit code.

This module is the one boundary where exceptions become messages: commands raise
:class:`~envspec.errors.EnvspecError` subclasses (or return an :class:`~envspec.errors.ExitCode`),
and :func:`run` prints them with their hint. Nothing below it prints errors or exits. It imports
neither typer nor rich: the no-op ``lock`` and ``validate`` are answered by :mod:`envspec.fastpath`
first, and the typer commands (:mod:`envspec.commands`) are imported only for the rest.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from envspec.console import err_console
from envspec.errors import EnvspecError, ExitCode
from envspec.fastpath import answer

if TYPE_CHECKING:
    import typer


def main(argv: list[str] | None = None) -> None:
    """Entry point: run a command and exit with its code; errors become a message, never a traceback."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code. Usage errors are click's (exit 2), the rest are ours."""
    try:
        return _dispatch(argv)
    except EnvspecError as exc:
        from rich.markup import escape

        err = err_console()
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        if exc.hint:
            err.print(f"  [dim]hint:[/] {escape(exc.hint)}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err_console().print("interrupted")
        return 130
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # the boundary: a bug must still not dump a traceback on a user
        if os.environ.get("ENVSPEC_DEBUG"):
            raise
        from rich.markup import escape

        err = err_console()
        err.print(f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}")
        err.print("  [dim]hint:[/] this is a bug in envspec; rerun with ENVSPEC_DEBUG=1 for a traceback")
        return ExitCode.INTERNAL


def _dispatch(argv: list[str] | None) -> int:
    answered = answer(sys.argv[1:] if argv is None else argv)
    if answered is not None:
        return answered
    from envspec.commands import app

    try:
        app(args=argv, prog_name="envspec")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (ExitCode.OK if code is None else ExitCode.INVALID)
    return ExitCode.OK


def __getattr__(name: str) -> typer.Typer:
    """``envspec.cli.app``, the typer application, imported on first use."""
    if name == "app":
        from envspec.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
