"""Check envspec's compat data against package-index metadata and, with ``--write``, update it.

Run as ``python -m envspec.compat_refresh``. Parsing index pages, deriving facts, comparing them with the
data and editing the TOML document are pure functions; HTTP, subprocesses and files are touched only by
the functions at the bottom of the module.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import pydantic
import requests
import tomlkit
import tomlkit.exceptions
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
from tomlkit.container import Container
from tomlkit.items import InlineTable, Item, Table
from tomlkit.toml_document import TOMLDocument

from envspec.compat import Compat, parse_compat
from envspec.errors import EnvspecError, ExitCode
from envspec.fsio import write_atomic
from envspec.simple import ACCEPT, IndexFile, IndexPageError, parse_index_page

COMPANIONS: Final = ("torchvision", "torchaudio")
"""The packages released in lockstep with torch whose versions the data file records."""

PYTHON_MINORS: Final = range(8, 16)
"""CPython 3.8 .. 3.15: the interpreters whose wheel tags count."""

_CPYTHON_TAG: Final = re.compile(r"cp3(\d{1,2})")
_CUDA_LABEL: Final = re.compile(r"cu\d{3,}")


class RefreshError(EnvspecError):
    """Bad input: an index that cannot be read, a page or data file that makes no sense."""


# -- index pages -> files ----------------------------------------------------------------------------


# -- files -> facts ----------------------------------------------------------------------------------


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


def _is_final(version: Version) -> bool:
    return not (version.is_prerelease or version.is_devrelease)


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
    for file in files:
        parsed = None if file.yanked else _parse_filename(file.filename)
        if parsed is None or not _is_final(parsed[0]):
            continue
        pythons = found.setdefault(parsed[0].public, set())
        pythons.update(python for python in map(python_of_tag, parsed[1]) if python is not None)
    return {release: frozenset(pythons) for release, pythons in found.items()}


def torch_variant_facts(files: Iterable[IndexFile]) -> dict[str, frozenset[str]]:
    """Final torch release -> its builds on the PyTorch index (``cpu`` and ``cuXYZ`` local labels)."""
    found: dict[str, set[str]] = {}
    for file in files:
        parsed = None if file.yanked else _parse_filename(file.filename)
        if parsed is None or not _is_final(parsed[0]):
            continue
        label = parsed[0].local
        if label is not None and (label == "cpu" or _CUDA_LABEL.fullmatch(label)):
            found.setdefault(parsed[0].public, set()).add(label)
    return {release: frozenset(labels) for release, labels in found.items()}


def companion_candidates(
    files: Iterable[IndexFile], floor: Version | None
) -> tuple[dict[str, IndexFile], tuple[str, ...]]:
    """For each final release at or above ``floor``: one file whose core metadata the index serves.

    Returns that mapping and, sorted, the releases for which no file has served metadata.
    """
    by_release: dict[str, list[IndexFile]] = {}
    versions: dict[str, Version] = {}
    for file in files:
        parsed = None if file.yanked else _parse_filename(file.filename)
        if parsed is None or not _is_final(parsed[0]) or (floor is not None and parsed[0] < floor):
            continue
        release = parsed[0].public
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


def companion_floor(compat: Compat, name: str) -> Version | None:
    """The oldest companion release the data records: older ones need no metadata look-up."""
    found = [
        Version(value)
        for series in compat.torch.values()
        for companions in series.releases.values()
        if (value := getattr(companions, name)) is not None
    ]
    return min(found) if found else None


# -- facts + data -> differences ---------------------------------------------------------------------


class Kind(enum.StrEnum):
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


def _series_of(version: Version) -> str:
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
            name = _series_of(version)
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
    members = [release for release, version in in_scope.items() if _series_of(version) == name]
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
        return _series_of(Version(release)) == series
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
        series = _series_of(Version(release))
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


# -- differences -> tomlkit document -----------------------------------------------------------------


def _newline(doc: TOMLDocument) -> str:
    return "\r\n" if "\r\n" in doc.as_string() else "\n"


def _fresh_item(source: str, newline: str) -> Item:
    """A tomlkit item rendered exactly as ``source`` (a TOML value) is written."""
    item = tomlkit.parse(f"x = {source}\n").item("x")
    if not isinstance(item, Item):  # pragma: no cover - a plain value is always an Item
        raise TypeError(source)
    item.trivia.trail = newline
    return item


def _array_source(values: Sequence[str]) -> str:
    return "[" + ", ".join(tomlkit.string(value).as_string() for value in values) + "]"


def _inline_source(values: Mapping[str, str]) -> str:
    if not values:
        return "{}"
    return (
        "{ "
        + ", ".join(f"{key} = {tomlkit.string(value).as_string()}" for key, value in values.items())
        + " }"
    )


def _release_holders(series: Table) -> list[Table | InlineTable]:
    """The tables that hold a series' ``releases."X"`` entries, in file order."""
    holders: list[Table | InlineTable] = []
    for key, value in series.value.body:
        if key is not None and key.key == "releases" and isinstance(value, (Table, InlineTable)):
            holders.append(value)
    return holders


def _set_release(series: Table, release: str, item: Item) -> None:
    holders = _release_holders(series)
    for holder in holders:
        if release in holder:
            holder[release] = item
            return
    if holders:
        holders[-1].append(release, item)
    else:
        series.append(tomlkit.key(["releases", release]), item)


def _companion_values(series: Table, release: str) -> dict[str, str]:
    for holder in _release_holders(series):
        if release in holder:
            current = holder[release]
            if isinstance(current, (Table, InlineTable)):
                return {str(k): str(v) for k, v in current.unwrap().items()}
    return {}


def _series_table(doc: TOMLDocument, name: str) -> Table:
    torch = doc.get("torch")
    series = torch.get(name) if isinstance(torch, (Table, Container)) else None
    if not isinstance(series, Table):
        raise RefreshError(f"the data file has no [torch.{json.dumps(name)}] table")
    return series


def apply_differences(doc: TOMLDocument, differences: Iterable[Difference]) -> list[Difference]:
    """Write the applicable differences into ``doc`` (edited in place); return those applied.

    Only the values that change are replaced, so comments and layout elsewhere survive; a new release
    is added after the last release of its series.
    """
    newline = _newline(doc)
    applied: list[Difference] = []
    pending = [difference for difference in differences if difference.applicable]
    companions: dict[str, dict[str, str | None]] = {}
    for difference in pending:
        if difference.kind is Kind.COMPANION and difference.release is not None:
            companions.setdefault(difference.release, {})[difference.field] = (
                difference.new if isinstance(difference.new, str) else None
            )

    for difference in pending:
        series = _series_table(doc, difference.series)
        if difference.kind in (Kind.PYTHON, Kind.VARIANTS) and isinstance(difference.new, tuple):
            series[difference.field] = _fresh_item(_array_source(difference.new), newline)
            applied.append(difference)
        elif difference.kind is Kind.UNKNOWN_RELEASE and difference.release is not None:
            changes = companions.pop(difference.release, {})
            first = {name: value for name in COMPANIONS if (value := changes.get(name)) is not None}
            _set_release(series, difference.release, _fresh_item(_inline_source(first), newline))
            applied.append(difference)
            applied.extend(
                other
                for other in pending
                if other.kind is Kind.COMPANION and other.release == difference.release
            )

    for release, changes in companions.items():
        series = _series_table(doc, _series_of(Version(release)))
        merged: dict[str, str | None] = dict(_companion_values(series, release))
        merged.update(changes)
        kept = {name: value for name, value in merged.items() if value is not None}
        _set_release(series, release, _fresh_item(_inline_source(kept), newline))
        applied.extend(
            other for other in pending if other.kind is Kind.COMPANION and other.release == release
        )
    applied.sort(key=Difference.sort_key)
    return applied


# -- rendering ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """A finished run: what was compared with what, what was found, and what was written."""

    data: str
    index_url: str
    torch_index: str | None
    report: Report
    written: str | None = None
    applied: tuple[Difference, ...] = ()
    remaining: tuple[Difference, ...] | None = None  # after --write: what the new file still lacks

    @property
    def open_differences(self) -> tuple[Difference, ...]:
        return self.report.differences if self.remaining is None else self.remaining


def render_text(outcome: Outcome) -> str:
    lines = [
        f"compat data: {outcome.data}",
        f"default index: {outcome.index_url}",
        f"PyTorch index: {outcome.torch_index or '(not given)'}",
    ]
    differences = outcome.report.differences
    if differences:
        lines.append(f"{len(differences)} difference{'s' if len(differences) != 1 else ''}:")
        lines.extend(f"  {difference.message()}" for difference in differences)
    else:
        lines.append("the data agrees with the indexes")
    if outcome.report.notes:
        lines.append("notes:")
        lines.extend(f"  {note}" for note in outcome.report.notes)
    if outcome.written is not None:
        lines.append(f"wrote {outcome.written}: {len(outcome.applied)} of {len(differences)} applied")
        lines.extend(f"  not applied: {difference.message()}" for difference in outcome.open_differences)
    return "\n".join(lines) + "\n"


def render_json(outcome: Outcome) -> str:
    document = {
        "data": outcome.data,
        "index_url": outcome.index_url,
        "torch_index": outcome.torch_index,
        "status": "differs" if outcome.open_differences else "agrees",
        "differences": [difference.to_json() for difference in outcome.report.differences],
        "notes": list(outcome.report.notes),
        "written": outcome.written,
        "applied": [difference.to_json() for difference in outcome.applied],
        "not_applied": [difference.to_json() for difference in outcome.open_differences]
        if outcome.written is not None
        else [],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


# -- edges: processes, HTTP, files -------------------------------------------------------------------


def _command_output(command: Sequence[str], timeout: float) -> str | None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    try:
        result = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except (OSError, subprocess.SubprocessError):
        return None
    output = result.stdout.strip()
    return output if result.returncode == 0 and output else None


def default_index_url(timeout: float = 30.0) -> str:
    """The installer's index: pip's configured ``global.index-url``, else pip's built-in default."""
    configured = _command_output([sys.executable, "-m", "pip", "config", "get", "global.index-url"], timeout)
    if configured:
        return configured.splitlines()[-1].strip()
    builtin = _command_output(
        [sys.executable, "-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"], timeout
    )
    if builtin:
        return builtin.splitlines()[-1].strip()
    raise RefreshError("no --index-url given and pip did not name a default index; pass --index-url")


def _reason(exc: BaseException) -> str:
    """The innermost OS-level cause of a failed request, in words (``connection refused``)."""
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror[0].lower() + current.strerror[1:]
        queue.extend(arg for arg in current.args if isinstance(arg, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            queue.append(reason)
        queue.extend(link for link in (current.__cause__, current.__context__) if link is not None)
    return type(exc).__name__


def _get(session: requests.Session, url: str, accept: str, timeout: float) -> requests.Response:
    try:
        response = session.get(url, headers={"Accept": accept}, timeout=timeout)
    except requests.Timeout:
        raise RefreshError(f"cannot read {url}: no answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise RefreshError(f"cannot read {url}: {_reason(exc)}") from None
    if response.status_code != 200:
        raise RefreshError(f"cannot read {url}: HTTP {response.status_code} {response.reason}".rstrip())
    return response


def project_url(index_url: str, project: str) -> str:
    return index_url.rstrip("/") + "/" + canonicalize_name(project) + "/"


def fetch_project(session: requests.Session, index_url: str, project: str, timeout: float) -> list[IndexFile]:
    response = _get(session, project_url(index_url, project), ACCEPT, timeout)
    return parse_index_page(response.content, response.headers.get("Content-Type", ""), response.url)


def fetch_metadata(session: requests.Session, file: IndexFile, timeout: float) -> str:
    response = _get(session, file.metadata_url, "*/*", timeout)
    if file.metadata_hash is not None and file.metadata_hash[0] in hashlib.algorithms_available:
        algorithm, expected = file.metadata_hash
        if hashlib.new(algorithm, response.content).hexdigest() != expected:
            raise RefreshError(f"{file.metadata_url}: {algorithm} does not match the index page")
    return response.content.decode("utf-8", errors="replace")


def gather_facts(compat: Compat, index_url: str, torch_index: str | None, timeout: float) -> IndexFacts:
    """Read everything the comparison needs from the indexes (the only place that does HTTP)."""
    with requests.Session() as session:
        session.trust_env = False  # no proxies, netrc or CA bundles from the environment
        session.headers["User-Agent"] = "envspec-compat-refresh"
        pythons = torch_python_facts(fetch_project(session, index_url, "torch", timeout))
        variants = (
            torch_variant_facts(fetch_project(session, torch_index, "torch", timeout))
            if torch_index
            else None
        )
        companions: dict[str, CompanionFacts] = {}
        for name in COMPANIONS:
            files = fetch_project(session, index_url, name, timeout)
            chosen, missing = companion_candidates(files, companion_floor(compat, name))
            pins = {
                release: torch_pin(fetch_metadata(session, file, timeout)) for release, file in chosen.items()
            }
            companions[name] = CompanionFacts(pins, missing)
    return IndexFacts(pythons, variants, companions)


def _read_data(path: Path | None) -> tuple[str, str]:
    """The data file's label and text (the shipped file when no path is given)."""
    if path is None:
        source = resources.files("envspec").joinpath("data/compat.toml")
        return "the shipped compat data", source.read_bytes().decode("utf-8")
    try:
        return str(path), path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RefreshError(f"cannot read the data file {path}: {exc}") from None


def _http_url(value: str, flag: str) -> str:
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise RefreshError(f"{flag} {value!r} is not an http(s) URL")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m envspec.compat_refresh",
        description="Check envspec's compat data against package-index metadata; --write applies it.",
    )
    parser.add_argument(
        "--index-url",
        metavar="URL",
        help="the default index (a simple repository); without it, the one pip is configured to use",
    )
    parser.add_argument(
        "--torch-index",
        metavar="URL",
        help="the PyTorch index whose torch/ page lists the +cpu/+cuXYZ builds (else variants go unchecked)",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        type=Path,
        help="the compat data file to check (default: the --write file, else the shipped data)",
    )
    parser.add_argument(
        "--write", metavar="PATH", type=Path, help="write the updated data here (atomically, layout kept)"
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=30.0, help="per-request timeout (default 30)"
    )
    return parser


def run(args: argparse.Namespace) -> tuple[Outcome, int]:
    data_path: Path | None = args.data or args.write
    label, text = _read_data(data_path)
    try:
        compat = parse_compat(text)
        doc = tomlkit.parse(text)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or '(top)'}: {error['msg']}" for error in exc.errors()
        )
        raise RefreshError(f"{label} is not valid compat data: {problems}") from None
    except (tomllib.TOMLDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
        raise RefreshError(f"{label} is not valid TOML: {exc}") from None
    index_url = _http_url(args.index_url or default_index_url(args.timeout), "--index-url")
    torch_index = _http_url(args.torch_index, "--torch-index") if args.torch_index else None

    facts = gather_facts(compat, index_url, torch_index, args.timeout)
    report = compare(compat, facts)
    outcome = Outcome(label, index_url, torch_index, report)
    if args.write is not None:
        applied = apply_differences(doc, report.differences)
        new_text = doc.as_string()
        try:
            updated = parse_compat(new_text)
        except (tomllib.TOMLDecodeError, pydantic.ValidationError) as exc:  # pragma: no cover - a bug
            raise RuntimeError(f"the updated data would be invalid: {exc}") from exc
        target: Path = args.write
        try:
            if not (target.is_file() and target.read_bytes() == new_text.encode("utf-8")):
                write_atomic(target, new_text.encode("utf-8"))
        except OSError as exc:
            raise RefreshError(f"cannot write {target}: {exc}") from None
        remaining = compare(updated, facts).differences
        outcome = dataclasses.replace(
            outcome, written=str(target), applied=tuple(applied), remaining=remaining
        )
    code = ExitCode.DIFFERS if outcome.open_differences else ExitCode.OK
    return outcome, int(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        outcome, code = run(args)
    except (RefreshError, IndexPageError) as exc:
        if args.json:
            sys.stdout.write(json.dumps({"status": "error", "error": str(exc)}, indent=2) + "\n")
        else:
            sys.stderr.write(f"error: {exc}\n")
        return int(ExitCode.INVALID)
    sys.stdout.write(render_json(outcome) if args.json else render_text(outcome))
    return code


if __name__ == "__main__":
    sys.exit(main())
