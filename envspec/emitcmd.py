"""``envspec emit``'s body, without typer: :mod:`envspec.fastpath` runs it for the flags it parses, and
the typer command (:mod:`envspec.commands`) otherwise, so both print and exit alike."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from envspec.console import say
from envspec.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from envspec.lock.model import Lock


def lock_for_emit(spec: Path | None, lock_path: Path | None) -> tuple[Lock, str, Path] | ExitCode:
    """The lock to emit from: --lock, else the spec's (refused when stale), else the one in locks/;
    or the exit code of an invalid spec, whose report is printed."""
    from envspec.lock.read import read_lock
    from envspec.lock.state import check_matches_spec, default_lock_path, freshness
    from envspec.lockcmd import validated

    if lock_path is not None and spec is not None:
        raise UsageError("give a spec or --lock, not both")
    if lock_path is None and spec is not None:
        checked = validated(spec)
        if isinstance(checked, ExitCode):
            return checked
        loaded, compat, _ = checked
        lock_path = default_lock_path(spec)
        if not lock_path.is_file():
            raise UsageError(f"{spec} has no lock at {lock_path}", hint=f"run: envspec lock {spec}")
        if not freshness(loaded.spec, compat, lock_path).fresh:
            raise UsageError(
                f"{lock_path} is stale: {spec} changed since it was locked", hint=f"run: envspec lock {spec}"
            )
        lock, text = read_lock(lock_path)
        check_matches_spec(lock, loaded.spec, str(lock_path), str(spec))
        return lock, text, lock_path
    lock_path = lock_path or the_lock_in_locks()
    lock, text = read_lock(lock_path)
    return lock, text, lock_path


def the_lock_in_locks() -> Path:
    """The one lock in ``./locks``, when no lock is named."""
    found = sorted(Path("locks").glob("pylock.*.toml"))
    if len(found) != 1:
        raise UsageError(
            "no lock given, and locks/ holds " + (f"{len(found)} locks" if found else "none"),
            hint="pass a spec or --lock LOCK",
        )
    return found[0]


def run_emit(spec: Path | None, lock_path: Path | None, target: str, output: Path | None) -> ExitCode:
    """Write the target files of a lock; errors are raised for the CLI's boundary."""
    from envspec.emit import EmitContext, emitters, render_targets
    from envspec.fsio import check_writable, write_atomic

    available = emitters()
    if target != "all" and target not in available:
        raise UsageError(
            f"unknown target {target!r}", hint="choose one of: " + ", ".join([*available, "all"])
        )
    found = lock_for_emit(spec, lock_path)
    if isinstance(found, ExitCode):
        return found
    lock, text, source = found
    ctx = EmitContext(lock, text, source.name)
    folder = output or Path("emit") / lock.name
    files = render_targets(ctx, list(available) if target == "all" else [target])
    for name in files:  # every file, before the first is written
        check_writable(folder / name, what="emitted file")
    for name, content in files.items():
        mode = 0o755 if name.endswith(".sh") else 0o644
        write_atomic(folder / name, content.encode("utf-8"), mode=mode)
    if "environment.yml" in files:
        from envspec.emit.conda import variable_problems

        for problem in variable_problems(ctx):
            say(f"warning: conda target: {problem}")
    say(f"wrote {len(files)} files to {folder} for environment {ctx.env_id}:")
    for name in sorted(files):
        say(f"  {name}")
    return ExitCode.OK
