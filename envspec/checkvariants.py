"""Check a spec of several torch builds (``[torch] variants``), and explain what each build needs (pure).

Each build is checked as a spec of that one build (:func:`envspec.resolve_torch.spec_for_variant`),
with the diagnostics moved onto its ``[torch] variants`` entry; what the builds must do together is
checked across them: the fleet's oldest driver runs one of them, each of the fleet's GPUs has kernels
in one of them, ``[cuda] version`` is one of theirs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

from envspec.compat import Compat, capability_tuple, cuda_of_variant, driver_tuple
from envspec.errors import Diagnostic, KeyPath, Severity
from envspec.fields import VARIANT_PLACEHOLDER
from envspec.resolve_torch import spec_for_variant
from envspec.spec import Spec

Rule = Callable[[Spec, Compat], Iterable[Diagnostic]]


def _error(
    code: str, message: str, path: KeyPath, expected: str | None = None, hint: str | None = None
) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, path=path, expected=expected, hint=hint)


def check_placeholder(spec: Spec, compat: Compat) -> Iterator[Diagnostic]:
    """``{variant}`` only in the URL of the mirror that serves torch."""
    del compat
    torch_index = spec.torch.index if spec.torch is not None else None
    for index, mirror in enumerate(spec.mirrors):
        if mirror.url and VARIANT_PLACEHOLDER in mirror.url and mirror.name != torch_index:
            yield _error(
                "misplaced-placeholder",
                f"{VARIANT_PLACEHOLDER} in the URL of mirror {mirror.name!r}, which does not serve torch",
                ("mirrors", index, "url"),
                expected=f"{VARIANT_PLACEHOLDER} only in the URL of the mirror [torch] index names",
                hint=f'set [torch] index = "{mirror.name}", or write the URL out',
            )


def _moved(found: Diagnostic, index: int) -> Diagnostic:
    """A diagnostic of one build's spec, placed on that build's ``variants`` entry."""
    if found.path[:2] in (("torch", "variant"), ("cuda", "version")):
        return dataclasses.replace(found, path=("torch", "variants", index))
    return found


def check_builds(spec: Spec, compat: Compat, rules: tuple[Rule, ...]) -> Iterator[Diagnostic]:
    """Each build as a spec of its own, then the builds together; the same finding once."""
    assert spec.torch is not None  # noqa: S101 - only called for a spec with variants
    torch, variants = spec.torch, spec.torch.variants
    seen: set[tuple[str, KeyPath, str]] = set()
    if torch.variant is not None:
        yield _error(
            "variant-and-variants",
            "[torch] has both variant and variants",
            ("torch", "variant"),
            expected="variant (one build) or variants (several, in order of preference)",
            hint="remove variant",
        )
    for index, name in enumerate(variants):
        if name in variants[:index]:
            yield _error(
                "duplicate-variant",
                f"{name} is listed twice",
                ("torch", "variants", index),
                expected="each build once, in order of preference",
                hint=f"remove the second {name}",
            )
            continue
        for rule in rules:
            for found in rule(spec_for_variant(spec, name), compat):
                if found.code == "variant-needs-index" and torch.index is None:
                    continue  # said once for all builds, below
                moved = _moved(found, index)
                key = (moved.code, moved.path, moved.message)
                if key not in seen:
                    seen.add(key)
                    yield moved
    if torch.index is None:
        yield _error(
            "variants-need-index",
            "several torch builds need a PyTorch index: each build is told apart by its label there",
            ("torch", "variants"),
            expected="[torch] index naming a mirror whose URL holds {variant}",
            hint='add [[mirrors]] name = "pytorch", url = "https://download.pytorch.org/whl/{variant}"'
            ' and [torch] index = "pytorch"',
        )
    yield from _fleet(spec, compat)


def _fleet(spec: Spec, compat: Compat) -> Iterator[Diagnostic]:
    from envspec.hostjudge import build_needs, coverage

    assert spec.torch is not None  # noqa: S101
    cuda, variants = spec.cuda, spec.torch.variants
    if cuda is None:
        return
    cudas = [c for c in (cuda_of_variant(v) for v in variants) if c]
    if cuda.version not in cudas:
        yield _error(
            "cuda-variant-mismatch",
            f"[cuda] version {cuda.version} is not the CUDA of any of the builds",
            ("cuda", "version"),
            expected=f"one of {', '.join(cudas)}" if cudas else "no [cuda] table for CPU builds only",
            hint="[cuda] version names the newest CUDA the fleet runs: that of the first CUDA build",
        )
    needs = [build_needs(compat, spec.torch.version, v, others=False) for v in variants]
    if cuda.driver is not None and "cpu" not in variants:
        runs = [
            n
            for n in needs
            if n.min_driver is None or driver_tuple(cuda.driver) >= driver_tuple(n.min_driver)
        ]
        if not runs:
            floors = ", ".join(f"{n.variant} needs {n.min_driver}" for n in needs)
            yield _error(
                "driver-too-old",
                f"none of the builds runs on the fleet's oldest driver {cuda.driver} ({floors})",
                ("cuda", "driver"),
                expected="a build whose CUDA family that driver runs",
                hint='add an older CUDA build, or "cpu", to [torch] variants; or upgrade the driver',
            )
    for index, text in enumerate(cuda.gpus):
        cap = capability_tuple(text)
        if not any(n.cuda and coverage(n, cap) != "no" for n in needs):
            yield _error(
                "gpu-not-covered",
                f"none of the builds has kernels for sm_{cap[0]}{cap[1]} GPUs",
                ("cuda", "gpus", index),
                expected=f"a build in [torch] variants whose kernels cover sm_{cap[0]}{cap[1]}",
                hint="`envspec host` names the builds with kernels for it",
            )


def explain_builds(spec: Spec, compat: Compat) -> tuple[str, ...]:
    """One line per build of a spec with variants: what it needs of a machine, and which of the
    fleet's GPUs it serves. A machine installs the first build it can run."""
    if spec.torch is None or not spec.torch.variants:
        return ()
    from envspec.hostjudge import build_needs, coverage, kernel_range

    gpus = spec.cuda.gpus if spec.cuda is not None else ()
    lines = []
    for order, name in enumerate(dict.fromkeys(spec.torch.variants), start=1):
        needs = build_needs(compat, spec.torch.version, name, others=False)
        if needs.cuda is None:
            lines.append(f"{order}. {needs.label}: runs anywhere (no GPU used)")
            continue
        text = f"{order}. {needs.label}: CUDA {needs.cuda}, driver >= {needs.min_driver or '?'}"
        text += f", kernels {kernel_range(needs)}"
        if gpus:
            served = [g for g in gpus if coverage(needs, capability_tuple(g)) != "no"]
            text += f"; serves GPUs {', '.join(served) or 'none'} of [cuda] gpus"
        lines.append(text)
    return tuple(lines)
