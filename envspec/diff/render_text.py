"""Render a lock diff as rich markup for people: highlights first, then the pins, then other settings."""

from __future__ import annotations

from rich.markup import escape

from envspec.diff.model import LockDiff, show, sort_key


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


def render_diff_text(d: LockDiff, old_name: str, new_name: str) -> str:
    """The diff as rich markup for people: highlights first, then the pins by name, then other settings."""
    lines = [f"[bold]{escape(old_name)}[/] -> [bold]{escape(new_name)}[/]"]
    if d.env_id_changed:
        lines.append(f"environment id: {escape(d.old_env_id)} -> {escape(d.new_env_id)}")
    else:
        lines.append(f"environment id: {escape(d.new_env_id)} (unchanged)")
    if d.empty:
        lines.append("[bold green]no differences[/]")
        lines.extend(f"  [dim]i {escape(h.message)}[/]" for h in d.highlights)
        return "\n".join(lines) + "\n"
    if d.highlights:
        lines += ["", "[bold]highlights:[/]"]
        for h in d.highlights:
            if h.informational:
                lines.append(f"  [dim]i {escape(h.message)}[/]")
            else:
                lines.append(f"  [bold yellow]![/] {escape(h.message)}")
    pins = _pin_lines(d)
    if pins:
        counts = f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed"
        lines += ["", f"[bold]pins:[/] {counts}"]
        lines.extend(f"  {text}" for _key, text in pins)
    if d.settings:
        lines += ["", "[bold]other settings:[/]"]
        lines.extend(f"  ~ {escape(f'{s.key}: {show(s.old)} -> {show(s.new)}')}" for s in d.settings)
    return "\n".join(lines) + "\n"
