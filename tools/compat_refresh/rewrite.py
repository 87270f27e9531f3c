"""Write differences into compat.toml with tomlkit, replacing only the values that change."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

import tomlkit
from packaging.version import Version
from tomlkit.container import Container
from tomlkit.items import InlineTable, Item, Table
from tomlkit.toml_document import TOMLDocument

from tools.compat_refresh.compare import Difference, Kind, series_of
from tools.compat_refresh.errors import RefreshError
from tools.compat_refresh.facts import COMPANIONS


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
        series = _series_table(doc, series_of(Version(release)))
        merged: dict[str, str | None] = dict(_companion_values(series, release))
        merged.update(changes)
        kept = {name: value for name, value in merged.items() if value is not None}
        _set_release(series, release, _fresh_item(_inline_source(kept), newline))
        applied.extend(
            other for other in pending if other.kind is Kind.COMPANION and other.release == release
        )
    applied.sort(key=Difference.sort_key)
    return applied
