"""Compare two locks build by build when either holds several torch builds (pure).

Each build both locks hold is compared as its machines install it: the two locks' views of it
(:meth:`Lock.select`), plus its build facts (torch, CUDA, driver floor, kernel range). A change
that reads the same in every compared build is lifted out once, as "all builds". An ordinary lock
counts as one build, named by its torch build; when the two locks have no build name in common, their
preferred (first) builds are compared, so that what changed across the whole lock still shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, get_args

from envspec.diff.compare import COVERED_SPEC, diff_locks, dump_toml, value_changes
from envspec.diff.highlights import WHEELS, is_cuda_package
from envspec.diff.model import (
    BuildDiff,
    BuildsDiff,
    Highlight,
    HighlightKind,
    LockDiff,
    ValueChange,
    plain,
)
from envspec.lock.model import BuildFacts, Lock
from envspec.resolve_torch import spec_for_variant

T = TypeVar("T")

NO_TORCH = "(no torch)"  # the name of the one build of an ordinary lock that pins no torch
# build facts (as `BuildDiff.facts` keys them) that the highlights already tell
FACTS_IN_HIGHLIGHTS = frozenset(
    {
        "facts.min-driver",
        "facts.torch.version",
        "facts.torch.variant",
        "facts.torch.local",
        "facts.torch.cuda",
        "facts.torch.arch-min",
        "facts.torch.arch-max",
        "facts.cuda.version",
        "facts.cuda.driver",
        "facts.cuda.min-driver",
    }
)
_IN_BUILD_FACTS = ("facts.torch.", "facts.cuda.")  # a view's settings that `BuildDiff.facts` holds
_KINDS: tuple[HighlightKind, ...] = get_args(HighlightKind)
_LISTS = ("added", "removed", "changed", "flags", "mirrors", "indexes", "settings")
_SINGLES = ("mirror_order", "python", "platforms", "resolver")


@dataclasses.dataclass(frozen=True, slots=True)
class _Build:
    name: str
    view: Lock
    facts: BuildFacts | None


def _single(lock: Lock) -> _Build:
    """An ordinary lock as the one build it holds, seen as a lock of builds sees each of its builds:
    its [cuda] driver (the whole fleet's, in a lock of builds) is compared lock-wide instead."""
    torch, cuda = lock.facts.torch, lock.facts.cuda
    if torch is None:
        return _Build(NO_TORCH, lock, None)
    cuda = cuda.model_copy(update={"driver": None}) if cuda else None
    view = dataclasses.replace(
        lock,
        spec=spec_for_variant(lock.spec, torch.variant),
        facts=lock.facts.model_copy(update={"cuda": cuda}),
    )
    facts = BuildFacts(
        name=torch.variant, min_driver=cuda.min_driver if cuda else None, torch=torch, cuda=cuda
    )
    return _Build(torch.variant, view, facts)


def _builds(lock: Lock) -> tuple[_Build, ...]:
    if not lock.variants:
        return (_single(lock),)
    return tuple(_Build(b.name, lock.select(b.name), b) for b in lock.variants)


def _fact_values(facts: BuildFacts | None) -> Mapping[str, object]:
    return {k: v for k, v in dump_toml(facts).items() if k != "name"} if facts else {}


def _kernels(facts: BuildFacts | None) -> str | None:
    torch = facts.torch if facts else None
    if torch is None or (torch.arch_min is None and torch.arch_max is None):
        return None
    return f"{torch.arch_min or '?'}-{torch.arch_max or '?'}"


def _fact_highlights(old: BuildFacts | None, new: BuildFacts | None) -> list[Highlight]:
    """What a view's own highlights cannot tell: the kernel range, and the driver floor of a build
    without [cuda] (the same words as the CUDA highlight, so a floor is told once)."""
    out = []
    was, now = _kernels(old), _kernels(new)
    if was != now:
        out.append(Highlight("torch", f"GPU kernels: compute capability {plain(was)} -> {plain(now)}"))
    floor_was, floor_now = (old.min_driver if old else None), (new.min_driver if new else None)
    if floor_was != floor_now:
        out.append(Highlight("cuda", f"minimum driver {plain(floor_was)} -> {plain(floor_now)}"))
    return out


def _compare(old: _Build, new: _Build) -> BuildDiff:
    d = diff_locks(old.view, new.view)
    told = {h.message for h in d.highlights}
    more = [h for h in _fact_highlights(old.facts, new.facts) if h.message not in told]
    d = dataclasses.replace(
        d,
        settings=tuple(s for s in d.settings if not s.key.startswith(_IN_BUILD_FACTS)),
        # grouped by kind in the order `envspec diff` shows the kinds, the CUDA wheels last of theirs
        highlights=tuple(
            sorted((*d.highlights, *more), key=lambda h: (_KINDS.index(h.kind), h.message.startswith(WHEELS)))
        ),
    )
    facts = tuple(value_changes(_fact_values(old.facts), _fact_values(new.facts), ("facts",)))
    return BuildDiff(new.name, old.name, facts, d)


# --- all builds --------------------------------------------------------------------------------


def _common(groups: Sequence[Sequence[T]]) -> tuple[T, ...]:
    """The items of the first group that every group has, in the first group's order."""
    return tuple(x for x in groups[0] if all(x in g for g in groups[1:]))


def _wheels_apart(h: Highlight, own: Sequence[LockDiff]) -> bool:
    """The count of nvidia-*/cuda-* pins reads alike in builds whose pins differ (cu12 against cu13
    wheels): it is lifted out only when no build keeps such a pin of its own."""
    pins = [p.name for d in own for p in d.added + d.removed] + [c.name for d in own for c in d.changed]
    return h.message.startswith(WHEELS) and any(is_cuda_package(n) for n in pins)


def _split(
    builds: Sequence[BuildDiff], shared: LockDiff
) -> tuple[LockDiff, tuple[ValueChange, ...], list[BuildDiff]]:
    """What every build's diff holds alike (into ``shared``), and each build's diff without it."""
    lifted: dict[str, Any] = {}
    own: list[dict[str, Any]] = [{} for _ in builds]
    for field in _LISTS:
        groups = [getattr(b.diff, field) for b in builds]
        lifted[field] = _common(groups)
        for mine, items in zip(own, groups, strict=True):
            mine[field] = tuple(x for x in items if x not in lifted[field])
    for field in _SINGLES:
        values = [getattr(b.diff, field) for b in builds]
        alike = values[0] if all(v == values[0] for v in values) else None
        lifted[field] = alike
        for mine, value in zip(own, values, strict=True):
            mine[field] = None if alike is not None else value
    rests = [dataclasses.replace(b.diff, **mine) for b, mine in zip(builds, own, strict=True)]
    highlights = tuple(h for h in _common([b.diff.highlights for b in builds]) if not _wheels_apart(h, rests))
    facts = _common([b.facts for b in builds])
    kept = [
        dataclasses.replace(
            b,
            facts=tuple(f for f in b.facts if f not in facts),
            diff=dataclasses.replace(
                rest, highlights=tuple(h for h in b.diff.highlights if h not in highlights)
            ),
        )
        for b, rest in zip(builds, rests, strict=True)
    ]
    return dataclasses.replace(shared, highlights=highlights, **lifted), facts, kept


def _nothing(old_env_id: str, new_env_id: str) -> LockDiff:
    return LockDiff(old_env_id, new_env_id, (), (), (), (), (), None, (), None, None, None, (), ())


# --- the builds themselves ---------------------------------------------------------------------


def _told(build: _Build, what: str) -> Highlight:
    """``build cu126 removed (torch 2.13.0+cu126, CUDA 12.6, minimum driver 525.60.13)``."""
    facts, text = build.facts, f"build {build.name} {what}"
    if facts is not None:
        torch = facts.torch
        parts = [f"torch {torch.version}+{torch.local or torch.variant}"]
        parts += [f"CUDA {torch.cuda}"] if torch.cuda else []
        parts += [f"minimum driver {facts.min_driver}"] if facts.min_driver else []
        text += f" ({', '.join(parts)})"
    return Highlight("builds", text)


def _shape(builds: Sequence[_Build], single: bool) -> str:
    names = ", ".join(b.name for b in builds)
    return f"one build ({names})" if single else f"builds {names}"


def _build_highlights(
    old: Lock, new: Lock, before: Sequence[_Build], after: Sequence[_Build]
) -> list[Highlight]:
    out = []
    old_single, new_single = not old.variants, not new.variants
    if old_single != new_single:
        message = f"{_shape(before, old_single)} -> {_shape(after, new_single)}"
        out.append(Highlight("builds", message))
    names_before, names_after = {b.name for b in before}, {b.name for b in after}
    out.extend(_told(b, "removed") for b in before if b.name not in names_after)
    out.extend(_told(b, "added") for b in after if b.name not in names_before)
    return out


def _order(before: Sequence[_Build], after: Sequence[_Build]) -> tuple[ValueChange, Highlight] | None:
    """The order of preference of the builds both locks hold, when it changed."""
    common = {b.name for b in before} & {b.name for b in after}
    was = tuple(b.name for b in before if b.name in common)
    now = tuple(b.name for b in after if b.name in common)
    if was == now:
        return None
    message = f"builds' order of preference {', '.join(was)} -> {', '.join(now)}"
    return ValueChange("builds", was, now), Highlight("builds", message)


def _lock_wide(old: Lock, new: Lock, seen: set[str]) -> tuple[list[Highlight], list[ValueChange]]:
    """What no build's view shows: the fleet's [cuda] driver, and spec settings the views drop."""
    highlights = []
    driver = (
        old.spec.cuda.driver if old.spec.cuda else None,
        new.spec.cuda.driver if new.spec.cuda else None,
    )
    if driver[0] != driver[1]:
        highlights.append(Highlight("cuda", f"fleet driver {plain(driver[0])} -> {plain(driver[1])}"))
    covered = (*COVERED_SPEC, ("torch", "variants"))  # the builds: told as builds added or removed
    raw = value_changes(dump_toml(old.spec), dump_toml(new.spec), ("spec",), covered)
    return highlights, [s for s in raw if s.key not in seen]


def diff_builds(old: Lock, new: Lock) -> BuildsDiff:
    """``old`` and ``new`` compared build by build (either may be an ordinary lock: one build)."""
    before, after = _builds(old), _builds(new)
    by_name = {b.name: b for b in before}
    pairs = [(by_name[b.name], b) for b in after if b.name in by_name] or [(before[0], after[0])]
    compared = [_compare(a, b) for a, b in pairs]
    highlights = _build_highlights(old, new, before, after)
    order = _order(before, after)
    if order is not None:
        highlights.append(order[1])
    fleet, extra = _lock_wide(old, new, {s.key for b in compared for s in b.diff.settings})
    highlights.extend(fleet)
    shared = _nothing(old.env_id, new.env_id)
    shared_facts: tuple[ValueChange, ...] = ()
    if len(compared) > 1:
        shared, shared_facts, compared = _split(compared, shared)
    return BuildsDiff(
        old_env_id=old.env_id,
        new_env_id=new.env_id,
        old_builds=tuple(b.name for b in before),
        new_builds=tuple(b.name for b in after),
        old_single=not old.variants,
        new_single=not new.variants,
        added=tuple(b.name for b in after if b.name not in by_name),
        removed=tuple(b.name for b in before if b.name not in {a.name for a in after}),
        order=order[0] if order else None,
        highlights=tuple(highlights),
        shared=dataclasses.replace(shared, settings=(*shared.settings, *extra)),
        shared_facts=shared_facts,
        builds=tuple(compared),
    )


def compare_locks(old: Lock, new: Lock) -> LockDiff | BuildsDiff:
    """What `envspec diff` shows: :func:`diff_locks` for two ordinary locks, else :func:`diff_builds`."""
    return diff_builds(old, new) if old.variants or new.variants else diff_locks(old, new)
