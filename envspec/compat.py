"""The compatibility knowledge base: typed access to ``envspec/data/compat.toml``.

The data is loaded once, validated by strict models, and answered through small pure queries. Code
never carries version tables of its own: a new torch release is an edit of the data file (or a run of
``python -m tools.compat_refresh`` in a source checkout), not of this module.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from packaging.version import Version
from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Companions(_Data):
    torchvision: str | None = None
    torchaudio: str | None = None


Capability = Annotated[str, StringConstraints(pattern=r"^\d{1,2}\.\d$")]


class ArchBounds(_Data):
    """The compute capabilities a build's Linux x86_64 wheels carry kernels (SASS) for: the lowest
    and the highest, as ``"7.5"``; None where no source confirms the bound (unknown, not guessed)."""

    min: Capability | None = None
    max: Capability | None = None


class TorchSeries(_Data):
    python: tuple[str, ...]
    variants: tuple[str, ...]
    experimental: tuple[str, ...] = ()
    pypi_default: str
    cudnn: str
    manylinux: str
    platforms: tuple[str, ...]
    cuda_platforms: tuple[str, ...]
    constraints: tuple[str, ...] = ()
    releases: Mapping[str, Companions]
    arch: Mapping[str, ArchBounds] = Field(default_factory=dict)  # CUDA build -> kernels it carries


class CudaFamily(_Data):
    min_driver: str


class CudaImages(_Data):
    base: str
    runtime: str
    devel: str
    cudnn_devel: str


class CudaRelease(_Data):
    toolkit: str
    images: CudaImages


class CudaData(_Data):
    families: Mapping[str, CudaFamily]
    versions: Mapping[str, CudaRelease]


class PythonData(_Data):
    known: tuple[str, ...]
    images: Mapping[str, str]


class Compat(_Data):
    """The whole compatibility data file."""

    format: int = Field(ge=1, le=1)
    python: PythonData
    cuda: CudaData
    torch: Mapping[str, TorchSeries]

    # -- torch ---------------------------------------------------------------
    def torch_releases(self) -> list[str]:
        """Every known torch release, oldest first."""
        found = [release for series in self.torch.values() for release in series.releases]
        return sorted(found, key=Version)

    def torch_series(self, release: str) -> TorchSeries | None:
        """The series a release belongs to, or None when the release is unknown."""
        version = Version(release)
        series = self.torch.get(f"{version.major}.{version.minor}")
        if series is None or release not in series.releases:
            return None
        return series

    def companions(self, release: str) -> Companions:
        series = self.torch_series(release)
        return series.releases[release] if series else Companions()

    # -- CUDA ----------------------------------------------------------------
    def cuda_versions(self) -> list[str]:
        return sorted(self.cuda.versions, key=Version)

    def min_driver(self, cuda_version: str) -> str | None:
        family = self.cuda.families.get(cuda_version.split(".", 1)[0])
        return family.min_driver if family else None

    def arch_bounds(self, release: str, variant: str) -> ArchBounds:
        """The compute capabilities a CUDA build of a release has kernels for (empty when unknown)."""
        series = self.torch_series(release)
        return series.arch.get(variant, ArchBounds()) if series else ArchBounds()


def variant_for_cuda(cuda_version: str) -> str:
    """The torch build label for a CUDA version: ``"12.1"`` -> ``"cu121"``."""
    major, minor = cuda_version.split(".")[:2]
    return f"cu{major}{minor}"


def cuda_of_variant(variant: str) -> str | None:
    """The CUDA version of a torch build label: ``"cu121"`` -> ``"12.1"``; None for cpu/rocm."""
    if not variant.startswith("cu") or not variant[2:].isdigit():
        return None
    digits = variant[2:]
    return f"{digits[:2]}.{digits[2:]}" if len(digits) >= 3 else None


def capability_tuple(capability: str) -> tuple[int, int]:
    """A compute capability as numbers: ``"8.6"`` -> ``(8, 6)``."""
    major, minor = capability.split(".")
    return int(major), int(minor)


def driver_tuple(driver: str) -> tuple[int, ...]:
    """Compare driver versions numerically: ``"535.129.03"`` -> ``(535, 129, 3)``."""
    return tuple(int(part) for part in driver.split("."))


def parse_compat(text: str) -> Compat:
    return Compat.model_validate(tomllib.loads(text))


@functools.cache
def load_compat() -> Compat:
    """The compatibility data shipped with envspec (read once per process)."""
    # beside this module: pip installs envspec as files (importlib.resources would cost 4 ms more)
    text = (Path(__file__).parent / "data" / "compat.toml").read_text(encoding="utf-8")
    return parse_compat(text)
