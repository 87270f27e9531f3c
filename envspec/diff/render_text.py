"""Render a lock diff as rich markup for people: highlights first, then the pins, then other settings."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape

from envspec.diff.builds import FACTS_IN_HIGHLIGHTS
from envspec.diff.model import BuildsDiff, Highlight, LockDiff, ValueChange, show, sort_key


def _marker_text(marker: str | None) -> str:
    return f" ; {marker}" if marker else ""


def _pin_lines(d: LockDiff) -> list[tuple[tuple[str, str], str]]:
    lines: list[tuple[tuple[str, str], str]] = []
    for pin in d.added:
        text = escape(f"+ {pin.name} {pin.version}{_marker_text(pin.marker)}")
        lines.append((sort_key(pin), f"[green]{text}[/]"))
    for pin in d.removed:
        text = escape(f"- {pin.name} {pin.version}{_marker_text(pin.marker)}")
        lines.append((sort_key(pin), f"[red]{text}[/]"))
    for c in d.changed:
        if c.same_version:
            text = escape(f"~ {c.name} {c.old_version}{_marker_text(c.marker)}")
            lines.append((sort_key(c), f"[bold red]{text}[/] (same version, different files)"))
        else:
            text = escape(f"~ {c.name} {c.old_version} -> {c.new_version}{_marker_text(c.marker)}")
            lines.append((sort_key(c), f"[yellow]{text}[/]"))
    return sorted(lines, key=lambda line: line[0])


def _highlight(h: Highlight) -> str:
    if h.informational:
        return f"  [dim]i {escape(h.message)}[/]"
    return f"  [bold yellow]![/] {escape(h.message)}"


def _blocks(d: LockDiff, more_settings: Sequence[ValueChange] = ()) -> list[list[str]]:
    """The parts of a diff after its environment id: highlights, pins, other settings."""
    blocks = []
    if d.highlights:
        blocks.append(["[bold]highlights:[/]", *(_highlight(h) for h in d.highlights)])
    pins = _pin_lines(d)
    if pins:
        counts = f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed"
        blocks.append([f"[bold]pins:[/] {counts}", *(f"  {text}" for _key, text in pins)])
    settings = (*d.settings, *more_settings)
    if settings:
        lines = [f"  ~ {escape(f'{s.key}: {show(s.old)} -> {show(s.new)}')}" for s in settings]
        blocks.append(["[bold]other settings:[/]", *lines])
    return blocks


def _env_id(old: str, new: str) -> str:
    if old != new:
        return f"environment id: {escape(old)} -> {escape(new)}"
    return f"environment id: {escape(new)} (unchanged)"


def _render_lock_diff(d: LockDiff, head: list[str]) -> str:
    lines = [*head, _env_id(d.old_env_id, d.new_env_id)]
    if d.empty:
        lines.append("[bold green]no differences[/]")
        lines.extend(f"  [dim]i {escape(h.message)}[/]" for h in d.highlights)
        return "\n".join(lines) + "\n"
    for block in _blocks(d):
        lines += ["", *block]
    return "\n".join(lines) + "\n"


def _builds_line(d: BuildsDiff) -> str:
    def names(builds: tuple[str, ...], single: bool) -> str:
        return f"{builds[0]} (one build)" if single else ", ".join(builds)

    was, now = names(d.old_builds, d.old_single), names(d.new_builds, d.new_single)
    return f"builds: {escape(now)} (unchanged)" if was == now else f"builds: {escape(was)} -> {escape(now)}"


def _untold(facts: Sequence[ValueChange]) -> list[ValueChange]:
    """The build facts no highlight tells (cuDNN, companions, images): listed among other settings."""
    return [f for f in facts if f.key not in FACTS_IN_HIGHLIGHTS]


def _indented(blocks: list[list[str]]) -> list[str]:
    return [f"  {line}" for block in blocks for line in block]


def _render_builds_diff(d: BuildsDiff, head: list[str]) -> str:
    lines = [*head, _env_id(d.old_env_id, d.new_env_id), _builds_line(d)]
    if d.empty:
        lines.append("[bold green]no differences[/]")
        told = (*d.highlights, *d.shared.highlights, *(h for b in d.builds for h in b.diff.highlights))
        lines.extend(f"  [dim]i {escape(h.message)}[/]" for h in told)
        return "\n".join(lines) + "\n"
    if d.highlights:
        lines += ["", "[bold]highlights:[/]", *(_highlight(h) for h in d.highlights)]
    shared = _blocks(d.shared, _untold(d.shared_facts))
    if shared:  # with one build compared, only what no build's view shows (the fleet's [cuda] gpus)
        title = (
            f"[bold]all builds[/] ({escape(', '.join(d.compared))}):"
            if len(d.builds) > 1
            else "[bold]the lock:[/]"
        )
        lines += ["", title, *_indented(shared)]
    for b in d.builds:
        title = f"build {b.name}" + (f" (compared with {b.old_name})" if b.old_name != b.name else "")
        lines += ["", f"[bold]{escape(title)}:[/]", f"  {_env_id(b.diff.old_env_id, b.diff.new_env_id)}"]
        own = _blocks(b.diff, _untold(b.facts))
        lines.extend(_indented(own) if own else ["  no other differences"])
    return "\n".join(lines) + "\n"


def render_diff_text(d: LockDiff | BuildsDiff, old_name: str, new_name: str) -> str:
    """The diff as rich markup for people: highlights first, then the pins by name, then other settings;
    for locks of several builds, the builds' own changes, then those of all builds, then each build's."""
    head = [f"[bold]{escape(old_name)}[/] -> [bold]{escape(new_name)}[/]"]
    if isinstance(d, BuildsDiff):
        return _render_builds_diff(d, head)
    return _render_lock_diff(d, head)
