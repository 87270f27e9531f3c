"""Whether a torch build runs on a machine: a build's needs (:class:`BuildNeeds`: its CUDA family's
driver floor, the compute capabilities its kernels cover, from the compatibility data) against the
facts :mod:`envspec.host` detected, each check with what it found and the fix (pure)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Literal

from envspec.compat import Compat, capability_tuple, cuda_of_variant, driver_tuple
from envspec.host import ARCH_VAR, DRIVER_VAR, PROC_VERSION, X86_64, Capability, Gpu, HostFacts, sm
from envspec.verify.model import Status


# -- what a build needs ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class BuildNeeds:
    """What one torch build needs of a machine: its CUDA family's driver floor and the compute
    capabilities its kernels cover (None where the compatibility data does not know)."""

    torch: str
    variant: str
    cuda: str | None  # None: a CPU (or ROCm) build
    min_driver: str | None
    arch_min: Capability | None
    arch_max: Capability | None
    others: tuple[BuildNeeds, ...] = ()  # the other builds of this release, to name one that runs
    catalog: tuple[tuple[str, str, Capability, Capability], ...] = ()  # series, build, kernels: all known
    # how a fix names one of ``others``: "lock" it (another lock), or "install" it (a build of this lock)
    alternative: Literal["lock", "install"] = "lock"

    @property
    def label(self) -> str:
        return f"torch {self.torch}+{self.variant}"


def build_needs(
    compat: Compat, torch: str, variant: str, *, recorded_floor: str | None = None, others: bool = True
) -> BuildNeeds:
    """The needs of ``torch`` built as ``variant``, from the compatibility data (a lock's recorded
    driver floor wins over the data's)."""
    cuda = cuda_of_variant(variant)
    bounds = compat.arch_bounds(torch, variant)
    series = compat.torch_series(torch)
    siblings = series.variants if series and others else ()
    return BuildNeeds(
        torch=torch,
        variant=variant,
        cuda=cuda,
        min_driver=(recorded_floor or compat.min_driver(cuda)) if cuda else None,
        arch_min=capability_tuple(bounds.min) if cuda and bounds.min else None,
        arch_max=capability_tuple(bounds.max) if cuda and bounds.max else None,
        others=tuple(build_needs(compat, torch, v, others=False) for v in siblings if v != variant),
        catalog=_catalog(compat) if others else (),
    )


def _catalog(compat: Compat) -> tuple[tuple[str, str, Capability, Capability], ...]:
    """Every build whose kernels the data knows, oldest series first."""
    found = [
        (key, variant, capability_tuple(bounds.min), capability_tuple(bounds.max))
        for key, series in compat.torch.items()
        for variant, bounds in series.arch.items()
        if bounds.min and bounds.max
    ]
    return tuple(sorted(found, key=lambda entry: tuple(int(part) for part in entry[0].split("."))))


# -- the judgement -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str | None = None


def judge(host: HostFacts, needs: BuildNeeds) -> list[Finding]:
    """Each check of ``needs`` on ``host``, in a stable order: the driver, then each GPU."""
    if needs.variant.startswith("rocm"):
        return [Finding("build", Status.SKIP, f"{needs.label} is ROCm: only NVIDIA hosts are checked")]
    if needs.cuda is None:
        return [_judge_cpu(host, needs)]
    return [_judge_driver(host, needs), *_judge_gpus(host, needs)]


def runs_here(host: HostFacts, needs: BuildNeeds) -> bool:
    """Whether no check of a CUDA build fails on ``host`` (an unknown, a warning, does not block)."""
    return needs.cuda is not None and all(f.status is not Status.FAIL for f in judge(host, needs))


def _alternatives(host: HostFacts, needs: BuildNeeds) -> str | None:
    """The other builds of the release that run here, as a fix names them, or None."""
    fitting = [other.label for other in needs.others if runs_here(host, other)]
    if not fitting:
        return None
    return " or ".join(fitting) + (", which runs here" if len(fitting) == 1 else ", which run here")


def _judge_cpu(host: HostFacts, needs: BuildNeeds) -> Finding:
    if not host.gpus and host.driver is None:
        return Finding("build", Status.PASS, f"{needs.label} is a CPU build: it needs no driver and no GPU")
    what = ", ".join(gpu.name for gpu in host.gpus) or f"driver {host.driver}"
    better = _alternatives(host, needs)
    return Finding(
        "build",
        Status.WARN,
        f"{needs.label} is a CPU build on a machine with an NVIDIA GPU ({what}): it runs, without the GPU",
        f"to use the GPU, {needs.alternative} a CUDA build: {better}"
        if better
        else f"to use the GPU, {needs.alternative} a CUDA build",
    )


def _judge_driver(host: HostFacts, needs: BuildNeeds) -> Finding:
    floor, family = needs.min_driver, (needs.cuda or "").split(".")[0]
    if host.driver is None:
        why = (
            f"{DRIVER_VAR}=none" if host.driver_source == DRIVER_VAR else f"no nvidia-smi, no {PROC_VERSION}"
        )
        return Finding(
            "driver",
            Status.FAIL,
            f"no NVIDIA driver found ({why}): {needs.label} (CUDA {needs.cuda}) cannot run here",
            'use the CPU build on this machine ([torch] variant = "cpu")'
            + (f", or install an NVIDIA driver >= {floor}" if floor else ""),
        )
    if floor is None:
        return Finding(
            "driver",
            Status.WARN,
            f"driver {host.driver}; the driver floor of CUDA {needs.cuda} is not in the compatibility data",
        )
    if driver_tuple(host.driver) < driver_tuple(floor):
        better = _alternatives(host, needs)
        return Finding(
            "driver",
            Status.FAIL,
            f"driver {host.driver} ({host.driver_source}) is older than {floor}, the oldest that runs"
            f" CUDA {family}.x builds such as {needs.label}",
            f"upgrade the driver to {floor} or newer"
            + (f", or {needs.alternative} {better}" if better else ""),
        )
    above = f"driver {host.driver} ({host.driver_source}) is at or above {floor} (CUDA {family}.x)"
    return Finding("driver", Status.PASS, above)


def kernel_range(needs: BuildNeeds) -> str:
    low = sm(needs.arch_min) if needs.arch_min else "?"
    high = sm(needs.arch_max) if needs.arch_max else "?"
    return f"{low} to {high}"


def _judge_gpus(host: HostFacts, needs: BuildNeeds) -> list[Finding]:
    if host.gpus:
        return [_judge_gpu(host, needs, index, gpu) for index, gpu in enumerate(host.gpus)]
    if host.driver is None:
        return [Finding("gpu", Status.SKIP, "no NVIDIA GPU found")]
    if host.gpus_source == "none":
        unlisted = (
            "the GPUs could not be listed (no working nvidia-smi): their compute capabilities are unknown"
        )
        return [
            Finding("gpu", Status.WARN, unlisted, f"set {ARCH_VAR} (e.g. 8.6), or run where nvidia-smi works")
        ]
    visible = "make the GPUs visible (a container needs --gpus all), or use the CPU build"
    return [Finding("gpu", Status.FAIL, f"the driver is loaded but {host.gpus_source} lists no GPU", visible)]


def _elsewhere(needs: BuildNeeds, cap: Capability) -> str:
    """Which torch series has kernels for ``cap``: the first for a new GPU, the last for an old one."""
    covering = [(key, variant) for key, variant, low, high in needs.catalog if low <= cap <= high]
    if not covering:
        return f"no torch build in the compatibility data has {sm(cap)} kernels: use the CPU build"
    newer = needs.arch_max is not None and cap > needs.arch_max
    key, variant = covering[0] if newer else covering[-1]
    which = "first" if newer else "last"
    return (
        f"no torch {needs.torch} build has {sm(cap)} kernels; the {which} torch with them: {key} ({variant})"
    )


def _judge_gpu(host: HostFacts, needs: BuildNeeds, index: int, gpu: Gpu) -> Finding:
    check = f"gpu {index}"
    high = needs.arch_max
    if gpu.capability is None:
        return Finding(check, Status.WARN, f"{gpu.name}: compute capability unknown", f"set {ARCH_VAR}")
    cap = gpu.capability
    what = f"{gpu.name} is {sm(cap)}"
    if host.machine not in X86_64:
        return Finding(
            check,
            Status.WARN,
            f"{what}; the compatibility data knows the kernels of the x86_64 wheels only,"
            f" and this is {host.machine}",
        )
    covered = coverage(needs, cap)
    if covered == "no":
        better = _alternatives(host, needs)
        beyond = " (PTX JIT to newer GPUs is not counted)" if high is not None and cap > high else ""
        return Finding(
            check,
            Status.FAIL,
            f"{what}; {needs.label} has kernels for {kernel_range(needs)} only{beyond}",
            f"{needs.alternative} {better}" if better else _elsewhere(needs, cap),
        )
    if covered == "newer" and high is not None:
        return Finding(
            check,
            Status.WARN,
            f"{what}, newer than the newest kernels of {needs.label} ({sm(high)}): the {sm(high)} kernels run"
            " on it (same major), and torch warns that the GPU is unsupported",
        )
    if covered == "unknown":
        return Finding(
            check,
            Status.WARN,
            f"{what}; which GPUs {needs.label} has kernels for is not fully known ({kernel_range(needs)})",
            "check torch.cuda.get_arch_list() after installing (envspec verify --gpu)",
        )
    return Finding(check, Status.PASS, f"{what}, within the kernels of {needs.label} ({kernel_range(needs)})")


Coverage = Literal["yes", "no", "newer", "unknown"]


def coverage(needs: BuildNeeds, cap: Capability) -> Coverage:
    """Whether the build has kernels for a GPU of capability ``cap``: ``"newer"`` is a GPU of the
    newest kernels' major but a higher minor (those kernels run on it); ``"unknown"`` where the data
    lacks a bound. PTX JIT to a newer major is not counted."""
    low, high = needs.arch_min, needs.arch_max
    if (low is not None and cap < low) or (high is not None and cap > high and cap[0] != high[0]):
        return "no"
    if high is not None and cap > high:
        return "newer"
    if low is None or high is None:
        return "unknown"
    return "yes"


def fleet_coverage(
    compat: Compat, torch: str, variant: str, gpus: Iterable[str]
) -> tuple[BuildNeeds, list[tuple[int, Capability, Coverage]]]:
    """A spec's ``[cuda] gpus`` (``"8.6"``, ...) against the build: the build's needs, and each GPU's
    index, capability and coverage."""
    needs = build_needs(compat, torch, variant)
    found = []
    for index, text in enumerate(gpus):
        cap = capability_tuple(text)
        found.append((index, cap, coverage(needs, cap)))
    return needs, found
