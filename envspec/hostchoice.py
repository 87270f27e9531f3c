"""Which build of a lock of several torch builds a machine gets: the first, in the lock's order, that
runs on its driver and GPUs, the rule bootstrap.sh applies when it installs, with the reason each
build runs there or not (pure).

A build without a driver floor (``cpu``) runs on any machine. A CUDA build runs where there is an
NVIDIA driver at or above its floor (dotted versions compared part by part) and no GPU is outside
its kernels (:func:`envspec.hostjudge.coverage` ``"no"``; ``"newer"`` and ``"unknown"`` pass); a
driver whose GPUs cannot be listed is judged by the driver alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from envspec.compat import Compat, capability_tuple, cuda_of_variant, driver_tuple
from envspec.errors import UsageError
from envspec.host import HostFacts, sm
from envspec.hostjudge import BuildNeeds, build_needs, coverage, kernel_range
from envspec.lock.model import BuildFacts, Lock


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one build runs on the machine, and why, in one line."""

    name: str
    runs: bool
    reason: str

    @property
    def line(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """The build a machine gets (None: none of them runs there) and each build's verdict, in order.

    ``forced``: the build was named (``--variant``), not chosen; ``preferred`` is then what the rule
    would have chosen."""

    chosen: str | None
    verdicts: tuple[Verdict, ...]
    forced: bool = False

    @property
    def preferred(self) -> str | None:
        """The first build that runs here: what bootstrap.sh installs without ``--variant``."""
        return next((v.name for v in self.verdicts if v.runs), None)

    def verdict(self, name: str) -> Verdict:
        return next(v for v in self.verdicts if v.name == name)


def needs_of(build: BuildFacts, compat: Compat | None = None) -> BuildNeeds:
    """A lock's build as :class:`BuildNeeds`: its recorded driver floor and kernel range win over the
    compatibility data, which, when given, fills what the lock lacks and adds what a fix can name."""
    torch = build.torch
    low = capability_tuple(torch.arch_min) if torch.arch_min else None
    high = capability_tuple(torch.arch_max) if torch.arch_max else None
    if compat is None:
        cuda = torch.cuda or cuda_of_variant(torch.variant)
        return BuildNeeds(torch.version, torch.variant, cuda, build.min_driver, low, high)
    needs = build_needs(compat, torch.version, torch.variant, recorded_floor=build.min_driver)
    if low and high:  # what the lock recorded is what bootstrap.sh checks
        needs = dataclasses.replace(needs, arch_min=low, arch_max=high)
    return needs


def lock_needs(lock: Lock, compat: Compat | None = None) -> tuple[BuildNeeds, ...]:
    """Each build of a lock of several as :class:`BuildNeeds`, in the lock's order; with ``compat``,
    each names the lock's other builds as its alternatives (a fix says "install" one of them)."""
    return with_siblings([needs_of(build, compat) for build in lock.variants])


def with_siblings(builds: Sequence[BuildNeeds]) -> tuple[BuildNeeds, ...]:
    """Builds of one lock: each one's alternatives are the others, which a fix tells to install."""
    return tuple(
        dataclasses.replace(
            needs,
            others=tuple(dataclasses.replace(o, others=()) for o in builds if o is not needs),
            alternative="install",
        )
        for needs in builds
    )


def verdict(host: HostFacts, needs: BuildNeeds) -> Verdict:
    """Whether ``needs`` runs on ``host`` by the install-time rule, with the reason."""
    name, floor = needs.variant, needs.min_driver
    if needs.cuda is None and floor is None:
        return Verdict(
            name, True, "runs on any machine" + (" (ROCm: not checked)" if name.startswith("rocm") else "")
        )
    wants = f"needs an NVIDIA driver >= {floor}" if floor else "needs an NVIDIA driver"
    if host.driver is None:
        return Verdict(name, False, f"{wants}, this machine has none")
    if floor is not None and older(host.driver, floor):
        return Verdict(name, False, f"{wants}, this machine has {host.driver}")
    why = f"driver {host.driver} >= {floor}" if floor else f"driver {host.driver} (the floor is unknown)"
    outside = [
        (index, gpu.capability)
        for index, gpu in enumerate(host.gpus)
        if gpu.capability is not None and coverage(needs, gpu.capability) == "no"
    ]
    if outside:
        index, cap = outside[0]
        return Verdict(name, False, f"has kernels for {kernel_range(needs)}, GPU {index} is {sm(cap)}")
    if not host.gpus:
        return Verdict(name, True, f"{why}; no GPU listed, judged by the driver alone")
    return Verdict(name, True, f"{why}; every GPU within its kernels ({kernel_range(needs)})")


def older(driver: str, floor: str) -> bool:
    """Whether ``driver`` is below ``floor``, number by number, a missing part counting as 0 (as
    bootstrap.sh compares: ``580`` is ``580.0``, and ``525.105.17`` is above ``525.60.13``)."""
    have, need = driver_tuple(driver), driver_tuple(floor)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) < need + (0,) * (width - len(need))


def choose(builds: Sequence[BuildNeeds], host: HostFacts, *, forced: str | None = None) -> Choice:
    """The first of ``builds`` (in order of preference) that runs on ``host``, or ``forced``: a build
    named by the user (:class:`UsageError` when the builds lack it)."""
    verdicts = tuple(verdict(host, needs) for needs in builds)
    if forced is None:
        return Choice(next((v.name for v in verdicts if v.runs), None), verdicts)
    return Choice(known_build([v.name for v in verdicts], forced), verdicts, forced=True)


def known_build(names: Sequence[str], name: str) -> str:
    """``name`` (``--variant``) when it is one of a lock's builds; else :class:`UsageError`."""
    if name not in names:
        raise UsageError(
            f"--variant {name}: the lock has no such torch build",
            hint=f"its builds, in order of preference: {', '.join(names)}",
        )
    return name


def choose_build(lock: Lock, host: HostFacts, *, forced: str | None = None) -> Choice:
    """The build of ``lock`` (a lock of several builds) that ``host`` gets, and why each does or not."""
    return choose(lock_needs(lock), host, forced=forced)
