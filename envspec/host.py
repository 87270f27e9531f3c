"""This machine's NVIDIA driver and GPUs, and whether a torch build runs on them: pure, but for
:func:`detect`, the one edge that runs ``nvidia-smi`` and reads ``/proc``. ``ENVSPEC_CUDA_DRIVER`` and
``ENVSPEC_GPU_ARCH`` replace detection (tests, builders without a GPU). :func:`judge` compares the facts
with a build's needs (:class:`BuildNeeds`: its CUDA family's driver floor, the compute capabilities its
kernels cover) and says, for each check, what it found and the fix.
"""

from __future__ import annotations

import dataclasses
import platform
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Final, Literal

from envspec.compat import Compat, capability_tuple, cuda_of_variant, driver_tuple
from envspec.errors import UsageError

Source = Literal[
    "nvidia-smi", "/proc/driver/nvidia/version", "ENVSPEC_CUDA_DRIVER", "ENVSPEC_GPU_ARCH", "none"
]
Capability = tuple[int, int]
DRIVER_VAR: Final = "ENVSPEC_CUDA_DRIVER"
ARCH_VAR: Final = "ENVSPEC_GPU_ARCH"
PROC_VERSION: Final = "/proc/driver/nvidia/version"
SMI_QUERY = ("nvidia-smi", "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader")
SMI_FALLBACK = ("nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader")
SMI_TIMEOUT = 15.0
X86_64 = ("x86_64", "amd64", "AMD64")

_DRIVER = re.compile(r"\d{3}(\.\d{1,3}){0,2}")
_NVRM = re.compile(r"^NVRM version:.*?\s(\d{3}(?:\.\d{1,3}){0,2})\s", re.M)
_ARCH = re.compile(r"(?:sm_)?(?P<digits>[1-9]\d|1\d\d)|(?P<major>[1-9]\d?)\.(?P<minor>\d)")


def sm(capability: Capability) -> str:
    """``(8, 6)`` -> ``"sm_86"``."""
    return f"sm_{capability[0]}{capability[1]}"


@dataclasses.dataclass(frozen=True, slots=True)
class Gpu:
    name: str
    capability: Capability | None  # None: the driver's nvidia-smi cannot report it


@dataclasses.dataclass(frozen=True, slots=True)
class HostFacts:
    """What envspec knows about this machine's NVIDIA stack, and where each fact came from."""

    driver: str | None
    driver_source: Source
    gpus: tuple[Gpu, ...]
    gpus_source: Source  # "none": no source could list the GPUs (not the same as "there are none")
    machine: str
    notes: tuple[str, ...] = ()


# -- parsers -----------------------------------------------------------------------------------------
def parse_proc_version(text: str) -> str | None:
    """The driver version in ``/proc/driver/nvidia/version`` (proprietary or open kernel module)."""
    found = _NVRM.search(text)
    return found.group(1) if found else None


def smi_rejects_query(output: str) -> bool:
    """Whether nvidia-smi refused a field of the query (drivers before compute_cap existed)."""
    return "is not a valid field to query" in output


def parse_nvidia_smi(text: str) -> tuple[str | None, tuple[Gpu, ...]]:
    """Driver and GPUs from ``--query-gpu=name,driver_version[,compute_cap] --format=csv,noheader``:
    one GPU a line; a capability that is not ``major.minor`` (``[N/A]``) is unknown."""
    driver: str | None = None
    gpus: list[Gpu] = []
    for line in text.splitlines():
        fields = [field.strip() for field in line.split(",")]
        capability = capability_tuple(fields[-1]) if re.fullmatch(r"\d{1,2}\.\d", fields[-1]) else None
        if len(fields) >= 3 and not _DRIVER.fullmatch(fields[-1]):
            fields = fields[:-1]  # the compute_cap column: a number, or [N/A]
        if len(fields) >= 2 and fields[0] and _DRIVER.fullmatch(fields[-1]):
            driver = driver or fields[-1]
            gpus.append(Gpu(", ".join(fields[:-1]), capability))
    return driver, tuple(gpus)


def parse_driver_override(value: str) -> str | None:
    """``ENVSPEC_CUDA_DRIVER``: a driver version, or ``none`` for a machine without a driver."""
    value = value.strip()
    if value.lower() == "none":
        return None
    if not _DRIVER.fullmatch(value):
        raise UsageError(
            f"{DRIVER_VAR}={value!r} is not an NVIDIA driver version",
            hint=f'expected a version such as {DRIVER_VAR}=535.129.03, or "none" for no driver',
        )
    return value


def parse_arch_override(value: str) -> tuple[Capability, ...]:
    """``ENVSPEC_GPU_ARCH``: every GPU's compute capability, comma-separated (``8.6``, ``86`` or
    ``sm_86``), or ``none`` for a machine without a GPU."""
    if value.strip().lower() == "none":
        return ()
    found: list[Capability] = []
    for item in value.split(","):
        match = _ARCH.fullmatch(item.strip())
        if match is None:
            raise UsageError(
                f"{ARCH_VAR}={value!r}: {item.strip()!r} is not a compute capability",
                hint="expected one compute capability per GPU, comma-separated, each 8.6, 86 or sm_86"
                f' (e.g. {ARCH_VAR}=8.0,8.0), or "none" for no GPU',
            )
        digits = match["digits"]
        found.append(
            (int(digits[:-1]), int(digits[-1])) if digits else (int(match["major"]), int(match["minor"]))
        )
    return tuple(found)


# -- the I/O edge ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    output: str  # stdout and stderr together, as nvidia-smi prints its errors on either


Runner = Callable[[Sequence[str]], CommandResult | None]  # None: the command could not run
Reader = Callable[[str], str | None]  # None: no such file, or unreadable


def run_command(argv: Sequence[str]) -> CommandResult | None:
    """Run a command with a short timeout; None when it is missing, hangs or cannot start."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=SMI_TIMEOUT, check=False, errors="replace"
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return CommandResult(done.returncode, done.stdout + done.stderr)


def read_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def detect(
    env: Mapping[str, str],
    run: Runner = run_command,
    read: Reader = read_text,
    machine: str | None = None,
) -> HostFacts:
    """This machine's facts; the overrides in ``env`` win (an empty one counts as unset). Malformed
    overrides raise :class:`UsageError` before anything runs. No driver and no GPU is a valid answer."""
    driver_value, arch_value = env.get(DRIVER_VAR, "").strip(), env.get(ARCH_VAR, "").strip()
    forced_driver = parse_driver_override(driver_value) if driver_value else None
    forced_arch = parse_arch_override(arch_value) if arch_value else None
    machine = machine or platform.machine()
    notes: list[str] = []
    driver: str | None = None
    driver_source: Source = "none"
    gpus: tuple[Gpu, ...] = ()
    gpus_source: Source = "none"
    if not (driver_value and arch_value):
        driver, gpus, listed = _ask_nvidia_smi(run, notes)
        driver_source = "nvidia-smi" if driver else "none"
        gpus_source = "nvidia-smi" if listed else "none"
        if driver is None and not driver_value:
            driver = parse_proc_version(read(PROC_VERSION) or "")
            driver_source = PROC_VERSION if driver else "none"
    if driver_value:
        driver, driver_source = forced_driver, DRIVER_VAR
    if forced_arch is not None:
        gpus = tuple(Gpu(f"GPU {index}", capability) for index, capability in enumerate(forced_arch))
        gpus_source = ARCH_VAR
    return HostFacts(driver, driver_source, gpus, gpus_source, machine, tuple(notes))


def _ask_nvidia_smi(run: Runner, notes: list[str]) -> tuple[str | None, tuple[Gpu, ...], bool]:
    """Driver, GPUs, and whether nvidia-smi answered with a GPU list (possibly empty)."""
    result = run(SMI_QUERY)
    if result is None:
        return None, (), False
    if smi_rejects_query(result.output):
        notes.append(
            "this driver's nvidia-smi cannot report compute capabilities (compute_cap):"
            f" set {ARCH_VAR} to check them"
        )
        result = run(SMI_FALLBACK)
        if result is None:
            return None, (), False
    if result.returncode == 6 or "No devices were found" in result.output:
        return None, (), True
    if result.returncode != 0:
        first = next((line.strip() for line in result.output.splitlines() if line.strip()), "")
        notes.append(f"nvidia-smi failed (exit {result.returncode}): {first}"[:200])
        return None, (), False
    driver, gpus = parse_nvidia_smi(result.output)
    return driver, gpus, True


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
class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


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
        return Finding("build", Status.OK, f"{needs.label} is a CPU build: it needs no driver and no GPU")
    what = ", ".join(gpu.name for gpu in host.gpus) or f"driver {host.driver}"
    better = _alternatives(host, needs)
    return Finding(
        "build",
        Status.WARN,
        f"{needs.label} is a CPU build on a machine with an NVIDIA GPU ({what}): it runs, without the GPU",
        f"to use the GPU, lock a CUDA build: {better}" if better else "to use the GPU, lock a CUDA build",
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
            f"upgrade the driver to {floor} or newer" + (f", or lock {better}" if better else ""),
        )
    above = f"driver {host.driver} ({host.driver_source}) is at or above {floor} (CUDA {family}.x)"
    return Finding("driver", Status.OK, above)


def _range(needs: BuildNeeds) -> str:
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
    low, high = needs.arch_min, needs.arch_max
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
    if (low is not None and cap < low) or (high is not None and cap > high and cap[0] != high[0]):
        better = _alternatives(host, needs)
        beyond = " (PTX JIT to newer GPUs is not counted)" if high is not None and cap > high else ""
        return Finding(
            check,
            Status.FAIL,
            f"{what}; {needs.label} has kernels for {_range(needs)} only{beyond}",
            f"lock {better}" if better else _elsewhere(needs, cap),
        )
    if high is not None and cap > high:
        return Finding(
            check,
            Status.WARN,
            f"{what}, newer than the newest kernels of {needs.label} ({sm(high)}): the {sm(high)} kernels run"
            " on it (same major), and torch warns that the GPU is unsupported",
        )
    if low is None or high is None:
        return Finding(
            check,
            Status.WARN,
            f"{what}; which GPUs {needs.label} has kernels for is not fully known ({_range(needs)})",
            "check torch.cuda.get_arch_list() after installing (envspec verify --gpu)",
        )
    return Finding(check, Status.OK, f"{what}, within the kernels of {needs.label} ({_range(needs)})")
