"""Load: spec file bytes -> TOML data -> :class:`~envspec.spec.Spec`, with every error located.

This is the only module that reads a spec from disk. Everything it reports is a
:class:`~envspec.errors.Diagnostic` carrying the file, the line, the dotted key path, what was
expected and, where it can guess, a hint. Any input, however broken, ends in a
:class:`~envspec.errors.SpecError`, never in another exception.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import difflib
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from envspec.errors import Diagnostic, KeyPath, Severity, SpecError, format_path
from envspec.fields import show
from envspec.fsio import read_limited
from envspec.source import key_lines, line_of
from envspec.spec import Spec
from envspec.text import control_characters

MAX_SPEC_BYTES = 1024 * 1024
MAX_NESTING = 100  # tables and arrays within each other; a hand-written spec needs a handful
_SYNTAX_EXPECTED = "TOML syntax (see https://toml.io)"
_VERSION_KEYS = {
    ("env", "python"): '"3.11"',
    ("cuda", "version"): '"12.1"',
    ("cuda", "driver"): '"535.129.03"',
    ("torch", "version"): '"2.1.2"',
}


@dataclasses.dataclass(frozen=True, slots=True)
class LoadedSpec:
    """A valid spec with what is needed to point back into its file."""

    spec: Spec
    file: str
    text: str
    lines: Mapping[KeyPath, int]

    def locate(self, diagnostic: Diagnostic) -> Diagnostic:
        return diagnostic.located(self.file, line_of(self.lines, diagnostic.path))


def read_spec_file(path: Path) -> bytes:
    """Read a spec's bytes, refusing what cannot be a spec before parsing it."""
    return read_limited(
        path, MAX_SPEC_BYTES, what="spec file", missing_hint="`envspec init` writes a starter spec"
    )


def load_spec(path: Path, display: str | None = None) -> LoadedSpec:
    """Read and validate one spec file."""
    return parse_spec(read_spec_file(path), display or str(path))


def parse_spec(data: bytes, file: str) -> LoadedSpec:
    """Parse spec bytes into a valid :class:`Spec`, or raise :class:`SpecError` listing every problem."""
    text = _decode(data, file)
    raw = _parse_toml(text, file)
    lines = key_lines(text)
    problems = [*control_characters(raw), *_structure(raw, text, lines)]
    spec: Spec | None = None
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        seen = {p.path for p in problems}
        problems += [
            p for p in diagnostics_from_pydantic(exc.errors(include_url=False), Spec) if p.path not in seen
        ]
    if problems or spec is None:
        located = [p.located(file, line_of(lines, p.path)) for p in problems]
        raise SpecError(file, sorted(located, key=lambda d: d.line or 0))
    return LoadedSpec(spec=spec, file=file, text=text, lines=lines)


def _fail(
    file: str,
    code: str,
    message: str,
    *,
    line: int | None = None,
    expected: str | None = None,
    hint: str | None = None,
) -> SpecError:
    diagnostic = Diagnostic(code, Severity.ERROR, message, expected=expected, hint=hint, file=file, line=line)
    return SpecError(file, [diagnostic])


def _decode(data: bytes, file: str) -> str:
    if len(data) > MAX_SPEC_BYTES:
        raise _fail(
            file,
            "too-large",
            f"the spec is larger than {MAX_SPEC_BYTES // 1024} KiB",
            hint="a spec is a short hand-written file; is this the right path?",
        )
    if not data.strip():
        raise _fail(
            file,
            "empty",
            "the spec is empty",
            expected="at least an [env] table with name and python",
            hint="`envspec init` writes a starter spec",
        )
    if b"\x00" in data:
        raise _fail(file, "not-text", "the file holds binary data (NUL bytes), not TOML text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(
            file,
            "not-utf8",
            f"byte {exc.start} is not valid UTF-8",
            line=line,
            expected="a UTF-8 encoded TOML file",
            hint="re-save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


def _parse_toml(text: str, file: str) -> dict[str, Any]:
    """TOML text -> plain data (dicts, lists, str, int, float, bool, datetime/date/time)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(file, str(exc), text) from None
    except RecursionError:
        raise _too_deep(file, text) from None
    except ValueError as exc:  # an integer of more digits than int() converts, ...
        raise _fail(
            file, "toml-syntax", f"not a valid TOML document: {exc}", expected=_SYNTAX_EXPECTED
        ) from None
    if _depth(raw) > MAX_NESTING:
        raise _too_deep(file, text)
    return raw


# tomllib ends every message with where it stopped, on every Python version (3.14 also sets .lineno
# and .colno, but the text is the same, so one parser serves them all).
_WHERE = re.compile(
    r"(?P<reason>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)", re.S
)
_DECLARED_TWICE = re.compile(r"Cannot declare (?P<key>\(.*\)) twice")


def _syntax_error(file: str, message: str, text: str) -> SpecError:
    match = _WHERE.fullmatch(message)
    if match is None:
        return _fail(file, "toml-syntax", message, expected=_SYNTAX_EXPECTED)
    if match["line"] is None:  # the document ended inside a value: point at its last written line
        where, line = "at the end of the file", text.rstrip().count("\n") + 1
    else:
        where, line = f"(column {match['column']})", int(match["line"])
    reason = _readable(match["reason"])
    return _fail(file, "toml-syntax", f"{reason} {where}", line=line, expected=_SYNTAX_EXPECTED)


def _readable(reason: str) -> str:
    """tomllib names a table declared twice as a Python tuple, ``('a', 'b')``; write it as TOML, ``[a.b]``."""
    match = _DECLARED_TWICE.fullmatch(reason)
    try:
        key = ast.literal_eval(match["key"]) if match else None
    except (ValueError, SyntaxError):
        key = None
    if isinstance(key, tuple) and all(isinstance(part, str) for part in key):
        return f"Cannot declare [{format_path(key)}] twice"
    return reason


def _depth(document: Mapping[str, Any]) -> int:
    """How deep tables and arrays nest in ``document`` (walked without recursion)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return deepest


def _too_deep(file: str, text: str) -> SpecError:
    return _fail(
        file,
        "toml-syntax",
        f"tables and arrays nested more than {MAX_NESTING} levels deep",
        line=_nesting_line(text, MAX_NESTING),
        expected=_SYNTAX_EXPECTED,
    )


# What may hold a bracket without opening a value: strings (multi-line ones first) and comments.
_BRACKETS = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[][{}]', re.S
)


def _nesting_line(text: str, limit: int) -> int | None:
    """The line where brackets and braces outside strings and comments first nest over ``limit``."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        if match.group() in ("[", "{"):
            depth += 1
            if depth > limit:
                return text.count("\n", 0, match.start()) + 1
        elif match.group() in ("]", "}"):
            depth = max(depth - 1, 0)
    return None


def _structure(raw: Mapping[str, Any], text: str, lines: Mapping[KeyPath, int]) -> Iterator[Diagnostic]:
    """Catch mistakes that deserve a better message than a type error (python = 3.10)."""
    for path, example in _VERSION_KEYS.items():
        section = raw.get(path[0])
        if isinstance(section, dict) and path[1] in section:
            value = section[path[1]]
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield Diagnostic(
                    "version-not-string",
                    Severity.ERROR,
                    f"{show(value)} is a TOML number, so it loses its meaning"
                    + (" (3.10 reads as 3.1)" if isinstance(value, float) else ""),
                    path=path,
                    expected=f"a version in quotes, e.g. {path[1]} = {example}",
                    hint=f'write {path[1]} = "{_number_text(value, text, lines.get(path))}"',
                )


def _number_text(value: float, text: str, line: int | None) -> str:
    """The number as the user typed it (3.10, not 3.1), read back from the source line."""
    if line is not None:
        source = text.split("\n")[line - 1]
        match = re.search(r"=\s*([0-9][0-9._eE+-]*)", source)
        if match:
            return match.group(1)
    return str(value)


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "mapping_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


_TOML_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),  # before int: a bool is an int in Python
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (dict, "a table"),
    (list, "an array"),
    ((datetime.datetime, datetime.date, datetime.time), "a date/time"),
)


def _toml_type(value: object) -> str:
    return next((word for kind, word in _TOML_TYPES if isinstance(value, kind)), type(value).__name__)


def _model_at(root: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the table at ``path`` (for listing its keys)."""
    model: type[BaseModel] = root
    for part in path:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        nested = _model_in(field.annotation)
        if nested is None:
            return None
        model = nested
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def diagnostics_from_pydantic(errors: Sequence[ErrorDetails], root: type[BaseModel]) -> Iterator[Diagnostic]:
    """pydantic's errors for a document validated by ``root``, as located-ready diagnostics."""
    locs = [tuple(e["loc"]) for e in errors]
    for error, loc in zip(errors, locs, strict=True):
        kind = error["type"]
        path: KeyPath = tuple(p for p in loc if p != "[key]")
        ctx: dict[str, Any] = dict(error.get("ctx") or {})
        value = error.get("input")
        if kind == "too_short" and any(other[: len(loc)] == loc and other != loc for other in locs):
            continue  # a list emptied by its own invalid items: the items are reported already
        if kind == "extra_forbidden":
            key = str(path[-1])
            model = _model_at(root, path[:-1])
            known = _keys_of(model) if model else []
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            where = f"[{format_path(path[:-1])}]" if path[:-1] else "the top level"
            yield Diagnostic(
                "unknown-key",
                Severity.ERROR,
                f"unknown key {show(key)} in {where}",
                path=path,
                expected="one of: " + ", ".join(known) if known else None,
                hint=f"did you mean {show(close[0])}?" if close else None,
            )
        elif kind == "missing":
            yield Diagnostic(
                "missing-key",
                Severity.ERROR,
                f"required key {show(str(path[-1]))} is missing",
                path=path,
                hint=f"add {path[-1]} = ... to [{format_path(path[:-1])}]"
                if path[:-1]
                else f"add a [{path[-1]}] table",
            )
        elif kind in _TYPE_WORDS:
            yield Diagnostic(
                "wrong-type",
                Severity.ERROR,
                f"got {_toml_type(value)} ({show(value)})",
                path=path,
                expected=_TYPE_WORDS[kind],
            )
        elif kind == "literal_error":
            yield Diagnostic(
                "invalid-value",
                Severity.ERROR,
                f"{show(value)} is not allowed here",
                path=path,
                expected="one of " + str(ctx.get("expected", "")).replace("'", '"'),
                hint=_close_literal(value, str(ctx.get("expected", ""))),
            )
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            bound = next(iter(ctx.values()), "?")
            words = {
                "greater_than": "greater than",
                "greater_than_equal": "at least",
                "less_than": "less than",
                "less_than_equal": "at most",
            }[kind]
            yield Diagnostic(
                "out-of-range",
                Severity.ERROR,
                f"{show(value)} is out of range",
                path=path,
                expected=f"a number {words} {bound}",
            )
        elif kind == "too_short":
            yield Diagnostic(
                "invalid-value",
                Severity.ERROR,
                "the array is empty",
                path=path,
                expected=f"at least {ctx.get('min_length', 1)} item(s)",
            )
        else:
            message = error["msg"].removeprefix("Value error, ")
            yield Diagnostic(
                kind if "-" in kind else "invalid-value",
                Severity.ERROR,
                message,
                path=path,
                expected=ctx.get("expected"),
                hint=ctx.get("hint"),
            )


def _close_literal(value: object, expected: str) -> str | None:
    if not isinstance(value, str):
        return None
    options = [part.strip().strip("'") for part in expected.replace(" or ", ", ").split(",")]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.5)
    return f"did you mean {show(close[0])}?" if close else None
