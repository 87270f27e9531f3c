"""``envspec bench``: which profile, which interpreter, which models; then run, print and plot."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from envspec.bench.run import DEVICES, DTYPES, MODELS, Outcome, Profile, Request, bench
from envspec.errors import UsageError
from envspec.spec import Spec


def _choice(value: str, allowed: Sequence[str], flag: str) -> str:
    if value not in allowed:
        raise UsageError(f"{flag} {value!r} is not one of {', '.join(allowed)}", hint=f"{flag} {allowed[0]}")
    return value


def profile_source(spec_path: Path | None, lock_path: Path | None, python: str) -> tuple[Spec, str]:
    """The spec whose profile is measured, and how to name it: a spec file, a lock, the lock the
    environment was built from, else the one lock in ./locks."""
    if spec_path is not None and lock_path is not None:
        raise UsageError("give a spec or --lock, not both")
    if spec_path is not None:
        from envspec.load import load_spec

        return load_spec(spec_path).spec, spec_path.name
    from envspec.lock.read import read_lock

    if lock_path is None:
        from envspec.emitcmd import the_lock_in_locks
        from envspec.verify.run import prefix_of

        prefix = prefix_of(python)
        built = prefix / "envspec-lock.toml" if prefix else None
        lock_path = built if built is not None and built.is_file() else the_lock_in_locks()
    lock, _ = read_lock(lock_path)
    return lock.spec, f"{lock.name} ({lock_path.name})"


def run_bench(
    spec_path: Path | None,
    lock_path: Path | None,
    python: str | None,
    models: Sequence[str],
    *,
    batch: int,
    dtype: str,
    device: str,
    runs: int,
    warmup: int,
    tiny: bool,
    as_json: bool,
    plot: Path | None,
) -> None:
    from envspec.bench.render import plot_title, render_json, render_plot, render_text
    from envspec.console import err_console
    from envspec.fsio import check_writable, write_atomic

    for name in models:
        _choice(name, MODELS, "--model")
    _choice(dtype, DTYPES, "--dtype")
    _choice(device, DEVICES, "--device")
    if plot is not None:
        check_writable(plot, what="chart")
    interpreter = python or sys.executable
    spec, source = profile_source(spec_path, lock_path, interpreter)
    profile = Profile.of(spec)

    def log(message: str) -> None:
        err_console().print(f"bench: {message}", markup=False, highlight=False)

    outcomes: list[Outcome] = []
    for name in dict.fromkeys(models):
        request = Request(name, batch, dtype, device, runs, warmup, tiny)
        outcomes.append(bench(interpreter, request, profile, log=log))
    if as_json:
        sys.stdout.write(json.dumps(render_json(outcomes, profile, interpreter, source), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(outcomes, profile, interpreter, source))
    if plot is not None:
        write_atomic(plot, render_plot(outcomes, plot_title(outcomes[0].versions, source)))
        log(f"wrote the chart to {plot}")
