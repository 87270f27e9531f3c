"""Derived torch facts of a spec: the effective build (pure)."""

from __future__ import annotations

from envspec.compat import variant_for_cuda
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
