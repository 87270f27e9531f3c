"""Hold index facts against the compat data: every difference, sorted, and notes on what was kept."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from packaging.version import InvalidVersion, Version

from envspec.compat import Compat
from tools.compat_refresh.facts import COMPANIONS, CompanionFacts, IndexFacts


class Kind(enum.StrEnum):
    """What a difference is about; the order of the members is the order of the report."""

    UNKNOWN_RELEASE = "unknown-release"
    PYTHON = "python"
    VARIANTS = "variants"
    COMPANION = "companion"


_KIND_ORDER: Final = {kind: index for index, kind in enumerate(Kind)}

Value = str | tuple[str, ...] | None


@dataclasses.dataclass(frozen=True, slots=True)
class Difference:
    """One value of the data file that the indexes contradict or lack."""

    kind: Kind
    series: str
    release: str | None  # None for a series-wide field
    field: str  # "python", "variants", "releases", or a companion name
    old: Value
    new: Value
    applicable: bool = True  # --write can apply it (False: a release of a series not in the data)

    def sort_key(self) -> tuple[Version, Version, int, str]:
        release = Version(self.release) if self.release else Version("0")
        return Version(self.series), release, _KIND_ORDER[self.kind], self.field

    def message(self) -> str:
        if self.kind is Kind.UNKNOWN_RELEASE:
            where = (
                f"series {self.series}"
                if self.applicable
                else f"series {self.series} is not in the data; add the series by hand"
            )
            return f"unknown release {self.release} ({where})"
        if self.kind is Kind.COMPANION:
            return f"torch {self.release} {self.field}: {_show(self.old)} -> {_show(self.new)}"
        old = set(self.old or ())
        new = set(self.new or ())
        parts = []
        if added := new - old:
            parts.append("added " + ", ".join(_sorted_values(self.field, added)))
        if removed := old - new:
            parts.append("removed " + ", ".join(_sorted_values(self.field, removed)))
        return f"torch {self.series} {self.field}: {'; '.join(parts)} (now {_show(self.new)})"

    def to_json(self) -> dict[str, object]:
        def plain(value: Value) -> object:
            return list(value) if isinstance(value, tuple) else value

        return {
            "kind": str(self.kind),
            "series": self.series,
            "release": self.release,
            "field": self.field,
            "old": plain(self.old),
            "new": plain(self.new),
            "applicable": self.applicable,
            "message": self.message(),
        }


def _show(value: Value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(none)"
    return value


def _variant_key(variant: str) -> tuple[int, int, str]:
    digits = variant[2:] if variant.startswith("cu") else ""
    return (0, 0, variant) if variant == "cpu" else (1, int(digits) if digits.isdigit() else 0, variant)


def _sorted_values(field: str, values: Iterable[str]) -> tuple[str, ...]:
    """Python versions in version order; variants as ``cpu`` then CUDA builds oldest first."""
    if field == "python":
        return tuple(sorted(values, key=Version))
    return tuple(sorted(values, key=_variant_key))


def series_of(version: Version) -> str:
    """The series a release belongs to: ``2.1.3`` -> ``"2.1"``."""
    return f"{version.major}.{version.minor}"


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """The outcome of a comparison: differences (sorted) and notes on what was not checked."""

    differences: tuple[Difference, ...]
    notes: tuple[str, ...]


def compare(compat: Compat, facts: IndexFacts) -> Report:
    """Every difference between the data and the index facts, sorted, plus notes on what was kept."""
    notes: list[str] = []
    in_scope = _releases_in_scope(compat, facts, notes)
    differences = _release_differences(compat, in_scope)
    new_releases = [d.release for d in differences if d.applicable and d.release is not None]
    for name in sorted(compat.torch, key=Version):
        differences.extend(_series_differences(compat, name, facts, in_scope, notes))
    if facts.variants is None:
        notes.append("no PyTorch index given (--torch-index): variants not checked")
    for companion in COMPANIONS:
        companion_facts = facts.companions.get(companion)
        if companion_facts is None:
            notes.append(f"{companion}: not checked")
            continue
        differences.extend(_companion_differences(compat, companion, companion_facts, new_releases))
        notes.extend(_companion_notes(compat, companion, companion_facts))
    differences.sort(key=Difference.sort_key)
    return Report(tuple(differences), tuple(dict.fromkeys(notes)))


def _releases_in_scope(compat: Compat, facts: IndexFacts, notes: list[str]) -> dict[str, Version]:
    """The index's torch releases from the data's oldest series on (older ones are out of scope)."""
    floors = [Version(name).release[:2] for name in compat.torch]
    oldest = min(floors) if floors else None
    in_scope: dict[str, Version] = {}
    ignored = 0
    for release in facts.pythons:
        version = Version(release)
        if oldest is not None and version.release[:2] < oldest:
            ignored += 1
        else:
            in_scope[release] = version
    if ignored and oldest is not None:
        series = ".".join(map(str, oldest))
        plural = "s" if ignored != 1 else ""
        notes.append(f"torch: ignored {ignored} older release{plural} (the data starts at series {series})")
    return dict(sorted(in_scope.items(), key=lambda item: item[1]))


def _release_differences(compat: Compat, in_scope: Mapping[str, Version]) -> list[Difference]:
    known = {release for series in compat.torch.values() for release in series.releases}
    differences: list[Difference] = []
    for release, version in in_scope.items():
        if release not in known:
            name = series_of(version)
            applicable = name in compat.torch
            differences.append(
                Difference(Kind.UNKNOWN_RELEASE, name, release, "releases", None, release, applicable)
            )
    return differences


def _series_differences(
    compat: Compat, name: str, facts: IndexFacts, in_scope: Mapping[str, Version], notes: list[str]
) -> list[Difference]:
    """The python and variants differences of one series.

    A series' ``python`` is the union of the CPython versions of its releases' wheels, and its
    ``variants`` the union of its releases' builds on the PyTorch index.
    """
    series = compat.torch[name]
    differences: list[Difference] = []
    members = [release for release, version in in_scope.items() if series_of(version) == name]
    notes.extend(
        f"torch {release} is in the data but not on the default index"
        for release in sorted(set(series.releases) - set(in_scope), key=Version)
    )
    pythons: set[str] = set().union(*(facts.pythons[release] for release in members))
    if not members:
        notes.append(f"torch {name}: no release on the default index; python kept")
    elif not pythons:
        notes.append(f"torch {name}: no CPython wheels on the default index; python kept")
    elif pythons != set(series.python):
        new = _sorted_values("python", pythons)
        differences.append(Difference(Kind.PYTHON, name, None, "python", series.python, new))
    if facts.variants is not None:
        variants: set[str] = set().union(
            *(labels for release, labels in facts.variants.items() if _belongs(release, name))
        )
        if not variants:
            notes.append(f"torch {name}: no cpu/CUDA builds on the PyTorch index; variants kept")
        elif variants != set(series.variants):
            new = _sorted_values("variants", variants)
            differences.append(Difference(Kind.VARIANTS, name, None, "variants", series.variants, new))
    return differences


def _belongs(release: str, series: str) -> bool:
    try:
        return series_of(Version(release)) == series
    except InvalidVersion:
        return False


def _companion_differences(
    compat: Compat, name: str, facts: CompanionFacts, new_releases: Sequence[str]
) -> list[Difference]:
    best: dict[str, tuple[Version, str]] = {}
    for companion, pin in facts.pins.items():
        if pin is not None and (pin not in best or Version(companion) > best[pin][0]):
            best[pin] = (Version(companion), companion)

    current: dict[str, str | None] = dict.fromkeys(new_releases)
    for torch_series in compat.torch.values():
        for release, companions in torch_series.releases.items():
            current[release] = getattr(companions, name)

    differences: list[Difference] = []
    for release, value in current.items():
        series = series_of(Version(release))
        wanted = best[release][1] if release in best else None
        if wanted is not None and wanted != value:
            differences.append(Difference(Kind.COMPANION, series, release, name, value, wanted))
        elif wanted is None and value is not None and facts.pins.get(value) not in (None, release):
            # The recorded companion's own metadata pins another torch release.
            differences.append(Difference(Kind.COMPANION, series, release, name, value, None))
    return differences


def _companion_notes(compat: Compat, name: str, facts: CompanionFacts) -> list[str]:
    notes: list[str] = []
    if facts.without_metadata and not facts.pins:
        notes.append(
            f"{name}: the index serves no core metadata (PEP 658); kept the data file's {name} values"
        )
    else:
        notes.extend(
            f"{name} {release}: no core metadata on the index; kept the data file's value"
            for release in facts.without_metadata
        )
    recorded = {
        value
        for series in compat.torch.values()
        for companions in series.releases.values()
        if (value := getattr(companions, name)) is not None
    }
    unpinned = sorted(
        (release for release, pin in facts.pins.items() if pin is None and release in recorded), key=Version
    )
    notes.extend(f"{name} {release}: its metadata pins no exact torch release; kept" for release in unpinned)
    return notes
