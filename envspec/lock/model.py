"""The lock as a value: typed, immutable, and the only thing emitters, ``verify`` and ``diff`` read.

A :class:`Lock` holds the PEP 751 part (packages and their files) as frozen dataclasses and the
``[tool.envspec]`` part as the same strict pydantic models that validate a spec (:class:`Spec`) plus
:class:`Facts`, so a value read back from a file is exactly as trustworthy as one just built.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from envspec.fields import ComputeCapability
from envspec.platforms import python_minor
from envspec.spec import CudaVersion, DriverVersion, ImageRef, Spec, TorchVersion, Variant, pattern

LOCK_FORMAT = 1
Companion = Literal["torchvision", "torchaudio"]
COMPANIONS: tuple[Companion, ...] = ("torchvision", "torchaudio")

ReleaseVersion = Annotated[
    StrictStr,
    pattern(r"\d+(\.\d+)*", "invalid-version", 'a release number such as "0.16.2" or "8.9.2.26"'),
]


HashFrom = Literal["index", "cross-checked", "first-download"]
"""Who vouches for a file's sha256 in the lock:

- ``index``: the index that served the file published it on its project page.
- ``cross-checked``: that index published none; envspec hashed the download, and every other in-scope
  index that publishes a hash for the same file name published this one (at least one did).
- ``first-download``: no in-scope index publishes a hash; the sha256 is that of the bytes envspec
  downloaded when it locked (trust on first download). ``[lock] require_index_hashes`` refuses it.
"""
HASH_FROM: tuple[HashFrom, ...] = ("index", "cross-checked", "first-download")


@dataclasses.dataclass(frozen=True, slots=True)
class Artifact:
    """One file of a locked release, identified by name, size and sha256 (any mirror may serve it)."""

    name: str
    url: str
    size: int
    sha256: str
    upload_time: str | None = None  # RFC 3339, UTC, as the index gave it
    hash_from: HashFrom | None = None  # None: a lock written before envspec recorded it


@dataclasses.dataclass(frozen=True, slots=True)
class LockedPackage:
    name: str
    version: str
    index_name: str  # the spec's name of the index that served it
    index_url: str
    wheels: tuple[Artifact, ...]
    sdist: Artifact | None = None
    marker: str | None = None  # the resolver's environment marker (platforms, Python), if any
    # the torch builds this entry belongs to, in the spec's order; empty: every build (and every
    # lock of one build). The lockfile writes them into the marker as ``'cu121' in extras``.
    variants: tuple[str, ...] = ()
    # PEP 825: the index's ``{name}-{version}-variants.json`` for this release, where it serves one
    variants_json: Artifact | None = None

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        return (*self.wheels, *((self.sdist,) if self.sdist else ()))


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)


class TorchFacts(_Facts):
    """The torch build the lock pins: its release, build label and what it brings."""

    version: TorchVersion
    variant: Variant
    local: Variant | None = None  # the +local label its index gives the build, if any
    cuda: CudaVersion | None = None
    cudnn: ReleaseVersion | None = None
    companions: Mapping[Companion, ReleaseVersion] = Field(default_factory=dict)
    # the lowest and highest GPU compute capability the build's kernels cover (compatibility data;
    # None where it does not know), checked by bootstrap.sh before anything is downloaded
    arch_min: ComputeCapability | None = Field(default=None, alias="arch-min")
    arch_max: ComputeCapability | None = Field(default=None, alias="arch-max")


class CudaFacts(_Facts):
    """The CUDA the spec targets, the driver floor its torch build needs, and the matching images."""

    version: CudaVersion
    driver: DriverVersion | None = None
    min_driver: DriverVersion | None = Field(default=None, alias="min-driver")
    devel: StrictBool = False
    devel_image: ImageRef | None = Field(default=None, alias="devel-image")
    runtime_image: ImageRef | None = Field(default=None, alias="runtime-image")


class BuildFacts(_Facts):
    """One torch build of a lock of several: its name and what it needs of a machine."""

    name: Variant
    # the oldest NVIDIA driver the build's CUDA runs on (None: a CPU build), checked at install
    min_driver: DriverVersion | None = Field(default=None, alias="min-driver")
    torch: TorchFacts
    cuda: CudaFacts | None = None


class Facts(_Facts):
    """What envspec derived from the spec and the compatibility data when it locked."""

    python_image: ImageRef | None = Field(default=None, alias="python-image")
    torch: TorchFacts | None = None
    cuda: CudaFacts | None = None

    @property
    def has_cuda(self) -> bool:
        """Whether the environment runs CUDA code (a [cuda] table or a CUDA torch build)."""
        return self.cuda is not None or (self.torch is not None and self.torch.cuda is not None)


@dataclasses.dataclass(frozen=True, slots=True)
class Lock:
    """Everything a lockfile says; emitters read only this."""

    spec_hash: str
    name: str
    python: str
    platforms: tuple[str, ...]
    resolver: str
    resolver_version: str
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    packages: tuple[LockedPackage, ...]
    spec: Spec  # the spec the lock was made from, so that emitting never reads the spec file
    facts: Facts  # a lock of several builds: only what they share (the builds' own are in ``variants``)
    # a lock of several torch builds: each build's facts, in the spec's order of preference
    variants: tuple[BuildFacts, ...] = ()
    variant: str | None = None  # a view made by :meth:`select`: the build it holds

    @property
    def env_id(self) -> str:
        return environment_id(self.spec_hash, self.name, self.packages)

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.variants)

    def select(self, name: str) -> Lock:
        """The lock as one of its builds' machines install it: that build's packages and facts.

        The view's environment id is that of the environment the build gives, which is what an
        environment built from this lock records. Raises KeyError for a build the lock does not hold.
        """
        from envspec.resolve_torch import spec_for_variant  # with the compatibility data: only here

        build = next((b for b in self.variants if b.name == name), None)
        if build is None:
            raise KeyError(name)
        return dataclasses.replace(
            self,
            packages=tuple(
                dataclasses.replace(p, variants=())
                for p in self.packages
                if not p.variants or name in p.variants
            ),
            spec=spec_for_variant(self.spec, name),
            facts=self.facts.model_copy(update={"torch": build.torch, "cuda": build.cuda}),
            variants=(),
            variant=name,
        )

    def restrict(self, names: Sequence[str]) -> Lock:
        """The lock with only the builds ``names`` (kept in the lock's order) and their packages: what
        a pack or a mirror for some of a lab's machines carries. KeyError for a build it lacks."""
        missing = [n for n in names if n not in self.variant_names]
        if missing:
            raise KeyError(missing[0])
        kept = [p for p in self.packages if not p.variants or any(v in names for v in p.variants)]
        return dataclasses.replace(
            self,
            packages=tuple(
                dataclasses.replace(p, variants=tuple(v for v in p.variants if v in names)) for p in kept
            ),
            variants=tuple(b for b in self.variants if b.name in names),
        )

    def builds(self) -> tuple[Lock, ...]:
        """Each build's view (:meth:`select`) in order; a lock of one build is its own only view."""
        return tuple(self.select(n) for n in self.variant_names) if self.variants else (self,)

    @property
    def python_minor(self) -> str:
        return python_minor(self.python)


def environment_id(spec_hash: str, name: str, packages: Sequence[LockedPackage]) -> str:
    """The environment's "store path": ``<32 hex digits>-<name>``.

    The digits are a sha256 over the spec hash and every pinned file (name, version, marker, file
    name, size, sha256). Two locks share an id when they were made from the same spec (same spec hash,
    so the same runtime flags and targets too) and pin the same files; a lock whose packages were
    edited by hand no longer matches the id it carries.
    """
    digest = hashlib.sha256(spec_hash.encode())
    for package in sorted(packages, key=lambda p: (p.name, p.marker or "", p.variants)):
        builds = f";{','.join(package.variants)}" if package.variants else ""
        digest.update(f"\n{package.name}=={package.version};{package.marker or ''}{builds}".encode())
        # files in the order the lockfile lists them: wheels by name, then the sdist
        for artifact in (
            *sorted(package.wheels, key=lambda a: a.name),
            *package.artifacts[len(package.wheels) :],
        ):
            digest.update(f"\n  {artifact.name} {artifact.size} {artifact.sha256}".encode())
        if package.variants_json is not None:
            meta = package.variants_json
            digest.update(f"\n  variants-json {meta.name} {meta.size} {meta.sha256}".encode())
    return f"{digest.hexdigest()[:32]}-{name}"
