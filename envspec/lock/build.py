"""Lock: spec -> plan -> resolution through the loopback router -> hashed artifacts -> :class:`Lock`.

The orchestration of one ``envspec lock``: the only place where the plan, the mirrors, the router and
a resolver backend meet. Hashes come from the indexes' pages; a file is downloaded only when its
index gives no hash.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import cast

from packaging.utils import canonicalize_name

from envspec.cache import cache_dir
from envspec.compat import Compat
from envspec.errors import EnvspecError
from envspec.load import LoadedSpec
from envspec.lock.artifacts import NoArtifactError, choose_files, marker_platforms
from envspec.lock.diskcache import DiskCache
from envspec.lock.index import IndexClient, ProjectPage
from envspec.lock.installers import default_index_url
from envspec.lock.model import (
    COMPANIONS,
    Artifact,
    BuildFacts,
    CudaFacts,
    Facts,
    HashFrom,
    Lock,
    LockedPackage,
    TorchFacts,
)
from envspec.lock.plan import IndexRef, LockPlan, lock_plans, spec_hash
from envspec.lock.resolvers import Pin, ResolutionError, Resolver, ResolveRequest, choose, trusted_hosts
from envspec.lock.router import router_url, serve
from envspec.lock.simple import IndexFile
from envspec.lock.trust import UntrustedHashError, Verifier, cross_check
from envspec.resolve_torch import spec_for_variant
from envspec.spec import Spec

Progress = Callable[[str], None]


class ArtifactError(EnvspecError):
    """A pinned release has no file the target can install."""


@dataclasses.dataclass(frozen=True, slots=True)
class LockOptions:
    resolver: str = "auto"
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    cache_dir: Path | None = None  # None: envspec.cache.cache_dir()'s choice
    no_cache: bool = False


def _quiet(_message: str) -> None:
    return


def _kernel_range(compat: Compat, torch: str, variant: str) -> dict[str, str]:
    """``arch-min``/``arch-max`` of a CUDA build, where the compatibility data knows both."""
    bounds = compat.arch_bounds(torch, variant)
    if not variant.startswith("cu") or bounds.min is None or bounds.max is None:
        return {}
    return {"arch_min": bounds.min, "arch_max": bounds.max}


def facts_of(loaded: LoadedSpec | Spec, plan: LockPlan, compat: Compat) -> Facts:
    """Derived facts the emitters need: the torch build, CUDA floors, base images."""
    spec = loaded.spec if isinstance(loaded, LoadedSpec) else loaded
    torch = None
    if plan.torch is not None:
        torch = TorchFacts(
            version=plan.torch.version,
            variant=plan.torch.variant,
            local=plan.torch.local,
            cuda=plan.torch.cuda,
            cudnn=plan.torch.cudnn,
            companions={k: v for k, v in plan.torch.companions.items() if k in COMPANIONS},
            **_kernel_range(compat, plan.torch.version, plan.torch.variant),
        )
    cuda = None
    if spec.cuda is not None:
        release = compat.cuda.versions.get(spec.cuda.version)
        cuda = CudaFacts(
            version=spec.cuda.version,
            driver=spec.cuda.driver,
            min_driver=compat.min_driver(
                plan.torch.cuda if plan.torch and plan.torch.cuda else spec.cuda.version
            ),
            devel=spec.cuda.devel,
            devel_image=release.images.cudnn_devel if release else None,
            runtime_image=release.images.runtime if release else None,
        )
    return Facts(python_image=compat.python.images.get(plan.python_minor), torch=torch, cuda=cuda)


def _artifact(verifier: Verifier, plan: LockPlan, page: ProjectPage, file: IndexFile) -> Artifact:
    """A chosen file as the lock records it: the serving index's hash, or a judged download's."""
    sha256, size, hash_from = file.sha256, file.size, "index"
    if sha256 is not None and size is None:
        size = verifier.client.size_of(file)  # a HEAD request: no need to download a vouched file
    if sha256 is None or size is None:
        verified = verifier.file(page.project, file.filename)
        sha256, size, hash_from = verified.sha256, verified.size, verified.hash_from
    if hash_from == "first-download" and plan.require_index_hashes:
        raise UntrustedHashError(
            f"{file.filename}: {page.index.name} publishes no hash for it and no other index in scope"
            " does, and [lock] require_index_hashes is set",
            hint="add a mirror that publishes hashes (PEP 503 #sha256 or PEP 691 hashes), or unset"
            " require_index_hashes to trust the first download",
        )
    return Artifact(
        name=file.filename,
        url=file.url,
        size=size,
        sha256=sha256,
        upload_time=file.upload_time,
        hash_from=cast(HashFrom, hash_from),
    )


def wheel_name(project: str) -> str:
    """A project name as wheel file names (and PEP 825's variants.json) spell it: ``foo_bar``."""
    return canonicalize_name(project).replace("-", "_")


def _package(verifier: Verifier, plan: LockPlan, pin: Pin) -> LockedPackage | None:
    platforms = marker_platforms(pin.marker, plan.python, plan.platforms)
    if not platforms:
        return None  # the requirement applies to none of the locked platforms
    page = verifier.client.project(pin.name)
    if page is None:
        raise ArtifactError(f"{pin.name}=={pin.version} was resolved but no index lists it any more")
    try:
        choice = choose_files(
            pin.name,
            pin.version,
            page.release_files(pin.version),
            plan.python,
            platforms,
            allow_builds=plan.allow_builds,
        )
    except NoArtifactError as exc:
        raise ArtifactError(
            str(exc), hint="pick a version with wheels for every platform, or drop a platform"
        ) from None
    cross_check(verifier.client, page, choice.files)
    artifacts = [_artifact(verifier, plan, page, f) for f in choice.files]
    listed = page.file(f"{wheel_name(pin.name)}-{pin.version}-variants.json")  # PEP 825 metadata
    variants_json = _artifact(verifier, plan, page, listed) if listed is not None else None
    wheels = tuple(a for a in artifacts if a.name.endswith(".whl"))
    sdist = next((a for a in artifacts if not a.name.endswith(".whl")), None)
    return LockedPackage(
        name=pin.name,
        version=pin.version,
        index_name=page.index.name,
        index_url=page.index_url,
        wheels=wheels,
        sdist=sdist,
        marker=pin.marker,
        variants_json=variants_json,
    )


def _resolve(
    backend: Resolver,
    request: ResolveRequest,
    verifier: Verifier,
    work: Path,
    *,
    passthrough: bool,
    progress: Progress,
    cache_root: Path | None,
) -> tuple[Pin, ...]:
    """One resolution behind the router; its errors, with the router's own reasons first."""
    port_file = cache_root / "router-port" if cache_root is not None else None
    with serve(verifier, passthrough=passthrough, port_file=port_file) as server:
        progress(f"resolving {len(request.requirements)} requirements with {backend.name}")
        try:
            return backend.resolve(dataclasses.replace(request, index_url=router_url(server)), work)
        except ResolutionError:
            if server.errors:
                raise server.errors[0] from None
            raise


def _preferences(*sources: tuple[Pin, ...]) -> tuple[Pin, ...]:
    """Pins to keep where possible: per project name, those of the first source that pins it."""
    chosen: dict[str, list[Pin]] = {}
    for source in sources:
        names = {pin.name for pin in source if pin.name not in chosen}
        for pin in source:
            if pin.name in names:
                chosen.setdefault(pin.name, []).append(pin)
    return tuple(pin for pins in chosen.values() for pin in pins)


def _pins(packages: tuple[LockedPackage, ...]) -> tuple[Pin, ...]:
    return tuple(Pin(canonicalize_name(p.name), p.version, p.marker) for p in packages)


def merge_builds(
    names: tuple[str, ...], builds: tuple[tuple[LockedPackage, ...], ...]
) -> tuple[LockedPackage, ...]:
    """The packages of several torch builds as one lock's: an entry every build pins alike is kept
    once, for all; any other names the builds it belongs to (pure)."""
    owners: dict[LockedPackage, list[str]] = {}
    for name, packages in zip(names, builds, strict=True):
        for package in packages:
            owners.setdefault(package, []).append(name)
    return tuple(
        package if len(owned) == len(names) else dataclasses.replace(package, variants=tuple(owned))
        for package, owned in owners.items()
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Resolved:
    resolver: str
    resolver_version: str
    packages: tuple[LockedPackage, ...]


def _lock_plan(
    plan: LockPlan,
    options: LockOptions,
    root: Path | None,
    preferences: tuple[Pin, ...],
    progress: Progress,
    warn: Progress,
    known: dict[tuple[Pin, IndexRef | None], LockedPackage | None],
) -> _Resolved:
    """Resolve one plan and hash every artifact (``known``: the pins already hashed, by their index)."""
    client = IndexClient(plan, default_index_url, DiskCache(root) if root is not None else None)
    indexes = [*plan.mirrors, *plan.scoped.values()]
    trusted = trusted_hosts([i.url for i in indexes if i.url and i.trusted])
    request = ResolveRequest(
        requirements=plan.requirements,
        constraints=plan.constraints,
        index_url="",
        python=plan.python,
        platforms=plan.platforms,
        allow_builds=plan.allow_builds,
        prereleases=plan.prereleases,
        preferences=preferences,
        upgrade=options.upgrade,
        upgrade_packages=options.upgrade_packages,
        trusted_hosts=trusted,
        cache_dir=root,
    )
    backend = choose(options.resolver, request)
    version = backend.version()
    try:
        with tempfile.TemporaryDirectory(prefix="envspec-lock-") as work:
            verifier = Verifier(client, Path(work))
            resolve = functools.partial(
                _resolve, backend, request, verifier, Path(work), progress=progress, cache_root=root
            )
            try:
                pins: tuple[Pin, ...] | None = resolve(passthrough=True)
            except ResolutionError as exc:
                if not (exc.hash_mismatch or client.passed_unchecked):
                    raise
                # a mirror's bytes differ from its own page: resolve again with every download
                # going through envspec, which checks each one and fails over to the next mirror
                if exc.hash_mismatch:
                    warn(
                        "a mirror served a file whose hash differs from its page; resolving again"
                        " with every download checked"
                    )
                pins = None
            if pins is None or client.passed_unchecked:
                # a page went to the resolver as the index sent it and then failed envspec's checks
                # (relative links, an unreadable list): every page goes through envspec this time
                pins = resolve(passthrough=False)
            keys = [(pin, plan.index_for(pin.name)) for pin in pins]
            fresh = [key for key in keys if key not in known]  # an earlier build's pins: hashed once
            again = (
                f" ({len(pins) - len(fresh)} hashed for an earlier build)" if len(fresh) < len(pins) else ""
            )
            progress(f"hashing the artifacts of {len(fresh)} pins{again}")
            for pin, index in fresh:
                known[(pin, index)] = _package(verifier, plan, pin)
            packages = tuple(p for p in (known[key] for key in keys) if p is not None)
    finally:
        client.close()
    for failure in client.failures:
        warn(f"skipped mirror {failure}")
    for message in verifier.warnings:
        warn(message)
    return _Resolved(backend.name, version, packages)


def build_lock(
    loaded: LoadedSpec,
    compat: Compat,
    options: LockOptions,
    *,
    previous: Lock | None = None,
    progress: Progress = _quiet,
    warn: Progress = _quiet,
) -> Lock:
    """Resolve a spec and hash every artifact: the lock value (nothing is written here).

    A spec of several torch builds (``[torch] variants``) is resolved once per build, each build
    preferring the pins of the builds before it (and of the previous lock), and the results merged:
    what they share is locked once. ``progress`` gets a line per stage, ``warn`` one line per thing
    the user should know: a mirror that was skipped and why, a file no index vouches for.
    """
    spec = loaded.spec
    plans = lock_plans(spec, compat)
    variants = spec.torch.variants if spec.torch is not None else ()
    root = cache_dir(options.cache_dir, disabled=options.no_cache)
    keep = previous is not None and not options.upgrade
    results: list[_Resolved] = []
    known: dict[tuple[Pin, IndexRef | None], LockedPackage | None] = {}
    for index, plan in enumerate(plans):
        name = variants[index] if variants else None
        earlier = [_pins(r.packages) for r in results]
        before: tuple[Pin, ...] = ()
        if keep and previous is not None:
            view = previous.select(name) if name is not None and name in previous.variant_names else previous
            before = _pins(tuple(p for p in view.packages if not p.variants))
        if name is not None:
            progress(f"build {name} ({index + 1} of {len(plans)})")
        results.append(_lock_plan(plan, options, root, _preferences(before, *earlier), progress, warn, known))
    first = plans[0]
    if variants:
        packages = merge_builds(variants, tuple(r.packages for r in results))
        builds = tuple(
            _build_facts(spec, name, plan, compat) for name, plan in zip(variants, plans, strict=True)
        )
        facts = Facts(python_image=compat.python.images.get(first.python_minor))
    else:
        packages, builds, facts = results[0].packages, (), facts_of(spec, first, compat)
    return Lock(
        spec_hash=spec_hash(spec, plans),
        name=first.name,
        python=first.python,
        platforms=first.platforms,
        resolver=results[0].resolver,
        resolver_version=results[0].resolver_version,
        requirements=_union(tuple(p.requirements for p in plans)),
        constraints=_union(tuple(p.constraints for p in plans)),
        packages=packages,
        spec=spec,
        facts=facts,
        variants=builds,
    )


def _build_facts(spec: Spec, name: str, plan: LockPlan, compat: Compat) -> BuildFacts:
    facts = facts_of(spec_for_variant(spec, name), plan, compat)
    if facts.torch is None:
        raise ArtifactError(f"the {name} build has no torch facts")  # a spec of variants has [torch]
    floor = compat.min_driver(facts.torch.cuda) if facts.torch.cuda else None
    return BuildFacts(name=name, min_driver=floor, torch=facts.torch, cuda=facts.cuda)


def _union(lists: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    """Each distinct line of several lists once, in first-seen order."""
    return tuple(dict.fromkeys(line for items in lists for line in items))
