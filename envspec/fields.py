"""The value types of the spec language: each a string shape with a code and an explanation.

A field type is ``Annotated[StrictStr, pattern(...)]`` (or a small validator function): it accepts
one shape of value and, for anything else, raises an error whose code, *expected* text and hint tell
the user what to write instead. The models in :mod:`envspec.spec` (and the lock's in
:mod:`envspec.lock.model`) are built from these types.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import urllib.parse
from typing import Annotated, Any

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import AfterValidator, BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, StrictStr
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema


def show(value: object) -> str:
    """Render a value the way it would be written in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return repr(value)


@dataclasses.dataclass(frozen=True, slots=True)
class _Pattern:
    """Annotated metadata: the whole string must match ``regex``; errors name what was expected.

    Unlike ``Field(pattern=...)`` it gives each mistake a code and an explanation, and it still
    publishes the regex in the JSON Schema so that editors flag the same mistakes.
    """

    regex: str
    code: str
    expected: str
    hint: str | None = None

    def check(self, value: str) -> str:
        if not re.fullmatch(self.regex, value):
            ctx: dict[str, Any] = {"expected": self.expected, "shown": show(value)}
            if self.hint:
                ctx["hint"] = self.hint
            raise PydanticCustomError(self.code, "{shown} is not valid", ctx)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        result = handler(schema)
        result["pattern"] = f"^(?:{self.regex})$"
        return result


def pattern(regex: str, code: str, expected: str, hint: str | None = None) -> _Pattern:
    """Metadata for ``Annotated[StrictStr, ...]``: the whole value must match ``regex``."""
    return _Pattern(regex, code, expected, hint)


# -- names and versions --------------------------------------------------------------------------

Identifier = Annotated[
    StrictStr,
    pattern(
        r"[a-z0-9][a-z0-9._-]{0,62}",
        "invalid-name",
        "a lowercase name of letters, digits, '.', '_' or '-' that starts with a letter or digit"
        " (at most 63 characters; it is used in paths and image tags)",
    ),
]
PythonVersion = Annotated[
    StrictStr,
    pattern(r"3\.\d{1,2}(\.\d{1,3})?", "invalid-version", 'a Python version such as "3.11"'),
]
TorchVersion = Annotated[
    StrictStr,
    pattern(
        r"\d+\.\d+\.\d+",
        "invalid-version",
        'a torch release such as "2.1.2"',
        hint="write the build (cpu, cu121, ...) in [torch] variant, not as a +local label",
    ),
]
CudaVersion = Annotated[
    StrictStr,
    pattern(r"\d{2}\.\d{1,2}", "invalid-version", 'a CUDA major.minor version such as "12.1"'),
]
DriverVersion = Annotated[
    StrictStr,
    pattern(r"\d{3}(\.\d{1,3}){0,2}", "invalid-version", 'an NVIDIA driver version such as "535.129.03"'),
]
ComputeCapability = Annotated[
    StrictStr,
    pattern(
        r"[1-9]\d?\.\d",
        "invalid-capability",
        'a GPU compute capability such as "8.6" (nvidia-smi --query-gpu=compute_cap)',
    ),
]
Variant = Annotated[
    StrictStr,
    pattern(r"cpu|cu\d{3,4}|rocm\d+(\.\d+)*", "invalid-variant", 'a torch build such as "cpu" or "cu121"'),
]
ENV_NAME_REGEX = r"[A-Za-z_][A-Za-z0-9_]*"
ENV_NAME_SCHEMA_PATTERN = f"^(?:{ENV_NAME_REGEX})$"
EnvVarName = Annotated[
    StrictStr,
    pattern(
        ENV_NAME_REGEX,
        "invalid-env-name",
        "an environment variable name: letters, digits and '_', not starting with a digit",
    ),
]
UserName = Annotated[
    StrictStr,
    pattern(r"[a-z_][a-z0-9_-]{0,31}", "invalid-name", 'a POSIX user name such as "dev"'),
]

# -- packages, channels, images ------------------------------------------------------------------

ProjectName = Annotated[
    StrictStr,
    pattern(
        r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", "invalid-package", 'a project name such as "my-lib"'
    ),
]
AptPackage = Annotated[
    StrictStr,
    pattern(
        r"[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?",
        "invalid-package",
        'a Debian package name, optionally with "=version" (e.g. "git" or "zsh=5.9-4")',
    ),
]
CondaPackage = Annotated[
    StrictStr,
    pattern(
        r"([A-Za-z0-9_.-]+::)?[A-Za-z0-9_.-]+( ?[=<>!~]{0,2} ?[A-Za-z0-9_.*+,|<>=!]+)?",
        "invalid-package",
        'a conda match spec such as "cudatoolkit", "ffmpeg=6" or "conda-forge::libjpeg-turbo>=3"',
    ),
]
CondaChannel = Annotated[
    StrictStr,
    pattern(r"[A-Za-z0-9_.:/-]+", "invalid-channel", 'a conda channel name or URL, e.g. "conda-forge"'),
]
ImageRef = Annotated[
    StrictStr,
    pattern(
        r"[a-z0-9][a-z0-9._/:@-]*",
        "invalid-image",
        'a container image reference such as "python:3.11-slim-bookworm"',
    ),
]

# -- paths -----------------------------------------------------------------------------------------
# Paths reach shell scripts and the RUN and WORKDIR lines of a Dockerfile, unquoted in places, so a
# path may hold only characters no shell or Dockerfile gives a meaning to. An absolute path may not
# climb out of where it names (no ".." segment); a venv prefix may ("../envs/x" is a fair place).

_SEGMENT = r"[A-Za-z0-9._+@%=:,-]+"
_NOT_PARENT = r"(?!\.\.(?:/|$))"
_ALLOWED = "letters, digits and the characters . _ - / + @ % = : ,"
_REFUSED = "spaces, quotes and shell characters such as ; & | > < $ * ? ~ are refused"
_ABSOLUTE_PATH = rf"/|(?:/{_NOT_PARENT}{_SEGMENT})+/?"
_RELATIVE_OR_ABSOLUTE_PATH = rf"/?(?!-){_SEGMENT}(?:/{_SEGMENT})*/?"

AbsolutePath = Annotated[
    StrictStr,
    pattern(
        _ABSOLUTE_PATH,
        "invalid-path",
        f'an absolute path made of {_ALLOWED} (no ".." segment, no "//"), e.g. /workspace',
        hint=f"{_REFUSED}: the path is written into the Dockerfile's RUN and WORKDIR lines",
    ),
]
RelativeOrAbsolutePath = Annotated[
    StrictStr,
    pattern(
        _RELATIVE_OR_ABSOLUTE_PATH,
        "invalid-path",
        f'a relative or absolute path made of {_ALLOWED} (no "//", not starting with "-"),'
        ' e.g. ".venv" or "../envs/x"',
        hint=f"{_REFUSED}: the path is written into shell scripts",
    ),
]

# -- values with their own validators ----------------------------------------------------------


def _check_requirement(value: str) -> str:
    try:
        Requirement(value)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        raise PydanticCustomError(
            "invalid-requirement",
            "{shown} is not a PEP 508 requirement: {reason}",
            {
                "shown": show(value),
                "reason": first,
                "expected": 'a PEP 508 requirement such as "numpy>=1.26,<2" or "jupyterlab[all]"',
            },
        ) from None
    return value


PythonRequirement = Annotated[StrictStr, AfterValidator(_check_requirement)]


VARIANT_PLACEHOLDER = "{variant}"


def _check_url(value: str) -> str:
    # ``{variant}`` stands for a torch build's name (``https://host/whl/{variant}``): the one
    # placeholder a mirror URL may hold; envspec substitutes it before any request
    plain = value.replace(VARIANT_PLACEHOLDER, "cpu")
    parsed = urllib.parse.urlsplit(plain)
    unsafe = any(ch in plain for ch in " \"'`$\\<>{}|^")
    if parsed.scheme not in ("https", "http") or not parsed.netloc or unsafe:
        raise PydanticCustomError(
            "invalid-url",
            "{shown} is not a plain http(s) URL",
            {
                "shown": show(value),
                "expected": "an https:// URL of a PEP 503/691 simple index"
                " (http:// only with trusted = true)",
                "hint": "leave url out to mean the installer's default index",
            },
        )
    return value


MirrorUrl = Annotated[StrictStr, AfterValidator(_check_url)]


def _env_value(value: object) -> str:
    """Environment values are strings; integers are accepted and written as decimal text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError(
            "wrong-type",
            "{shown} is not text",
            {"expected": 'a string (or an integer), e.g. "1" or 8', "shown": show(value)},
        )
    return str(value)


EnvValue = Annotated[str, BeforeValidator(_env_value)]


def _jupyter(value: object) -> bool | int:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and 1 <= value <= 65535:
        return value
    raise PydanticCustomError(
        "wrong-type",
        "{shown} is not true, false or a port number",
        {"expected": "true, false, or a TCP port from 1 to 65535 (e.g. 8888)", "shown": show(value)},
    )


JupyterSetting = Annotated[bool | int, BeforeValidator(_jupyter)]


def _cutoff(value: object) -> object:
    """A TOML date-time or date (or RFC 3339 text) -> an aware UTC datetime."""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PydanticCustomError(
                "invalid-date",
                "{shown} is not a date-time",
                {"shown": show(value), "expected": "an RFC 3339 date-time such as 2025-06-01T00:00:00Z"},
            ) from None
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value.astimezone(datetime.UTC)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
    return value


Cutoff = Annotated[datetime.datetime, BeforeValidator(_cutoff)]
