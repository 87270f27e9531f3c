"""The spec language: strict, frozen pydantic models of one envspec TOML file.

These models check shape and the syntax of each value. Rules that relate values to each other or to
the compatibility data (a CUDA build a driver cannot run, a torch without wheels for the Python) live
in :mod:`envspec.checks`, and advice about legal but harmful settings in :mod:`envspec.lint`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)
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


PLATFORMS = ("linux-x86_64", "linux-aarch64", "macos-arm64", "macos-x86_64", "windows-x86_64")
PROFILES = ("default", "debug", "research", "production")


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


def _pattern(regex: str, code: str, expected: str, hint: str | None = None) -> _Pattern:
    return _Pattern(regex, code, expected, hint)


Identifier = Annotated[
    StrictStr,
    _pattern(
        r"[a-z0-9][a-z0-9._-]{0,62}",
        "invalid-name",
        "a lowercase name of letters, digits, '.', '_' or '-' that starts with a letter or digit"
        " (at most 63 characters; it is used in paths and image tags)",
    ),
]
PythonVersion = Annotated[
    StrictStr,
    _pattern(r"3\.\d{1,2}(\.\d{1,3})?", "invalid-version", 'a Python version such as "3.11"'),
]
TorchVersion = Annotated[
    StrictStr,
    _pattern(
        r"\d+\.\d+\.\d+",
        "invalid-version",
        'a torch release such as "2.1.2"',
        hint="write the build (cpu, cu121, ...) in [torch] variant, not as a +local label",
    ),
]
CudaVersion = Annotated[
    StrictStr,
    _pattern(r"\d{2}\.\d{1,2}", "invalid-version", 'a CUDA major.minor version such as "12.1"'),
]
DriverVersion = Annotated[
    StrictStr,
    _pattern(r"\d{3}(\.\d{1,3}){0,2}", "invalid-version", 'an NVIDIA driver version such as "535.129.03"'),
]
Variant = Annotated[
    StrictStr,
    _pattern(r"cpu|cu\d{3,4}|rocm\d+(\.\d+)*", "invalid-variant", 'a torch build such as "cpu" or "cu121"'),
]
ENV_NAME_REGEX = r"[A-Za-z_][A-Za-z0-9_]*"
ENV_NAME_SCHEMA_PATTERN = f"^(?:{ENV_NAME_REGEX})$"
EnvVarName = Annotated[
    StrictStr,
    _pattern(
        ENV_NAME_REGEX,
        "invalid-env-name",
        "an environment variable name: letters, digits and '_', not starting with a digit",
    ),
]
AptPackage = Annotated[
    StrictStr,
    _pattern(
        r"[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?",
        "invalid-package",
        'a Debian package name, optionally with "=version" (e.g. "git" or "zsh=5.9-4")',
    ),
]
CondaPackage = Annotated[
    StrictStr,
    _pattern(
        r"([A-Za-z0-9_.-]+::)?[A-Za-z0-9_.-]+( ?[=<>!~]{0,2} ?[A-Za-z0-9_.*+,|<>=!]+)?",
        "invalid-package",
        'a conda match spec such as "cudatoolkit", "ffmpeg=6" or "conda-forge::libjpeg-turbo>=3"',
    ),
]
ImageRef = Annotated[
    StrictStr,
    _pattern(
        r"[a-z0-9][a-z0-9._/:@-]*",
        "invalid-image",
        'a container image reference such as "python:3.11-slim-bookworm"',
    ),
]
UserName = Annotated[
    StrictStr,
    _pattern(r"[a-z_][a-z0-9_-]{0,31}", "invalid-name", 'a POSIX user name such as "dev"'),
]
AbsolutePath = Annotated[
    StrictStr,
    _pattern(r"/[^\s\"'`$\\]*", "invalid-path", "an absolute path without spaces or quotes, e.g. /workspace"),
]
RelativeOrAbsolutePath = Annotated[
    StrictStr,
    _pattern(r"[^\s\"'`$\\]+", "invalid-path", 'a path without spaces or quotes, e.g. ".venv"'),
]


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


def _check_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    unsafe = any(ch in value for ch in " \"'`$\\<>{}|^")
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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class EnvSection(_Model):
    """[env]: what the environment is called and which Python it runs."""

    name: Identifier = Field(description="Name of the environment; used in paths and image tags.")
    python: PythonVersion = Field(description='Python version as a string, e.g. "3.11".')
    platforms: tuple[Literal[PLATFORMS], ...] = Field(  # type: ignore[valid-type]
        default=("linux-x86_64",),
        min_length=1,
        description="Platforms the environment must install on.",
    )
    profile: Literal[PROFILES] = Field(  # type: ignore[valid-type]
        default="default",
        description="What the environment is for; some lints depend on it (e.g. debug-only flags).",
    )
    description: StrictStr | None = Field(default=None, description="Free text for people.")


class CudaSection(_Model):
    """[cuda]: the CUDA the environment targets and the oldest driver on the fleet."""

    version: CudaVersion = Field(description='CUDA major.minor, e.g. "12.1".')
    driver: DriverVersion | None = Field(
        default=None, description='Oldest NVIDIA driver on the machines, e.g. "535.129.03".'
    )
    devel: StrictBool = Field(default=False, description="Whether nvcc and CUDA headers are needed.")


class TorchSection(_Model):
    """[torch]: the PyTorch release, its build and its companion packages."""

    version: TorchVersion = Field(description='torch release, e.g. "2.1.2".')
    variant: Variant | None = Field(
        default=None, description='Build: "cpu", "cu118", "cu121", ...; default from [cuda] (or cpu).'
    )
    with_: tuple[Literal["torchvision", "torchaudio"], ...] = Field(
        default=(), alias="with", description="Companion packages, pinned from the compatibility data."
    )
    index: Identifier | None = Field(
        default=None, description="Name of a declared mirror that serves the torch packages."
    )


class Mirror(_Model):
    """[[mirrors]]: one package index, tried in order."""

    name: Identifier = Field(description="Name of the mirror (used by [torch] index).")
    url: MirrorUrl | None = Field(
        default=None, description="Simple-index URL; leave out for the installer's default index."
    )
    trusted: StrictBool = Field(default=False, description="Allow plain http:// for this mirror.")
    packages: tuple[
        Annotated[
            StrictStr,
            _pattern(
                r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?",
                "invalid-package",
                'a project name such as "my-lib"',
            ),
        ],
        ...,
    ] = Field(
        default=(),
        description="Serve only these projects from this index (and nothing else from it).",
    )


class Network(_Model):
    """[network]: how patient installers are with mirrors."""

    timeout: Annotated[StrictFloat, Field(gt=0, le=3600)] = Field(
        default=15, description="Seconds to wait for a mirror before trying the next."
    )
    retries: Annotated[StrictInt, Field(ge=0, le=100)] = Field(
        default=5, description="Retries per mirror before failing over."
    )


class Packages(_Model):
    """[packages]: what to install beside torch."""

    python: tuple[PythonRequirement, ...] = Field(default=(), description="PEP 508 requirements.")
    system: tuple[AptPackage, ...] = Field(default=(), description="Debian/Ubuntu (apt) packages.")
    conda: tuple[CondaPackage, ...] = Field(default=(), description="conda packages (conda target).")
    pip_options: tuple[StrictStr, ...] = Field(
        default=(), description='Installer options such as "--only-binary=:all:".'
    )
    allow_builds: StrictBool = Field(
        default=False,
        description="Allow source distributions (built at install time) where no wheel fits the target.",
    )


class RuntimeTorch(_Model):
    """[runtime.torch]: code-only torch settings, applied by a start-up hook after torch is imported."""

    cudnn_benchmark: StrictBool | None = Field(default=None, description="torch.backends.cudnn.benchmark")
    deterministic: StrictBool | None = Field(
        default=None,
        description="torch.use_deterministic_algorithms and torch.backends.cudnn.deterministic",
    )
    float32_matmul_precision: Literal["highest", "high", "medium"] | None = Field(
        default=None, description="torch.set_float32_matmul_precision"
    )
    compile_mode: (
        Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None
    ) = Field(default=None, description="Default mode of torch.compile calls that give none.")
    num_threads: Annotated[StrictInt, Field(ge=1, le=4096)] | None = Field(
        default=None, description="torch.set_num_threads"
    )


class Runtime(_Model):
    """[runtime]: flags in effect in every target."""

    env: Mapping[EnvVarName, EnvValue] = Field(
        default_factory=dict,
        description="Environment variables set in every target.",
        json_schema_extra={
            "propertyNames": {"pattern": ENV_NAME_SCHEMA_PATTERN},
            "additionalProperties": {"type": ["string", "integer"]},
        },
    )
    torch: RuntimeTorch = Field(default_factory=RuntimeTorch)


class Dev(_Model):
    """[dev]: conveniences for interactive work, as the seed image had them."""

    shell: Literal["bash", "zsh", "fish"] | None = Field(default=None, description="Login shell.")
    shell_plugins: tuple[AptPackage, ...] = Field(
        default=(), description="Shell plugins (apt packages), e.g. zsh-autosuggestions."
    )
    tools: tuple[AptPackage, ...] = Field(default=(), description="Command-line tools (apt packages).")
    jupyter: JupyterSetting = Field(default=False, description="JupyterLab: true, false or a port.")
    jupyter_extensions: tuple[PythonRequirement, ...] = Field(
        default=(), description="JupyterLab extensions (Python packages)."
    )


class VenvTarget(_Model):
    prefix: RelativeOrAbsolutePath = Field(default=".venv", description="Where the venv is created.")


class CondaTarget(_Model):
    name: Identifier | None = Field(default=None, description="conda env name; default [env] name.")
    channels: tuple[
        Annotated[
            StrictStr,
            _pattern(
                r"[A-Za-z0-9_.:/-]+", "invalid-channel", 'a conda channel name or URL, e.g. "conda-forge"'
            ),
        ],
        ...,
    ] = Field(default=("conda-forge",), description="conda channels, in priority order.")


class DockerTarget(_Model):
    base_image: ImageRef | None = Field(
        default=None, description="Override the base image chosen from the compatibility data."
    )
    user: UserName = Field(default="dev", description="Non-root user the image runs as.")
    uid: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] = Field(default=1000, description="That user's uid.")
    workdir: AbsolutePath = Field(default="/workspace", description="Working directory of the image.")


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


class LockSettings(_Model):
    """[lock]: how ``envspec lock`` resolves."""

    exclude_newer: Annotated[datetime.datetime, BeforeValidator(_cutoff)] | None = Field(
        default=None,
        description="Ignore files uploaded after this time (a TOML date-time or date), so that a re-lock"
        " later gives the same pins.",
    )


class Targets(_Model):
    venv: VenvTarget = Field(default_factory=VenvTarget)
    conda: CondaTarget = Field(default_factory=CondaTarget)
    docker: DockerTarget = Field(default_factory=DockerTarget)


class Spec(_Model):
    """One envspec file."""

    model_config = ConfigDict(title="envspec spec")

    env: EnvSection
    cuda: CudaSection | None = None
    torch: TorchSection | None = None
    mirrors: tuple[Mirror, ...] = Field(
        default=(), description="Package indexes, tried in order; empty means the installer's default."
    )
    network: Network = Field(default_factory=Network)
    packages: Packages = Field(default_factory=Packages)
    runtime: Runtime = Field(default_factory=Runtime)
    dev: Dev = Field(default_factory=Dev)
    lock: LockSettings = Field(default_factory=LockSettings)
    targets: Targets = Field(default_factory=Targets)
