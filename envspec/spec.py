"""The spec language: strict, frozen pydantic models of one envspec TOML file.

These models check shape; the syntax of each value is its field type's, in :mod:`envspec.fields`.
Rules that relate values to each other or to the compatibility data (a CUDA build a driver cannot
run, a torch without wheels for the Python) live in :mod:`envspec.checks`, and advice about legal but
harmful settings in :mod:`envspec.lint`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_serializer,
)

from envspec.fields import (
    ENV_NAME_REGEX,
    ENV_NAME_SCHEMA_PATTERN,
    AbsolutePath,
    AptPackage,
    ComputeCapability,
    CondaChannel,
    CondaPackage,
    CudaVersion,
    Cutoff,
    DriverVersion,
    EnvValue,
    EnvVarName,
    Identifier,
    ImageRef,
    JupyterSetting,
    MirrorUrl,
    ProjectName,
    PythonRequirement,
    PythonVersion,
    RelativeOrAbsolutePath,
    TorchVersion,
    UserName,
    Variant,
    pattern,
    show,
)
from envspec.platforms import PLATFORMS, Platform

# The models, and (re-exported) the field types they are built from and the platform names, so that
# a module that reads specs can import everything from here.
__all__ = [
    "ENV_NAME_REGEX",
    "ENV_NAME_SCHEMA_PATTERN",
    "PLATFORMS",
    "PROFILES",
    "AbsolutePath",
    "AptPackage",
    "CondaChannel",
    "CondaPackage",
    "CondaTarget",
    "CudaSection",
    "CudaVersion",
    "Cutoff",
    "Dev",
    "DockerTarget",
    "DriverVersion",
    "EnvSection",
    "EnvValue",
    "EnvVarName",
    "Identifier",
    "ImageRef",
    "JupyterSetting",
    "LockSettings",
    "Mirror",
    "MirrorUrl",
    "Network",
    "Packages",
    "Platform",
    "Profile",
    "ProjectName",
    "PythonRequirement",
    "PythonVersion",
    "RelativeOrAbsolutePath",
    "Runtime",
    "RuntimeTorch",
    "Spec",
    "Targets",
    "TorchSection",
    "TorchVersion",
    "UserName",
    "Variant",
    "VenvTarget",
    "pattern",
    "show",
]

Profile = Literal["default", "debug", "research", "production"]
PROFILES: tuple[Profile, ...] = get_args(Profile)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class EnvSection(_Model):
    """[env]: what the environment is called and which Python it runs."""

    name: Identifier = Field(description="Name of the environment; used in paths and image tags.")
    python: PythonVersion = Field(description='Python version as a string, e.g. "3.11".')
    platforms: tuple[Platform, ...] = Field(
        default=("linux-x86_64",),
        min_length=1,
        description="Platforms the environment must install on.",
    )
    profile: Profile = Field(
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
    gpus: tuple[ComputeCapability, ...] = Field(
        default=(),
        description='Compute capabilities of the fleet\'s GPUs, e.g. ["7.0", "8.6"]: checked against the'
        " kernels the torch build carries.",
    )

    @model_serializer(mode="wrap")
    def _without_empty_gpus(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """``gpus`` only when given: a spec written before the field existed keeps its hash."""
        data: dict[str, object] = handler(self)
        if not self.gpus:
            data.pop("gpus", None)
        return data


class TorchSection(_Model):
    """[torch]: the PyTorch release, its build and its companion packages."""

    version: TorchVersion = Field(description='torch release, e.g. "2.1.2".')
    variant: Variant | None = Field(
        default=None, description='Build: "cpu", "cu118", "cu121", ...; default from [cuda] (or cpu).'
    )
    variants: tuple[Variant, ...] = Field(
        default=(),
        description='Several builds locked together, in order of preference, e.g. ["cu124", "cu121",'
        ' "cpu"]: each machine installs the first one it can run. Instead of variant.',
    )
    with_: tuple[Literal["torchvision", "torchaudio"], ...] = Field(
        default=(), alias="with", description="Companion packages, pinned from the compatibility data."
    )
    index: Identifier | None = Field(
        default=None, description="Name of a declared mirror that serves the torch packages."
    )

    @model_serializer(mode="wrap")
    def _without_empty_variants(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """``variants`` only when given: a spec written before the field existed keeps its hash."""
        data: dict[str, object] = handler(self)
        if not self.variants:
            data.pop("variants", None)
        return data


class Mirror(_Model):
    """[[mirrors]]: one package index, tried in order."""

    name: Identifier = Field(description="Name of the mirror (used by [torch] index).")
    url: MirrorUrl | None = Field(
        default=None, description="Simple-index URL; leave out for the installer's default index."
    )
    trusted: StrictBool = Field(default=False, description="Allow plain http:// for this mirror.")
    packages: tuple[ProjectName, ...] = Field(
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
    channels: tuple[CondaChannel, ...] = Field(
        default=("conda-forge",), description="conda channels, in priority order."
    )


class DockerTarget(_Model):
    base_image: ImageRef | None = Field(
        default=None, description="Override the base image chosen from the compatibility data."
    )
    user: UserName = Field(default="dev", description="Non-root user the image runs as.")
    uid: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] = Field(default=1000, description="That user's uid.")
    workdir: AbsolutePath = Field(default="/workspace", description="Working directory of the image.")


class LockSettings(_Model):
    """[lock]: how ``envspec lock`` resolves."""

    exclude_newer: Cutoff | None = Field(
        default=None,
        description="Ignore files uploaded after this time (a TOML date-time or date), so that a re-lock"
        " later gives the same pins.",
    )
    require_index_hashes: StrictBool = Field(
        default=False,
        description="Refuse a file whose sha256 no in-scope index publishes (trust on first download);"
        " by default such a file is hashed as downloaded, cross-checked, and named in a warning.",
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
