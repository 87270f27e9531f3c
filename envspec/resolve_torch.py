"""Derived torch facts of a spec: the effective build and the CUDA it implies (pure)."""

from __future__ import annotations

from envspec.compat import cuda_of_variant, variant_for_cuda
from envspec.spec import Spec


def effective_variant(spec: Spec) -> str | None:
    """The torch build a spec asks for: ``[torch] variant``, else from ``[cuda]``, else ``"cpu"``."""
    if spec.torch is None:
        return None
    if spec.torch.variant is not None:
        return spec.torch.variant
    if spec.cuda is not None:
        return variant_for_cuda(spec.cuda.version)
    return "cpu"


def effective_cuda(spec: Spec) -> str | None:
    """The CUDA version the torch build bundles, or ``[cuda] version`` when there is no torch."""
    variant = effective_variant(spec)
    if variant is not None:
        return cuda_of_variant(variant)
    return spec.cuda.version if spec.cuda else None
