"""Check: the rules that make a well-formed spec impossible to build (errors).

Each rule is a small pure function from a :class:`~envspec.spec.Spec` and the compatibility data to
diagnostics with a key path; :mod:`envspec.load` turns paths into lines. Advice about specs that can
be built but should not be is in :mod:`envspec.lint`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envspec.compat import Compat, cuda_of_variant, driver_tuple
from envspec.errors import Diagnostic, Severity
from envspec.platforms import python_minor
from envspec.resolve_torch import effective_variant
from envspec.spec import Spec, show

Rule = Callable[[Spec, Compat], Iterable[Diagnostic]]

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
# Installer options a spec may carry; index options are refused because [[mirrors]] owns them.
PIP_OPTIONS = ("--only-binary", "--no-binary", "--prefer-binary", "--pre")
INDEX_OPTIONS = (
    "--index-url",
    "-i",
    "--extra-index-url",
    "--find-links",
    "-f",
    "--trusted-host",
    "--no-index",
)


def _error(
    code: str,
    message: str,
    path: tuple[str | int, ...],
    *,
    expected: str | None = None,
    hint: str | None = None,
) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, path=path, expected=expected, hint=hint)


def _list(items: Iterable[str]) -> str:
    return ", ".join(items)


def known_torch_text(compat: Compat) -> str:
    """Known torch releases grouped by series, e.g. ``2.1: 2.1.0 2.1.1 2.1.2; 2.2: ...``."""
    groups: dict[str, list[str]] = {}
    for release in compat.torch_releases():
        groups.setdefault(python_minor(release), []).append(release)
    return "; ".join(f"{series}: {' '.join(items)}" for series, items in groups.items())


def check_python(spec: Spec, compat: Compat) -> Iterator[Diagnostic]:
    minor = python_minor(spec.env.python)
    if minor not in compat.python.known:
        yield _error(
            "unknown-python",
            f"Python {minor} is not in the compatibility data",
            ("env", "python"),
            expected="one of " + _list(compat.python.known),
        )


def check_torch(spec: Spec, compat: Compat) -> Iterator[Diagnostic]:
    torch = spec.torch
    if torch is None:
        return
    series = compat.torch_series(torch.version)
    if series is None:
        yield _error(
            "unknown-torch",
            f"torch {torch.version} is not in the compatibility data",
            ("torch", "version"),
            expected="a known release: " + known_torch_text(compat),
            hint="if the release is new, upgrade envspec (its data may know it), or pick a listed one",
        )
        return
    python = python_minor(spec.env.python)
    if python not in series.python:
        yield _error(
            "torch-python",
            f"torch {torch.version} has no wheels for Python {python}",
            ("env", "python"),
            expected=f"Python {_list(series.python)} for torch {torch.version}",
            hint="change [env] python or [torch] version",
        )
    variant = effective_variant(spec)
    if variant is not None and variant not in series.variants:
        from_cuda = torch.variant is None and spec.cuda is not None
        yield _error(
            "unknown-variant",
            f"torch {torch.version} has no {variant} build"
            + (f" (derived from [cuda] version {spec.cuda.version})" if from_cuda and spec.cuda else ""),
            ("torch", "variant") if torch.variant else ("cuda", "version"),
            expected=f"one of {_list(series.variants)}",
            hint="set [torch] variant to one of these, or change [cuda] version to match one",
        )
    for index, platform in enumerate(spec.env.platforms):
        if platform not in series.platforms:
            yield _error(
                "torch-platform",
                f"torch {torch.version} has no wheels for {platform}",
                ("env", "platforms", index),
                expected=f"platforms with torch {torch.version} wheels: {_list(series.platforms)}",
            )
        if variant and variant.startswith("cu") and platform.startswith("macos"):
            yield _error(
                "cuda-on-macos",
                f"there are no CUDA builds of torch for {platform}",
                ("env", "platforms", index),
                expected='variant = "cpu" for macOS (it includes the MPS backend)',
                hint="keep CUDA specs to linux/windows platforms, or make a separate spec for macOS",
            )
    mismatch = spec.cuda is not None and cuda_of_variant(variant or "") != spec.cuda.version
    if variant is not None and torch.index is None and variant in series.variants and not mismatch:
        linux = [p for p in spec.env.platforms if p.startswith("linux")]
        if variant != series.pypi_default and (variant != "cpu" or linux):
            yield _error(
                "variant-needs-index",
                f"the {variant} build of torch {torch.version} is only on a PyTorch index"
                + (f" (the default index has {series.pypi_default} builds for Linux)" if linux else ""),
                ("torch", "variant") if torch.variant else ("cuda", "version"),
                expected="[torch] index naming a [[mirrors]] entry for that index",
                hint=f'add [[mirrors]] name = "pytorch", url = "https://download.pytorch.org/whl/{variant}"'
                ' and [torch] index = "pytorch"',
            )
    for name in torch.with_:
        if getattr(compat.companions(torch.version), name) is None:
            yield _error(
                "no-companion",
                f"there is no {name} release for torch {torch.version}",
                ("torch", "with"),
                expected="companions published for this release: "
                + (
                    _list(
                        n
                        for n in ("torchvision", "torchaudio")
                        if getattr(compat.companions(torch.version), n)
                    )
                    or "none"
                ),
                hint="torchaudio was last published for torch 2.11" if name == "torchaudio" else None,
            )


def check_cuda(spec: Spec, compat: Compat) -> Iterator[Diagnostic]:
    cuda = spec.cuda
    variant = effective_variant(spec)
    if spec.torch is not None and spec.torch.variant == "cpu" and cuda is not None:
        yield _error(
            "cpu-with-cuda",
            'variant = "cpu" contradicts the [cuda] table',
            ("torch", "variant"),
            expected="either a CUDA build (e.g. cu121) with [cuda], or cpu without [cuda]",
            hint="remove the [cuda] table for a CPU environment",
        )
    if cuda is None:
        return
    if cuda.version not in compat.cuda.versions:
        yield _error(
            "unknown-cuda",
            f"CUDA {cuda.version} is not in the compatibility data",
            ("cuda", "version"),
            expected="one of " + _list(compat.cuda_versions()),
        )
    variant_cuda = cuda_of_variant(variant) if variant else None
    if variant_cuda and variant_cuda.split(".")[0] != cuda.version.split(".")[0]:
        yield _error(
            "cuda-variant-mismatch",
            f"[torch] variant {variant} bundles CUDA {variant_cuda}, but [cuda] version is {cuda.version}",
            ("torch", "variant"),
            expected=f"a build of the CUDA {cuda.version.split('.')[0]} family",
            hint="nvcc and the torch build must share a CUDA major version",
        )
    if cuda.driver is not None:
        needs = [v for v in (cuda.version, variant_cuda) if v]
        for version in dict.fromkeys(needs):
            floor = compat.min_driver(version)
            if floor is not None and driver_tuple(cuda.driver) < driver_tuple(floor):
                yield _error(
                    "driver-too-old",
                    f"driver {cuda.driver} cannot run CUDA {version}",
                    ("cuda", "driver"),
                    expected=f"a driver >= {floor} for CUDA {version.split('.')[0]}.x",
                    hint="upgrade the fleet's driver, or choose an older CUDA build ([torch] variant)",
                )
    if spec.torch is not None and variant is not None and variant.startswith("cu") and cuda.gpus:
        yield from _check_gpus(spec.torch.version, variant, cuda.gpus, compat)


def _check_gpus(torch: str, variant: str, gpus: Iterable[str], compat: Compat) -> Iterator[Diagnostic]:
    """Each of the fleet's GPUs against the kernels the torch build carries (the compatibility data's
    range for that series and build): an error where it has none (lint warns about the rest)."""
    from envspec.hostjudge import coverage, fleet_coverage, kernel_range

    needs, found = fleet_coverage(compat, torch, variant, gpus)
    for index, cap, covered in found:
        if covered != "no":
            continue
        span = f"sm_{cap[0]}{cap[1]}"
        others = [
            f'{o.variant} ([cuda] version = "{o.cuda}")'
            for o in needs.others
            if o.cuda and coverage(o, cap) == "yes"
        ]
        yield _error(
            "gpu-not-covered",
            f"torch {torch}+{variant} has no kernels for {span} GPUs (it has {kernel_range(needs)})",
            ("cuda", "gpus", index),
            expected=f"a build whose kernels cover {span}",
            hint=(f"use the {' or the '.join(others)} build of torch {torch}")
            if others
            else "choose another torch release; `envspec host` names the ones with kernels for it",
        )


def check_packages(spec: Spec, compat: Compat) -> Iterator[Diagnostic]:
    del compat
    names: Counter[str] = Counter()
    for index, text in enumerate(spec.packages.python):
        name = canonicalize_name(Requirement(text).name)
        names[name] += 1
        if names[name] == 2:
            yield _error(
                "duplicate-requirement",
                f"{name} is listed more than once",
                ("packages", "python", index),
                expected="each package once (merge the specifiers into one requirement)",
            )
        if spec.torch is not None and name in TORCH_FAMILY:
            where = "[torch] version" if name == "torch" else "[torch] with"
            yield _error(
                "torch-in-packages",
                f"{name} is declared by [torch] and must not also be in [packages] python",
                ("packages", "python", index),
                expected=f"{name} only in {where}",
                hint=f"remove {show(text)}; [torch] pins the build and its companions consistently",
            )
    for index, option in enumerate(spec.packages.pip_options):
        flag = option.split("=", 1)[0].split(" ", 1)[0]
        if flag in INDEX_OPTIONS:
            yield _error(
                "pip-index-option",
                f"{show(option)} would change where packages come from",
                ("packages", "pip_options", index),
                expected="indexes declared as [[mirrors]] (with [torch] index for the torch packages)",
                hint="extra indexes merged by pip allow dependency confusion; mirrors are scoped and hashed",
            )
        elif flag not in PIP_OPTIONS:
            yield _error(
                "unknown-pip-option",
                f"{show(option)} is not an option envspec passes to installers",
                ("packages", "pip_options", index),
                expected="one of " + _list(PIP_OPTIONS),
            )


def check_mirrors(spec: Spec, compat: Compat) -> Iterator[Diagnostic]:
    del compat
    seen: set[str] = set()
    default_seen = False
    for index, mirror in enumerate(spec.mirrors):
        if mirror.name in seen:
            yield _error(
                "duplicate-mirror",
                f"mirror name {show(mirror.name)} is used twice",
                ("mirrors", index, "name"),
                expected="a unique name per [[mirrors]] entry",
            )
        seen.add(mirror.name)
        if mirror.url is None:
            if default_seen:
                yield _error(
                    "duplicate-mirror",
                    "two mirrors both mean the installer's default index (no url)",
                    ("mirrors", index),
                    expected="at most one [[mirrors]] entry without url",
                )
            default_seen = True
        elif mirror.url.startswith("http://") and not mirror.trusted:
            yield _error(
                "insecure-mirror",
                f"mirror {show(mirror.name)} uses plain http",
                ("mirrors", index, "url"),
                expected="an https:// URL, or trusted = true for a mirror on a network you control",
            )
    torch = spec.torch
    if torch is not None and torch.index is not None:
        target = next((m for m in spec.mirrors if m.name == torch.index), None)
        if target is None:
            yield _error(
                "unknown-mirror",
                f"[torch] index names {show(torch.index)}, which is not a declared mirror",
                ("torch", "index"),
                expected="the name of a [[mirrors]] entry"
                + (f": one of {_list(sorted(seen))}" if seen else ""),
            )
        elif target.url is None:
            yield _error(
                "unknown-mirror",
                f"[torch] index names {show(torch.index)}, the installer's default index",
                ("torch", "index"),
                expected="a mirror with the url of a PyTorch index, e.g. https://download.pytorch.org/whl/cu121",
            )
    owners: dict[str, str] = {}
    for index, mirror in enumerate(spec.mirrors):
        for position, project in enumerate(mirror.packages):
            name = canonicalize_name(project)
            if name in owners and owners[name] != mirror.name:
                yield _error(
                    "duplicate-assignment",
                    f"{project} is assigned to mirrors {show(owners[name])} and {show(mirror.name)}",
                    ("mirrors", index, "packages", position),
                    expected="each project served by at most one scoped index",
                )
            owners.setdefault(name, mirror.name)
    general = [m for m in spec.mirrors if not m.packages and (torch is None or m.name != torch.index)]
    if spec.mirrors and not general:
        yield _error(
            "no-general-mirror",
            "every mirror is scoped to some packages, so nothing else has an index",
            ("mirrors",),
            expected="at least one [[mirrors]] entry without packages (no url = the installer's default)",
            hint='add [[mirrors]] name = "default"',
        )


def check_runtime(spec: Spec, compat: Compat) -> Iterator[Diagnostic]:
    del compat
    threads = spec.runtime.env.get("TORCHINDUCTOR_COMPILE_THREADS")
    if threads is not None and not (threads.isdigit() and int(threads) >= 1):
        yield _error(
            "invalid-env-value",
            f"TORCHINDUCTOR_COMPILE_THREADS = {show(threads)} is not a worker count",
            ("runtime", "env", "TORCHINDUCTOR_COMPILE_THREADS"),
            expected="a positive integer",
        )
    blocking = spec.runtime.env.get("CUDA_LAUNCH_BLOCKING")
    if blocking is not None and blocking not in ("0", "1"):
        yield _error(
            "invalid-env-value",
            f"CUDA_LAUNCH_BLOCKING = {show(blocking)} is neither 0 nor 1",
            ("runtime", "env", "CUDA_LAUNCH_BLOCKING"),
            expected='"1" to serialise kernel launches while debugging (or leave it out)',
        )


RULES: tuple[Rule, ...] = (
    check_python,
    check_torch,
    check_cuda,
    check_packages,
    check_mirrors,
    check_runtime,
)


def check(spec: Spec, compat: Compat) -> tuple[Diagnostic, ...]:
    """Every error a valid-looking spec still has, in rule order."""
    from envspec.checkvariants import check_builds, check_placeholder

    found = list(check_placeholder(spec, compat))
    if spec.torch is not None and spec.torch.variants:
        found += check_builds(spec, compat, RULES)  # each build as a spec of its own, then together
    else:
        found += [d for rule in RULES for d in rule(spec, compat)]
    return tuple(found)
