"""This machine's NVIDIA driver and GPUs: parsers of what nvidia-smi and ``/proc`` say (pure), and
:func:`detect`, the one edge that runs ``nvidia-smi`` and reads ``/proc``. ``ENVSPEC_CUDA_DRIVER`` and
``ENVSPEC_GPU_ARCH`` replace detection (tests, builders without a GPU). :mod:`envspec.hostjudge`
compares these facts with what a torch build needs.
"""

from __future__ import annotations

import dataclasses
import platform
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

from envspec.compat import capability_tuple
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
