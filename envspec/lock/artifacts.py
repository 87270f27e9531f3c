"""Artifacts: which files of a pinned release a target can install (pure).

A target is a Python version and a set of platforms; a wheel fits when one of its tags is among the
target's tags and its ``Requires-Python`` admits the target. An sdist is chosen only where no wheel
fits and the plan allows builds.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from packaging import tags
from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from envspec.platforms import MARKER_ENVIRONMENTS, python_minor, python_tuple

if TYPE_CHECKING:  # types only: emit and verify import this module without the index code
    from envspec.lock.simple import IndexFile

_MANYLINUX = [f"manylinux_2_{minor}" for minor in range(40, 4, -1)]
_LEGACY_LINUX = {"x86_64": ["manylinux2014", "manylinux2010", "manylinux1"], "aarch64": ["manylinux2014"]}
_MACOS_MINORS = [(11 + i, 0) for i in range(6)][::-1] + [(10, minor) for minor in range(16, 3, -1)]


class NoArtifactError(Exception):
    """No file of a pinned release fits a target platform."""


def platform_tags(platform: str) -> list[str]:
    """The platform parts of wheel tags that install on ``platform``, most specific first."""
    system, machine = platform.split("-", 1)
    if system == "linux":
        return [f"{tag}_{machine}" for tag in [*_MANYLINUX, *_LEGACY_LINUX[machine]]] + [f"linux_{machine}"]
    if system == "macos":
        arches = (
            ["arm64", "universal2"] if machine == "arm64" else ["x86_64", "intel", "universal2", "universal"]
        )
        return [f"macosx_{major}_{minor}_{arch}" for major, minor in _MACOS_MINORS for arch in arches]
    return ["win_amd64"]


@functools.cache
def target_tags(python: str, platform: str) -> frozenset[tags.Tag]:
    major, minor = python_tuple(python)
    version = (major, minor)
    interpreter = f"cp{major}{minor}"
    platforms = platform_tags(platform)
    found = set(tags.cpython_tags(version, abis=[interpreter], platforms=platforms))
    found.update(tags.compatible_tags(version, interpreter, platforms))
    return frozenset(found)


def marker_environment(python: str, platform: str) -> dict[str, str]:
    minor = python_minor(python)
    return {
        **MARKER_ENVIRONMENTS[platform],
        "python_version": minor,
        "python_full_version": python if python.count(".") == 2 else f"{minor}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
        "extra": "",
    }


def marker_platforms(marker: str | None, python: str, platforms: Iterable[str]) -> tuple[str, ...]:
    """The platforms on which a requirement marker holds."""
    if not marker:
        return tuple(platforms)
    parsed = Marker(marker)
    return tuple(p for p in platforms if parsed.evaluate(marker_environment(python, p)))


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    files: tuple[IndexFile, ...]
    sdist: bool


def _admits(file: IndexFile, python: str) -> bool:
    """Whether a file's Requires-Python admits the target: ``"3.11"`` means any 3.11.x release,
    so ``>=3.11.5`` admits it (the resolver running on 3.11.7 chose such files too)."""
    if not file.requires_python:
        return True
    patches = [python] if python.count(".") == 2 else [f"{python}.0", f"{python}.99"]
    try:
        specifier = SpecifierSet(file.requires_python)
        return any(Version(p) in specifier for p in patches)
    except (InvalidSpecifier, InvalidVersion):
        return True


def choose_files(
    name: NormalizedName,
    version: str,
    files: Iterable[IndexFile],
    python: str,
    platforms: Iterable[str],
    *,
    allow_builds: bool,
) -> Choice:
    """The files of ``name==version`` to lock: every wheel that fits a platform, else one sdist."""
    wanted = Version(version)
    wheels: dict[str, IndexFile] = {}
    sdists: list[IndexFile] = []
    for file in files:
        try:
            if file.filename.endswith(".whl"):
                _, file_version, _, _ = parse_wheel_filename(file.filename)
                if file_version == wanted and _admits(file, python):
                    wheels[file.filename] = file
            elif file.filename.endswith((".tar.gz", ".zip")):
                _, file_version = parse_sdist_filename(file.filename)
                if file_version == wanted:
                    sdists.append(file)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
    chosen: dict[str, IndexFile] = {}
    missing: list[str] = []
    for platform in platforms:
        accepted = target_tags(python, platform)
        fitting = [f for f in wheels.values() if parse_wheel_filename(f.filename)[3] & accepted]
        if not fitting:
            missing.append(platform)
        chosen.update((f.filename, f) for f in fitting)
    if missing:
        if allow_builds and sdists:
            return Choice(tuple(sorted([*chosen.values(), sdists[0]], key=lambda f: f.filename)), sdist=True)
        what = "wheel" + (" or sdist" if allow_builds else "")
        raise NoArtifactError(
            f"{name}=={version} has no {what} for Python {python} on {', '.join(missing)}"
            + (
                ""
                if allow_builds or not sdists
                else " (only an sdist; set [packages] allow_builds = true to build it)"
            )
        )
    return Choice(tuple(sorted(chosen.values(), key=lambda f: f.filename)), sdist=False)
