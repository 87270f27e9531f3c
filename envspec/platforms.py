"""Platforms: the one table of what envspec's platform names mean to markers, uv, conda and images.

Every module that needs to know what ``linux-x86_64`` is (its marker environment, uv's target triple,
conda's subdir, which platform an installer on Linux gets) reads it here; nothing else spells it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

Platform = Literal["linux-x86_64", "linux-aarch64", "macos-arm64", "macos-x86_64", "windows-x86_64"]
PLATFORMS: tuple[Platform, ...] = (
    "linux-x86_64",
    "linux-aarch64",
    "macos-arm64",
    "macos-x86_64",
    "windows-x86_64",
)

# The platform a Linux install (bootstrap.sh, the conda pip section, an image) takes its pins from
# when the lock holds it; otherwise the lock's first platform.
INSTALL_PLATFORM: Platform = "linux-x86_64"


def _posix(system: str, sys_platform: str, machine: str) -> Mapping[str, str]:
    return {
        "sys_platform": sys_platform,
        "platform_system": system,
        "platform_machine": machine,
        "os_name": "posix",
    }


# PEP 508 marker values of each platform (those that do not depend on the Python version).
MARKER_ENVIRONMENTS: Mapping[str, Mapping[str, str]] = {
    "linux-x86_64": _posix("Linux", "linux", "x86_64"),
    "linux-aarch64": _posix("Linux", "linux", "aarch64"),
    "macos-arm64": _posix("Darwin", "darwin", "arm64"),
    "macos-x86_64": _posix("Darwin", "darwin", "x86_64"),
    "windows-x86_64": {
        "sys_platform": "win32",
        "platform_system": "Windows",
        "platform_machine": "AMD64",
        "os_name": "nt",
    },
}

# uv's --python-platform target for each platform (glibc 2.28 is torch's floor from 2.7 on).
UV_TARGETS: Mapping[str, str] = {
    "linux-x86_64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "macos-arm64": "aarch64-apple-darwin",
    "macos-x86_64": "x86_64-apple-darwin",
    "windows-x86_64": "x86_64-pc-windows-msvc",
}

# conda's subdir for each platform.
CONDA_SUBDIRS: Mapping[str, str] = {
    "linux-x86_64": "linux-64",
    "linux-aarch64": "linux-aarch64",
    "macos-arm64": "osx-arm64",
    "macos-x86_64": "osx-64",
    "windows-x86_64": "win-64",
}

# (sys.platform, platform.machine()) of the hosts a resolver can lock natively for.
HOSTS: Mapping[tuple[str, str], str] = {
    ("linux", "x86_64"): "linux-x86_64",
    ("linux", "aarch64"): "linux-aarch64",
}


def python_minor(version: str) -> str:
    """``3.11`` for ``3.11`` and ``3.11.7``."""
    return ".".join(version.split(".")[:2])


def python_tuple(version: str) -> tuple[int, int]:
    """``(3, 11)`` for ``3.11`` and ``3.11.7``."""
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def install_platform(platforms: Iterable[str]) -> str:
    """The platform whose pins an install on Linux takes: linux-x86_64 when locked, else the first."""
    found = tuple(platforms)
    return INSTALL_PLATFORM if INSTALL_PLATFORM in found or not found else found[0]


def environment_marker(platform: str) -> str:
    """The PEP 751 ``environments`` entry of a platform: its sys_platform and machine."""
    env = MARKER_ENVIRONMENTS[platform]
    return f"sys_platform == '{env['sys_platform']}' and platform_machine == '{env['platform_machine']}'"
