"""The markers of a lock of several torch builds: which builds an entry belongs to (pure).

A lock made from ``[torch] variants`` lists the builds as its PEP 751 ``extras`` and marks each entry
that not every build shares with ``'cu121' in extras`` (several joined by ``or``), after the
resolver's own marker if there is one: ``(sys_platform == 'linux') and ('cu121' in extras)``. An
installer given ``--extra cu121`` (or envspec's own ``bootstrap.sh``) then takes that build's entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from envspec.errors import Diagnostic, KeyPath, Severity
from envspec.lock.model import LockedPackage


def _error(message: str, path: KeyPath, expected: str) -> Diagnostic:
    return Diagnostic("invalid-marker", Severity.ERROR, message, path=path, expected=expected)


def variants_marker(variants: tuple[str, ...]) -> str:
    """``'cu121' in extras or 'cu124' in extras``: the PEP 751 marker of an entry of some builds."""
    return " or ".join(f"'{name}' in extras" for name in variants)


def lock_marker(package: LockedPackage) -> str | None:
    """The entry's marker as the lockfile writes it: the resolver's, and its builds' (both in parentheses
    when there are both, so that `:func:`envspec.lock.buildmarkers.split_marker` reads them apart)."""
    if not package.variants:
        return package.marker
    builds = variants_marker(package.variants)
    return f"({package.marker}) and ({builds})" if package.marker else builds


_BUILD = r"'([a-z0-9.]+)' in extras"
_BUILDS = re.compile(rf"{_BUILD}(?: or {_BUILD})*")
_BOTH = re.compile(rf"\((?P<marker>.+)\) and \((?P<builds>{_BUILDS.pattern})\)")


def split_marker(text: str | None) -> tuple[str | None, tuple[str, ...]] | None:
    """A lock marker read apart into the resolver's marker and the builds it names, as
    :func:`lock_marker` writes them; None for one that tests extras otherwise."""
    if text is None or "extras" not in text:
        return text, ()
    match = _BOTH.fullmatch(text)
    marker, builds = (match.group("marker"), match.group("builds")) if match else (None, text)
    if not _BUILDS.fullmatch(builds) or (marker is not None and "extras" in marker):
        return None
    return marker, tuple(re.findall(_BUILD, builds))


def marker_problems(data: Mapping[str, Any], path: KeyPath, builds: tuple[str, ...]) -> Iterator[Diagnostic]:
    marker = data.get("marker")
    split = split_marker(marker) if isinstance(marker, str) else (None, ())
    expected = (
        f'"\'{builds[0]}\' in extras" (or several such joined by or), after "(MARKER) and " if any'
        if builds
        else "a marker without extras: this lock holds one torch build"
    )
    if split is None:
        yield _error(
            "a marker that tests extras in a way envspec does not write",
            (*path, "marker"),
            expected,
        )
        return
    named = split[1]
    order = [builds.index(n) for n in named if n in builds]
    if any(n not in builds for n in named) or order != sorted(set(order)) or len(named) == len(builds) > 0:
        yield _error(
            f"the marker names the builds {', '.join(named)}",
            (*path, "marker"),
            f"some of the lock's extras ({', '.join(builds) or 'none'}), each once, in their order,"
            " and not all of them",
        )
