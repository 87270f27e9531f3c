"""The diff value: what `envspec diff` found between two locks, and how its values read to people."""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

from packaging.utils import canonicalize_name

Scalar = str | int | float | bool | None
Value = Scalar | tuple[Scalar, ...]

HighlightKind = Literal[
    "builds", "torch", "cuda", "runtime", "mirrors", "python", "platforms", "files", "resolver"
]
MirrorChangeKind = Literal["added", "removed", "changed"]


@dataclasses.dataclass(frozen=True, slots=True)
class Pin:
    """A pin present in only one of the two locks."""

    name: str
    version: str
    marker: str | None = None
    index: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class PinChange:
    """A pin present in both locks (same name and marker) whose version or files differ.

    When the version is the same, the files are what changed: ``rehashed`` names the files present in
    both locks with a different sha256 (a re-upload, or another index serving other bytes), and
    ``files_added`` / ``files_removed`` the files only one lock has.
    """

    name: str
    marker: str | None
    old_version: str
    new_version: str
    rehashed: tuple[str, ...] = ()
    files_added: tuple[str, ...] = ()
    files_removed: tuple[str, ...] = ()

    @property
    def same_version(self) -> bool:
        return self.old_version == self.new_version


@dataclasses.dataclass(frozen=True, slots=True)
class ValueChange:
    """One setting whose value differs; ``None`` means the setting is absent (unset) on that side."""

    key: str
    old: Value
    new: Value


@dataclasses.dataclass(frozen=True, slots=True)
class MirrorChange:
    """A ``[[mirrors]]`` entry added, removed or changed (``old`` / ``new`` describe it: URL and options)."""

    name: str
    change: MirrorChangeKind
    old: str | None
    new: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class IndexChange:
    """A pin in both locks served by a different index (by mirror name)."""

    name: str
    marker: str | None
    old: str
    new: str


@dataclasses.dataclass(frozen=True, slots=True)
class Highlight:
    """One line of what matters most; an ``informational`` one (the resolver) is no difference by itself."""

    kind: HighlightKind
    message: str
    informational: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class LockDiff:
    """Everything that differs between two locks, highlights first; see :func:`diff_locks`."""

    old_env_id: str
    new_env_id: str
    added: tuple[Pin, ...]
    removed: tuple[Pin, ...]
    changed: tuple[PinChange, ...]
    flags: tuple[ValueChange, ...]  # runtime.env.* and runtime.torch.*
    mirrors: tuple[MirrorChange, ...]
    mirror_order: ValueChange | None  # the failover order of the mirrors both locks declare
    indexes: tuple[IndexChange, ...]
    python: ValueChange | None
    platforms: ValueChange | None
    resolver: ValueChange | None  # informational: a different resolver may pick the same pins
    settings: tuple[ValueChange, ...]  # every other spec setting and derived fact (spec.* and facts.*)
    highlights: tuple[Highlight, ...]

    @property
    def env_id_changed(self) -> bool:
        return self.old_env_id != self.new_env_id

    @property
    def empty(self) -> bool:
        """No pin, flag, mirror, index, Python, platform or other setting differs (the resolver may)."""
        return not (
            self.added
            or self.removed
            or self.changed
            or self.flags
            or self.mirrors
            or self.mirror_order
            or self.indexes
            or self.python
            or self.platforms
            or self.settings
            or any(not h.informational for h in self.highlights)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class BuildDiff:
    """One torch build compared across two locks: what differs in it and not in every build alike.

    ``diff`` compares the two locks' views of the build (:meth:`envspec.lock.model.Lock.select`);
    ``facts`` lists its build facts that differ (``facts.min-driver``, ``facts.torch.arch-min``,
    ``facts.cuda.version``), which ``diff.settings`` leaves out. ``old_name`` is the build of OLD it is
    compared with: ``name`` but when no build is in both locks (see :func:`envspec.diff.diff_builds`).
    """

    name: str
    old_name: str
    facts: tuple[ValueChange, ...]
    diff: LockDiff

    @property
    def empty(self) -> bool:
        return not self.facts and self.diff.empty


@dataclasses.dataclass(frozen=True, slots=True)
class BuildsDiff:
    """Two locks compared build by build, when either holds several torch builds.

    An ordinary lock counts as one build, named by its torch build (``single``). A change that is
    the same in every compared build is in ``shared`` (and ``shared_facts``) once; ``builds`` keeps
    what each build has of its own, in NEW's order of preference. ``highlights`` are the builds' own:
    the shape, builds added or removed, their order, the fleet's driver.
    """

    old_env_id: str
    new_env_id: str
    old_builds: tuple[str, ...]
    new_builds: tuple[str, ...]
    old_single: bool
    new_single: bool
    added: tuple[str, ...]
    removed: tuple[str, ...]
    order: ValueChange | None  # the order of preference of the builds both locks hold
    highlights: tuple[Highlight, ...]
    shared: LockDiff
    shared_facts: tuple[ValueChange, ...]
    builds: tuple[BuildDiff, ...]

    @property
    def env_id_changed(self) -> bool:
        return self.old_env_id != self.new_env_id

    @property
    def compared(self) -> tuple[str, ...]:
        """The builds compared one with the other, by their name in NEW."""
        return tuple(b.name for b in self.builds)

    @property
    def empty(self) -> bool:
        """No build added, removed or reordered, no change of shape, and every build alike."""
        return not (
            self.added
            or self.removed
            or self.order
            or self.old_single != self.new_single
            or any(not h.informational for h in self.highlights)
            or self.shared_facts
            or not self.shared.empty
            or any(not b.empty for b in self.builds)
        )


def sort_key(item: Pin | PinChange | IndexChange) -> tuple[str, str]:
    """How pins are listed: by normalized project name, then marker."""
    return (canonicalize_name(item.name), item.marker or "")


def show(value: Value) -> str:
    """A value as a person reads it in a TOML file: strings quoted, ``(unset)`` for absent."""
    if value is None:
        return "(unset)"
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def plain(value: object) -> str:
    """A value in running text: as is, ``(none)`` when absent or empty."""
    return "(none)" if value is None or value == "" else str(value)
