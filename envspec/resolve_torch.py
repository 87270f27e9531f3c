"""Derived torch facts of a spec: the effective build, and a multi-build spec seen one build at a time
(pure)."""

from __future__ import annotations

from envspec.compat import cuda_of_variant, variant_for_cuda
from envspec.fields import VARIANT_PLACEHOLDER
from envspec.spec import CudaSection, Spec


def effective_variant(spec: Spec) -> str | None:
    """The torch build a spec asks for: ``[torch] variant``, else the first of ``variants``, else from
    ``[cuda]``, else ``"cpu"``."""
    if spec.torch is None:
        return None
    if spec.torch.variant is not None:
        return spec.torch.variant
    if spec.torch.variants:
        return spec.torch.variants[0]
    if spec.cuda is not None:
        return variant_for_cuda(spec.cuda.version)
    return "cpu"


def variants_of(spec: Spec) -> tuple[str, ...]:
    """The builds a spec locks, in its order of preference; empty for a spec of one build."""
    return spec.torch.variants if spec.torch is not None else ()


def with_variant_urls(spec: Spec, variant: str) -> Spec:
    """The spec with ``{variant}`` in its mirror URLs replaced by ``variant``."""
    if not any(m.url and VARIANT_PLACEHOLDER in m.url for m in spec.mirrors):
        return spec
    mirrors = tuple(
        m.model_copy(update={"url": m.url.replace(VARIANT_PLACEHOLDER, variant)})
        if m.url and VARIANT_PLACEHOLDER in m.url
        else m
        for m in spec.mirrors
    )
    return spec.model_copy(update={"mirrors": mirrors})


def spec_for_variant(spec: Spec, variant: str) -> Spec:
    """A multi-build spec as a spec of one of its builds: what that build's machines get.

    ``[torch] variant`` becomes ``variant``; mirror URLs get it for ``{variant}``. ``[cuda]`` becomes
    that build's CUDA (none for cpu), keeping ``devel``: the fleet's ``driver`` and ``gpus`` describe
    all machines, not those this build serves, so they are checked across the builds instead
    (:func:`envspec.checks.check_variants`).
    """
    if spec.torch is None:
        return spec
    torch = spec.torch.model_copy(update={"variant": variant, "variants": ()})
    cuda_version = cuda_of_variant(variant)
    cuda = None
    if spec.cuda is not None and cuda_version is not None:
        cuda = CudaSection(version=cuda_version, devel=spec.cuda.devel)
    return with_variant_urls(spec, variant).model_copy(update={"torch": torch, "cuda": cuda})
