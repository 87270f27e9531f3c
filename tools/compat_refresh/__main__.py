"""The command line: flags, reading and writing the data file, and the exit code of a run."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pydantic
import tomlkit
import tomlkit.exceptions
from tomlkit.toml_document import TOMLDocument

from envspec.compat import Compat, parse_compat
from envspec.errors import EnvspecError, ExitCode
from envspec.fsio import write_atomic
from envspec.lock.installers import default_index_url
from tools.compat_refresh.compare import compare
from tools.compat_refresh.errors import RefreshError
from tools.compat_refresh.fetch import gather_facts
from tools.compat_refresh.render import Outcome, render_error, render_json, render_text
from tools.compat_refresh.rewrite import apply_differences

PROG = "python -m tools.compat_refresh"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check envspec's compat data against package-index metadata; --write applies it.",
    )
    parser.add_argument(
        "--index-url",
        metavar="URL",
        help="the default index (a simple repository); without it, the installer's default index, "
        "as `envspec lock` uses it (ENVSPEC_DEFAULT_INDEX overrides)",
    )
    parser.add_argument(
        "--torch-index",
        metavar="URL",
        help="the PyTorch index whose torch/ page lists the +cpu/+cuXYZ builds (else variants go unchecked)",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        type=Path,
        help="the compat data file to check (default: the --write file, else the shipped data)",
    )
    parser.add_argument(
        "--write", metavar="PATH", type=Path, help="write the updated data here (atomically, layout kept)"
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=30.0, help="per-request timeout (default 30)"
    )
    return parser


def _read_data(path: Path | None) -> tuple[str, str]:
    """The data file's label and text (the shipped file when no path is given)."""
    if path is None:
        source = resources.files("envspec").joinpath("data/compat.toml")
        return "the shipped compat data", source.read_bytes().decode("utf-8")
    try:
        return str(path), path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RefreshError(
            f"cannot read the data file {path}: {exc}", hint="pass --data with a readable UTF-8 compat.toml"
        ) from None


def parse_data(label: str, text: str) -> tuple[Compat, TOMLDocument]:
    """The data as envspec reads it, and as a tomlkit document that keeps its layout for --write."""
    hint = "fix the file by hand (docs/compat.md describes its sections), or check the shipped data"
    try:
        return parse_compat(text), tomlkit.parse(text)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or '(top)'}: {error['msg']}" for error in exc.errors()
        )
        raise RefreshError(f"{label} is not valid compat data: {problems}", hint=hint) from None
    except (tomllib.TOMLDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
        raise RefreshError(f"{label} is not valid TOML: {exc}", hint=hint) from None


def http_url(value: str, flag: str) -> str:
    """``value`` when it is an absolute http(s) URL; else a RefreshError naming the flag."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RefreshError(
            f"{flag} {value!r} is not an http(s) URL", hint=f"give {flag} the URL of a simple repository"
        )
    return value


def _write(target: Path, text: str) -> None:
    """Write ``text`` atomically, leaving the file untouched when it already holds exactly that."""
    data = text.encode("utf-8")
    try:
        if not (target.is_file() and target.read_bytes() == data):
            write_atomic(target, data)
    except OSError as exc:
        raise RefreshError(
            f"cannot write {target}: {exc}", hint="--write needs a file path in a writable directory"
        ) from None


def run(args: argparse.Namespace) -> tuple[Outcome, int]:
    """Check the data against the indexes and, with --write, update it; the outcome and exit code."""
    label, text = _read_data(args.data or args.write)
    compat, doc = parse_data(label, text)
    index_url = http_url(args.index_url or default_index_url(), "--index-url")
    torch_index = http_url(args.torch_index, "--torch-index") if args.torch_index else None

    facts = gather_facts(compat, index_url, torch_index, args.timeout)
    report = compare(compat, facts)
    outcome = Outcome(label, index_url, torch_index, report)
    if args.write is not None:
        applied = apply_differences(doc, report.differences)
        new_text = doc.as_string()
        try:
            updated = parse_compat(new_text)
        except (tomllib.TOMLDecodeError, pydantic.ValidationError) as exc:  # pragma: no cover - a bug
            raise RuntimeError(f"the updated data would be invalid: {exc}") from exc
        _write(args.write, new_text)
        remaining = compare(updated, facts).differences
        outcome = dataclasses.replace(
            outcome, written=str(args.write), applied=tuple(applied), remaining=remaining
        )
    code = ExitCode.DIFFERS if outcome.open_differences else ExitCode.OK
    return outcome, int(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command: 0 when the data agrees, 1 when differences remain, 2 on bad input."""
    args = _parser().parse_args(argv)
    try:
        outcome, code = run(args)
    except EnvspecError as exc:
        stream = sys.stdout if args.json else sys.stderr
        stream.write(render_error(str(exc), exc.hint, as_json=args.json))
        return int(ExitCode.INVALID)
    sys.stdout.write(render_json(outcome) if args.json else render_text(outcome))
    return code


if __name__ == "__main__":
    sys.exit(main())
