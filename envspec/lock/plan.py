"""Plan: a valid spec + the compatibility data -> exactly what to resolve, against which indexes (pure).

The plan is the only input of resolution besides the indexes themselves. It turns spec-level intent
(``[torch] version`` and ``variant``, ``with``, ``[dev] jupyter``, index scoping) into requirement
strings, constraints and a routing table from project name to index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from envspec.compat import Compat, cuda_of_variant
from envspec.errors import EnvspecError
from envspec.platforms import python_minor
from envspec.resolve_torch import effective_variant, spec_for_variant, variants_of, with_variant_urls
from envspec.spec import Spec

TORCH_PROJECTS = ("torch", "torchvision", "torchaudio")
PLAN_FORMAT = 1


class PlanError(EnvspecError):
    """A spec that validates but cannot be planned (the compatibility data lacks something it needs)."""


@dataclasses.dataclass(frozen=True, slots=True)
class IndexRef:
    """One index of the spec: a mirror's name and URL (None: the installer's default index)."""

    name: str
    url: str | None
    trusted: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class TorchPlan:
    version: str
    variant: str
    local: str | None  # the local version label the build carries on its index (``cu118``), if any
    cuda: str | None
    cudnn: str | None
    companions: Mapping[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class LockPlan:
    """What to lock: requirements, constraints, target, indexes and routing."""

    name: str
    python: str
    platforms: tuple[str, ...]
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    mirrors: tuple[IndexRef, ...]  # general mirrors, in failover order
    scoped: Mapping[NormalizedName, IndexRef]  # project -> the only index that may serve it
    allow_builds: bool
    prereleases: bool
    timeout: float
    retries: int
    torch: TorchPlan | None
    exclude_newer: str | None = None  # RFC 3339, UTC
    require_index_hashes: bool = False  # refuse trust on first download

    @property
    def python_minor(self) -> str:
        return python_minor(self.python)

    def index_for(self, project: str) -> IndexRef | None:
        """The scoped index of a project, or None when it comes from the general mirrors."""
        return self.scoped.get(canonicalize_name(project))

    def canonical(self) -> dict[str, object]:
        """A JSON-able form with a fixed order, for hashing."""
        return {
            "format": PLAN_FORMAT,
            "name": self.name,
            "python": self.python,
            "platforms": list(self.platforms),
            "requirements": list(self.requirements),
            "constraints": list(self.constraints),
            "mirrors": [dataclasses.asdict(m) for m in self.mirrors],
            "scoped": {k: dataclasses.asdict(v) for k, v in sorted(self.scoped.items())},
            "allow_builds": self.allow_builds,
            "prereleases": self.prereleases,
            "torch": dataclasses.asdict(self.torch) if self.torch else None,
            "exclude_newer": self.exclude_newer,
            "require_index_hashes": self.require_index_hashes,
        }


def _pin(name: str, version: str, local: str | None) -> str:
    return f"{name}=={version}+{local}" if local else f"{name}=={version}"


def _torch(spec: Spec, compat: Compat, *, label: bool = False) -> TorchPlan | None:
    if spec.torch is None:
        return None
    series = compat.torch_series(spec.torch.version)
    variant = effective_variant(spec)
    if series is None or variant is None:
        raise PlanError(f"torch {spec.torch.version} is not in the compatibility data")
    # On a PyTorch index every Linux build carries its label (2.1.2+cu118); macOS and Windows CPU
    # wheels carry none, so a spec with those platforms pins the plain version.
    local: str | None = None
    if spec.torch.index is not None and (label or variant != series.pypi_default or variant == "cpu"):
        local = variant
    if variant == "cpu" and any(not p.startswith("linux") for p in spec.env.platforms):
        local = None
    companions: dict[str, str] = {}
    for project in spec.torch.with_:
        version = getattr(compat.companions(spec.torch.version), project)
        if version is None:
            raise PlanError(f"there is no {project} release for torch {spec.torch.version}")
        companions[project] = version
    return TorchPlan(
        version=spec.torch.version,
        variant=variant,
        local=local,
        cuda=cuda_of_variant(variant),
        cudnn=series.cudnn if variant.startswith("cu") else None,
        companions=companions,
    )


def _requirements(spec: Spec, torch: TorchPlan | None) -> tuple[str, ...]:
    requirements: list[str] = []
    if torch is not None:
        requirements.append(_pin("torch", torch.version, torch.local))
        requirements.extend(
            _pin(project, version, torch.local) for project, version in torch.companions.items()
        )
    names = {canonicalize_name(Requirement(r).name) for r in requirements}
    for text in (*spec.packages.python, *spec.dev.jupyter_extensions):
        name = canonicalize_name(Requirement(text).name)
        if name not in names:
            requirements.append(text)
            names.add(name)
    if spec.dev.jupyter is not False and "jupyterlab" not in names:
        requirements.append("jupyterlab")
    return tuple(requirements)


def plan_lock(spec: Spec, compat: Compat, *, label: bool = False) -> LockPlan:
    """Derive the lock plan of a spec of one torch build that passed :func:`envspec.checks.check`.

    ``label``: pin the torch packages with the build's local label even where the index's plain
    version would do (one build of several: each must be told apart on any index).
    """
    variant = effective_variant(spec)
    if variant is not None:
        spec = with_variant_urls(spec, variant)
    torch = _torch(spec, compat, label=label)
    series = compat.torch_series(spec.torch.version) if spec.torch else None
    refs = {m.name: IndexRef(m.name, m.url, m.trusted) for m in spec.mirrors}
    torch_index = spec.torch.index if spec.torch else None
    scoped: dict[NormalizedName, IndexRef] = {}
    if torch_index is not None:
        scoped.update({canonicalize_name(p): refs[torch_index] for p in TORCH_PROJECTS})
    for mirror in spec.mirrors:
        scoped.update({canonicalize_name(p): refs[mirror.name] for p in mirror.packages})
    general = tuple(refs[m.name] for m in spec.mirrors if not m.packages and m.name != torch_index)
    options = set(spec.packages.pip_options)
    return LockPlan(
        name=spec.env.name,
        python=spec.env.python,
        platforms=spec.env.platforms,
        requirements=_requirements(spec, torch),
        constraints=tuple(series.constraints) if series else (),
        mirrors=general or (IndexRef("default", None),),
        scoped=scoped,
        allow_builds=spec.packages.allow_builds and not any(o.startswith("--only-binary") for o in options),
        prereleases="--pre" in options,
        timeout=spec.network.timeout,
        retries=spec.network.retries,
        torch=torch,
        exclude_newer=(
            spec.lock.exclude_newer.isoformat().replace("+00:00", "Z") if spec.lock.exclude_newer else None
        ),
        require_index_hashes=spec.lock.require_index_hashes,
    )


def lock_plans(spec: Spec, compat: Compat) -> tuple[LockPlan, ...]:
    """One plan per torch build of the spec, in its order of preference (one plan for most specs)."""
    variants = variants_of(spec)
    if not variants:
        return (plan_lock(spec, compat),)
    return tuple(plan_lock(spec_for_variant(spec, v), compat, label=True) for v in variants)


def spec_hash(spec: Spec, plans: LockPlan | tuple[LockPlan, ...]) -> str:
    """The canonical hash of what a lock is made from, as ``sha256:<hex>``.

    It changes when anything in the spec changes (every field, defaults included, in canonical JSON:
    sorted keys, no whitespace), when the plan derived from it changes (a compatibility-data update
    that moves a companion version or a constraint), or when the plan format changes. It does not
    change with comments, key order, or formatting of the spec file, nor with the index contents.
    """
    if isinstance(plans, LockPlan):
        plans = (plans,)
    document = {
        "spec": spec.model_dump(mode="json", by_alias=True),
        # one plan as before builds came in several, so that such a spec's hash has not changed
        "plan": plans[0].canonical()
        if len(plans) == 1 and not variants_of(spec)
        else [p.canonical() for p in plans],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
