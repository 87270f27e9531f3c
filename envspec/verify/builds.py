"""A lock of several torch builds in verify: which build the environment holds, and whether this
machine runs it and would choose it (pure).

bootstrap.sh writes the build it installed into ``<prefix>/envspec-variant``, which the probe reads.
Where that file is missing or names a build the lock lacks, the installed torch's local label
(``2.13.0+cu126``) names it; the environment is then compared with that build's view of the lock
(:meth:`envspec.lock.model.Lock.select`), and this machine is judged by the rule bootstrap.sh
chooses by (:mod:`envspec.hostchoice`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envspec.compat import Compat
from envspec.host import HostFacts
from envspec.hostchoice import choose, lock_needs
from envspec.hostjudge import judge
from envspec.lock.model import Lock
from envspec.verify.model import Check, Status

VARIANT_FILE = "envspec-variant"


@dataclasses.dataclass(frozen=True, slots=True)
class Installed:
    """The build an environment holds (None: it cannot be told), how that was found, and what was
    odd on the way (the file missing, or naming a build the lock lacks)."""

    name: str | None
    source: str
    odd: str | None = None


def installed_build(lock: Lock, report: Mapping[str, Any], forced: str | None = None) -> Installed:
    """The build of ``lock`` the probed environment holds: ``forced`` (``--variant``), else the one
    its ``envspec-variant`` names, else the one its torch's local label names."""
    names = lock.variant_names
    written = report.get("variant")
    if forced is not None:
        differs = written is not None and written != forced
        return Installed(
            forced, "--variant", f"the environment's {VARIANT_FILE} names {written}" if differs else None
        )
    if written in names:
        return Installed(str(written), VARIANT_FILE)
    odd = (
        f"{VARIANT_FILE} names {written}, a build the lock lacks ({', '.join(names)})"
        if written
        else f"the environment has no {VARIANT_FILE}"
    )
    torch = next(
        (d for d in report.get("distributions", []) if canonicalize_name(str(d.get("name"))) == "torch"), None
    )
    if torch is None:
        return Installed(None, "torch is not installed", odd)
    version = str(torch.get("version"))
    try:
        label = Version(version).local
    except InvalidVersion:
        label = None
    build = next(
        (b.name for b in lock.variants if label is not None and label in (b.name, b.torch.local)), None
    )
    if build is None:
        return Installed(None, f"the installed torch {version} carries no label of the lock's builds", odd)
    return Installed(build, f"the installed torch {version}", odd)


def check_build(lock: Lock, installed: Installed) -> Iterator[Check]:
    """Which build is verified, and how it was found; a failure when it cannot be told."""
    if installed.name is None:
        yield Check(
            "identity",
            "build",
            Status.FAIL,
            f"{installed.odd}, and {installed.source}: which of the lock's builds"
            f" ({', '.join(lock.variant_names)}) this environment holds cannot be told",
            "rebuild the environment from the lock (bootstrap.sh), or name the build: --variant NAME",
        )
    elif installed.odd:
        yield Check(
            "identity",
            "build",
            Status.WARN,
            f"torch build {installed.name}, from {installed.source}: {installed.odd}",
            "without --variant, verify checks the build the environment names"
            if installed.source == "--variant"
            else f"bootstrap.sh writes {VARIANT_FILE}: rebuild the environment with it",
        )
    else:
        yield Check(
            "identity", "build", Status.PASS, f"torch build {installed.name} (from {installed.source})"
        )


def check_host(
    lock: Lock, name: str, host: HostFacts, compat: Compat | None = None, *, required: bool = False
) -> Iterator[Check]:
    """Whether this machine runs build ``name`` and would choose it, then that build's driver and GPU
    checks (:func:`envspec.hostjudge.judge`). A CUDA build on a machine with no NVIDIA driver at all
    (a build host, a CI runner) is a skip unless ``required`` (``--gpu``), as the GPU checks are."""
    builds = lock_needs(lock, compat)
    needs = next(b for b in builds if b.variant == name)
    choice = choose(builds, host)
    if host.driver is None and needs.cuda is not None and not required:
        yield Check(
            "host",
            "build",
            Status.SKIP,
            f"no NVIDIA driver on this machine: build {name} (CUDA {needs.cuda}) cannot run here, and this"
            f" machine would get {choice.chosen or 'none of the builds'}; nothing to check",
            "run `envspec verify --gpu` where the GPUs are",
        )
        return
    verdict = choice.verdict(name)
    if not verdict.runs:
        yield Check(
            "host",
            "build",
            Status.FAIL,
            f"build {name} does not run on this machine: it {verdict.reason}",
            f"rebuild the environment here: bootstrap.sh would choose {choice.chosen}"
            if choice.chosen
            else f"none of the lock's builds ({', '.join(lock.variant_names)}) runs on this machine",
        )
    elif choice.chosen != name:
        yield Check(
            "host",
            "build",
            Status.WARN,
            f"build {name} runs here, but this machine would get {choice.chosen}, which the lock prefers:"
            f" {choice.verdict(str(choice.chosen)).line}",
            f"rebuild the environment here to get {choice.chosen} (bootstrap.sh chooses it)",
        )
    else:
        yield Check("host", "build", Status.PASS, f"this machine gets build {name}: {verdict.reason}")
    for finding in judge(host, needs):
        yield Check("host", finding.check, finding.status, finding.detail, finding.fix)
