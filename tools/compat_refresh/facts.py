"""Derive facts from index files: each torch release's CPython wheels and builds, and companion pins."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Final

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from envspec.compat import Compat
from envspec.lock.simple import IndexFile

COMPANIONS: Final = ("torchvision", "torchaudio")
"""The packages released in lockstep with torch whose versions the data file records."""

PYTHON_MINORS: Final = range(8, 16)
"""CPython 3.8 .. 3.15: the interpreters whose wheel tags count."""

_CPYTHON_TAG: Final = re.compile(r"cp3(\d{1,2})")
_CUDA_LABEL: Final = re.compile(r"cu\d{3,}")


@dataclasses.dataclass(frozen=True, slots=True)
class CompanionFacts:
    """What the index says about one companion package."""

    pins: Mapping[str, str | None]  # companion release -> torch release its metadata pins (None: no pin)
    without_metadata: tuple[str, ...] = ()  # companion releases whose metadata the index does not serve


@dataclasses.dataclass(frozen=True, slots=True)
class IndexFacts:
    """Everything read from the indexes, ready to compare with the data file."""

    pythons: Mapping[str, frozenset[str]]  # torch release -> CPython versions with wheels
    variants: Mapping[str, frozenset[str]] | None  # torch release -> builds; None: no PyTorch index
    companions: Mapping[str, CompanionFacts]  # companion name -> facts; absent: not checked


def _parse_filename(filename: str) -> tuple[Version, frozenset[Tag]] | None:
    """Version and tags of a wheel or sdist name; None for anything else."""
    try:
        if filename.endswith(".whl"):
            _name, version, _build, tags = parse_wheel_filename(filename)
            return version, tags
        if filename.endswith((".tar.gz", ".zip")):
            _name, version = parse_sdist_filename(filename)
            return version, frozenset()
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


def _final_releases(files: Iterable[IndexFile]) -> Iterable[tuple[IndexFile, Version, frozenset[Tag]]]:
    """The files of final (not pre-, not dev-) releases that are not yanked, with version and tags."""
    for file in files:
        parsed = None if file.yanked else _parse_filename(file.filename)
        if parsed is not None and not (parsed[0].is_prerelease or parsed[0].is_devrelease):
            yield file, parsed[0], parsed[1]


def python_of_tag(tag: Tag) -> str | None:
    """``cp311-cp311-*`` -> ``"3.11"``; None for abi3, free-threaded, PyPy and out-of-range tags."""
    match = _CPYTHON_TAG.fullmatch(tag.interpreter)
    if match is None or tag.abi != tag.interpreter:
        return None
    minor = int(match.group(1))
    return f"3.{minor}" if minor in PYTHON_MINORS else None


def torch_python_facts(files: Iterable[IndexFile]) -> dict[str, frozenset[str]]:
    """Final torch release -> CPython versions with wheels (empty when only other files exist)."""
    found: dict[str, set[str]] = {}
    for _file, version, tags in _final_releases(files):
        pythons = found.setdefault(version.public, set())
        pythons.update(python for python in map(python_of_tag, tags) if python is not None)
    return {release: frozenset(pythons) for release, pythons in found.items()}


def torch_variant_facts(files: Iterable[IndexFile]) -> dict[str, frozenset[str]]:
    """Final torch release -> its builds on the PyTorch index (``cpu`` and ``cuXYZ`` local labels)."""
    found: dict[str, set[str]] = {}
    for _file, version, _tags in _final_releases(files):
        label = version.local
        if label is not None and (label == "cpu" or _CUDA_LABEL.fullmatch(label)):
            found.setdefault(version.public, set()).add(label)
    return {release: frozenset(labels) for release, labels in found.items()}


def companion_candidates(
    files: Iterable[IndexFile], floor: Version | None
) -> tuple[dict[str, IndexFile], tuple[str, ...]]:
    """For each final release at or above ``floor``: one file whose core metadata the index serves.

    Returns that mapping and, sorted, the releases for which no file has served metadata.
    """
    by_release: dict[str, list[IndexFile]] = {}
    versions: dict[str, Version] = {}
    for file, version, _tags in _final_releases(files):
        if floor is not None and version < floor:
            continue
        release = version.public
        versions[release] = Version(release)
        by_release.setdefault(release, []).append(file)
    chosen: dict[str, IndexFile] = {}
    missing: list[str] = []
    for release in sorted(by_release, key=versions.__getitem__):
        served = sorted((file for file in by_release[release] if file.metadata), key=lambda f: f.filename)
        if served:
            chosen[release] = served[0]
        else:
            missing.append(release)
    return chosen, tuple(missing)


def torch_pin(metadata: str) -> str | None:
    """The torch release a core-metadata document pins with ``Requires-Dist: torch==X`` (else None)."""
    raw, _unparsed = parse_email(metadata)
    pins: set[str] = set()
    for line in raw.get("requires_dist", []):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != "torch":
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        specifiers = list(requirement.specifier)
        if (
            len(specifiers) != 1
            or specifiers[0].operator not in ("==", "===")
            or "*" in specifiers[0].version
        ):
            return None
        try:
            pins.add(Version(specifiers[0].version).public)
        except InvalidVersion:
            return None
    return pins.pop() if len(pins) == 1 else None


def companion_floor(compat: Compat, name: str) -> Version | None:
    """The oldest companion release the data records: older ones need no metadata look-up."""
    found = [
        Version(value)
        for series in compat.torch.values()
        for companions in series.releases.values()
        if (value := getattr(companions, name)) is not None
    ]
    return min(found) if found else None
