"""Read a ``pylock.toml`` back into a typed :class:`Lock`, as strictly as a spec is read.

A lock is a file people commit and review, and a hostile pull request can edit it, so nothing in it
is trusted because envspec once wrote it. The PEP 751 part is validated by ``packaging.pylock``;
envspec then checks every value an emitter writes (names, versions, URLs, hashes, file names) and
reads ``[tool.envspec]`` through the same strict models as a spec. Finally the lock must agree with
itself: its environment id must match its packages. Every problem is reported at once, with the
file, the line, the key path and what was expected; any failure is bad input (exit 2).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from packaging.pylock import Pylock, PylockValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from envspec.errors import Diagnostic, EnvspecError, KeyPath, Severity, SpecError
from envspec.fsio import read_limited
from envspec.load import diagnostics_from_pydantic
from envspec.lock.buildmarkers import marker_problems
from envspec.lock.entries import package_from, package_problems
from envspec.lock.model import (
    LOCK_FORMAT,
    BuildFacts,
    Facts,
    Lock,
    ReleaseVersion,
)
from envspec.platforms import Platform, environment_marker, python_minor
from envspec.source import key_lines, line_of
from envspec.spec import Identifier, PythonRequirement, PythonVersion, Spec, pattern
from envspec.text import control_characters, describe, first_control

MAX_LOCK_BYTES = 64 * 1024 * 1024


class LockFileError(EnvspecError):
    """A lockfile that cannot be read at all (missing, not TOML, not envspec's, an unknown format)."""


class InvalidLockError(SpecError):
    """A lockfile that envspec would not have written: every problem found, each located."""


class _Tool(BaseModel):
    """``[tool.envspec]``: what envspec records beside the PEP 751 data."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_alias=True, validate_by_name=False)

    format: Literal[1]
    envspec_version: Annotated[
        StrictStr, pattern(r"\d+(\.\d+)*([a-z]+\d*)?(\.dev\d+)?", "invalid-version", "a version")
    ] = Field(alias="envspec-version")
    spec_hash: Annotated[
        StrictStr, pattern(r"sha256:[0-9a-f]{64}", "invalid-hash", '"sha256:" and 64 hex digits')
    ] = Field(alias="spec-hash")
    env_id: Annotated[
        StrictStr, pattern(r"[0-9a-f]{32}-[a-z0-9][a-z0-9._-]{0,62}", "invalid-env-id", "32 hex digits-name")
    ] = Field(alias="env-id")
    name: Identifier
    python: PythonVersion
    platforms: tuple[Platform, ...] = Field(min_length=1)
    resolver: Literal["pip-tools", "uv"]
    resolver_version: ReleaseVersion = Field(alias="resolver-version")
    requirements: tuple[PythonRequirement, ...]
    constraints: tuple[PythonRequirement, ...]
    facts: Facts = Field(default_factory=Facts)
    variants: tuple[BuildFacts, ...] = ()
    spec: Spec


def _diagnostic(code: str, message: str, path: KeyPath, expected: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, path=path, expected=expected)


def _context_path(context: str | None) -> KeyPath:
    """``packages[2].wheels[0]`` (packaging.pylock's context) -> ("packages", 2, "wheels", 0)."""
    path: list[str | int] = []
    for part in (context or "").split("."):
        match = re.fullmatch(r"([^\[\]]*)((?:\[\d+\])*)", part)
        if match is None:
            path.append(part)
            continue
        if match.group(1):
            path.append(match.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return tuple(path)


def _consistency(lock: Lock, data: Mapping[str, Any], recorded_id: str) -> Iterator[Diagnostic]:
    """The lock against itself: what envspec writes twice must say the same thing twice."""
    spec = lock.spec
    tool: KeyPath = ("tool", "envspec")
    if spec.env.name != lock.name:
        yield _diagnostic(
            "inconsistent-lock",
            f"the spec's [env] name is {spec.env.name!r}",
            (*tool, "name"),
            "the same name as [tool.envspec.spec.env] name",
        )
    if spec.env.python != lock.python:
        yield _diagnostic(
            "inconsistent-lock",
            f"the spec's [env] python is {spec.env.python!r}",
            (*tool, "python"),
            "the same Python as [tool.envspec.spec.env] python",
        )
    if tuple(spec.env.platforms) != lock.platforms:
        yield _diagnostic(
            "inconsistent-lock",
            "the spec's [env] platforms differ",
            (*tool, "platforms"),
            "the same platforms as [tool.envspec.spec.env] platforms",
        )
    environments = [environment_marker(p) for p in lock.platforms]
    if data.get("environments") != environments:
        yield _diagnostic(
            "inconsistent-lock",
            "the environments do not match the locked platforms",
            ("environments",),
            repr(environments),
        )
    if data.get("requires-python") != f"=={python_minor(lock.python)}.*":
        yield _diagnostic(
            "inconsistent-lock",
            "requires-python does not match the locked Python",
            ("requires-python",),
            f'"=={python_minor(lock.python)}.*"',
        )
    builds = lock.variant_names
    if tuple(spec.torch.variants if spec.torch else ()) != builds:
        yield _diagnostic(
            "inconsistent-lock",
            f"the lock holds the builds {', '.join(builds) or 'none'}",
            (*tool, "variants"),
            "one [[tool.envspec.variants]] table per build of [tool.envspec.spec.torch] variants, in order",
        )
    if data.get("extras", []) != list(builds):
        yield _diagnostic(
            "inconsistent-lock",
            "the lock's extras are not its torch builds",
            ("extras",),
            repr(list(builds)),
        )
    if lock.env_id != recorded_id:
        yield _diagnostic(
            "edited-lock",
            f"the packages give environment {lock.env_id}, not the recorded {recorded_id}:"
            " the lock was edited by hand",
            (*tool, "env-id"),
            "a lock as `envspec lock` wrote it (re-lock instead of editing)",
        )


def _control_lines(text: str) -> Iterator[Diagnostic]:
    """Control characters anywhere in the text, comments included (a lock is embedded in scripts)."""
    for number, line in enumerate(text.split("\n"), start=1):
        bad = first_control(line.removesuffix("\r").replace("\t", " "))
        if bad is not None:
            yield Diagnostic(
                "control-character",
                Severity.ERROR,
                f"line {number} holds the control character {describe(bad)}",
                expected="text without line separators or other control characters, comments included",
                line=number,
            )


def parse_document(text: str, file: str) -> dict[str, Any]:
    """The TOML data of a lockfile, or :class:`LockFileError`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockFileError(f"{file}: not valid TOML: {exc}", hint="re-lock with `envspec lock`") from None
    except RecursionError:
        raise LockFileError(f"{file}: not valid TOML: nested too deeply") from None


def read_spec_hash(text: str) -> str | None:
    """Just the spec hash of a lockfile (the no-op check), or None when it is not a current envspec lock."""
    try:
        tool = tomllib.loads(text)["tool"]["envspec"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(tool, dict) or tool.get("format") != LOCK_FORMAT:
        return None
    value = tool.get("spec-hash")
    return value if isinstance(value, str) else None


def parse_lock(text: str, file: str) -> Lock:
    """Read and validate a lockfile; raise :class:`LockFileError` or :class:`InvalidLockError`."""
    data = parse_document(text, file)
    tool_root = data.get("tool")
    raw_tool = tool_root.get("envspec") if isinstance(tool_root, dict) else None
    if not isinstance(raw_tool, dict):
        raise LockFileError(
            f"{file}: not an envspec lock (no [tool.envspec] table)", hint="make it with `envspec lock`"
        )
    if raw_tool.get("format") != LOCK_FORMAT:
        raise LockFileError(
            f"{file}: lock format {raw_tool.get('format')!r} is not one this envspec reads ({LOCK_FORMAT})",
            hint="re-lock with this version of envspec",
        )
    problems = list(control_characters(data)) or list(_control_lines(text))
    try:
        Pylock.from_dict(data)
    except PylockValidationError as exc:
        problems.append(
            _diagnostic("invalid-pylock", exc.message, _context_path(exc.context), "a PEP 751 lock file")
        )
    packages = data.get("packages")
    extras = data.get("extras", [])
    builds = tuple(e for e in extras if isinstance(e, str)) if isinstance(extras, list) else ()
    for i, package in enumerate(packages if isinstance(packages, list) else []):
        if isinstance(package, Mapping):
            problems += package_problems(package, ("packages", i))
            problems += marker_problems(package, ("packages", i), builds)
    tool: _Tool | None = None
    try:
        tool = _Tool.model_validate(raw_tool)
    except ValidationError as exc:
        seen = {p.path for p in problems}
        for found in diagnostics_from_pydantic(exc.errors(include_url=False), _Tool):
            located = dataclasses.replace(found, path=("tool", "envspec", *found.path))
            if located.path not in seen:
                problems.append(located)
    _fail_if(problems, text, file)
    assert tool is not None  # noqa: S101 - no problems means the model validated
    lock = Lock(
        spec_hash=tool.spec_hash,
        name=tool.name,
        python=tool.python,
        platforms=tool.platforms,
        resolver=tool.resolver,
        resolver_version=tool.resolver_version,
        requirements=tool.requirements,
        constraints=tool.constraints,
        packages=tuple(package_from(p) for p in data["packages"]),
        spec=tool.spec,
        facts=tool.facts,
        variants=tool.variants,
    )
    _fail_if(list(_consistency(lock, data, tool.env_id)), text, file)
    return lock


def _fail_if(problems: list[Diagnostic], text: str, file: str) -> None:
    if not problems:
        return
    lines = key_lines(text)
    located = [p.located(file, p.line or line_of(lines, p.path)) for p in problems]
    raise InvalidLockError(file, sorted(located, key=lambda d: (d.line or 0, d.key)))


def read_lock_text(path: Path) -> str:
    """A lockfile's text, or :class:`LockFileError` saying why it cannot be read (never an OSError)."""
    data = read_limited(path, MAX_LOCK_BYTES, what="lockfile", missing_hint="`envspec lock SPEC` writes one")
    if len(data) > MAX_LOCK_BYTES:
        raise LockFileError(f"{path}: larger than {MAX_LOCK_BYTES >> 20} MiB; not a lockfile envspec wrote")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LockFileError(
            f"{path}:{line}: byte {exc.start} is not valid UTF-8", hint="a lockfile is UTF-8 TOML"
        ) from None


def read_lock(path: Path) -> tuple[Lock, str]:
    """Read and validate the lockfile at ``path``: the lock and the exact text it came from."""
    text = read_lock_text(path)
    return parse_lock(text, str(path)), text
