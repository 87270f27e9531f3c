"""The command line: parse flags, call the stages, print, and map every error to an exit code.

This module is the one boundary where exceptions become messages: commands raise
:class:`~envspec.errors.EnvspecError` subclasses (or return an :class:`~envspec.errors.ExitCode`),
and :func:`main` prints them with their hint. Nothing below it prints or exits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from envspec import __version__
from envspec.errors import EnvspecError, ExitCode, UsageError

app = typer.Typer(
    name="envspec",
    help="Compile a declarative environment spec into a hashed lock and reproducible environments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _out() -> Console:
    return Console(soft_wrap=True, highlight=False)


def _err() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def _version(value: bool) -> None:
    if value:
        print(f"envspec {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """envspec: spec -> lock -> venv / conda / Docker, checked before anything is downloaded."""


@app.command()
def validate(
    specs: Annotated[
        list[Path], typer.Argument(help="Spec files to check.", show_default=False, metavar="SPEC...")
    ],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report on stdout.")] = False,
) -> None:
    """Check specs: errors for impossible environments, warnings for harmful or no-op settings."""
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
        _out().print(report_markup(reports))
    _finish(ExitCode.OK if all(r.ok for r in reports) else ExitCode.INVALID)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the spec language (for editor completion and checks)."""
    from envspec.fsio import write_atomic
    from envspec.schema import render_schema

    text = render_schema()
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(output, text.encode("utf-8"))
        _err().print(f"wrote {escape(str(output))}")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the spec.")] = Path("envspec.toml"),
    template: Annotated[str, typer.Option("--template", "-t", help="Starter to copy (see --list).")] = "dev",
    name: Annotated[str | None, typer.Option("--name", help="Set [env] name in the new spec.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    list_templates: Annotated[bool, typer.Option("--list", help="List the templates and exit.")] = False,
) -> None:
    """Write a starter spec from a template."""
    from envspec.compat import load_compat
    from envspec.fsio import write_atomic
    from envspec.lint import LintContext
    from envspec.starters import TEMPLATES, render_template
    from envspec.validate import validate_bytes

    if list_templates:
        width = max(map(len, TEMPLATES))
        for key, summary in TEMPLATES.items():
            print(f"{key:<{width}}  {summary}")
        return
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists", hint="pass --force to overwrite it, or choose another path"
        )
    text = render_template(template, name)
    report = validate_bytes(text.encode("utf-8"), str(path), load_compat(), LintContext())
    if not report.ok:
        # only a bad --name can make a shipped template invalid
        messages = "; ".join(d.message for d in report.diagnostics)
        raise UsageError(f"the spec would be invalid: {messages}", hint="--name takes a lowercase identifier")
    write_atomic(path, text.encode("utf-8"))
    _err().print(f"wrote {escape(str(path))} from the {template!r} template; next: envspec validate {path}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run a command and exit with its code; errors become a message, never a traceback."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code. Usage errors are click's (exit 2), the rest are ours."""
    try:
        app(args=argv, prog_name="envspec")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (ExitCode.OK if code is None else ExitCode.INVALID)
    except EnvspecError as exc:
        _err().print(f"[bold red]error:[/] {escape(str(exc))}")
        if exc.hint:
            _err().print(f"  [dim]hint:[/] {escape(exc.hint)}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _err().print("interrupted")
        return 130
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # the boundary: a bug must still not dump a traceback on a user
        if os.environ.get("ENVSPEC_DEBUG"):
            raise
        _err().print(f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}")
        _err().print("  [dim]hint:[/] this is a bug in envspec; rerun with ENVSPEC_DEBUG=1 for a traceback")
        return ExitCode.INTERNAL
    return ExitCode.OK


def _finish(code: ExitCode) -> None:
    """End a command with ``code`` (click ignores return values)."""
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))
