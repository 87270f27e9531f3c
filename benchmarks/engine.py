"""Timing the house way: one warm-up run per case, then rounds with the cases interleaved in a rotating order.

A case makes a :class:`Run` (one or more commands, timed together) in a fresh folder for every run; the
folder goes when the run ends. What a run wrote is read back and checked, every time: a case whose runs
disagree is reported, and a run that fails stops the benchmark. Runs that talk to the network can be
given a download cap: a watchdog kills the run once the machine has received more than that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from benchmarks.common import RUN_TIMEOUT_S, BenchError, Hashes, Pins

Reader = Callable[[Path], tuple[Pins, Hashes]]
"""Parses what a run wrote (a lock, a requirements file, an environment) into pins and hashes."""
Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """What one run of a case executes: ``steps`` one after the other, all inside the timed span."""

    steps: tuple[tuple[str, ...], ...]
    env: Mapping[str, str]
    cwd: Path
    output: Path | None = None  # what the case's reader parses after the run
    check: Callable[[], None] | None = None  # raises BenchError when the run did not do its job


@dataclasses.dataclass(frozen=True, slots=True)
class Case:
    key: str
    label: str
    make: Callable[[Path], Run]
    read: Reader | None = None
    reference: bool = False


@dataclasses.dataclass(slots=True)
class Outcome:
    times: list[float] = dataclasses.field(default_factory=list)
    received: list[int] = dataclasses.field(default_factory=list)  # bytes from the network, per run
    pins: Pins | None = None
    hashes: Hashes | None = None
    inconsistent_runs: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    timeout_s: float = RUN_TIMEOUT_S
    max_download: int | None = None  # bytes received from the network (not loopback) per run


def received_bytes() -> int:
    """Bytes this machine has received on every interface but loopback (0 where /proc is missing)."""
    try:
        text = Path("/proc/net/dev").read_text(encoding="ascii")
    except OSError:
        return 0
    total = 0
    for line in text.splitlines()[2:]:
        name, _, counters = line.partition(":")
        if name.strip() != "lo" and counters.split():
            total += int(counters.split()[0])
    return total


class _Watchdog:
    """Kills the running step's process group once the network has delivered more than ``cap`` bytes."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.start = received_bytes()
        self.process: subprocess.Popen[str] | None = None
        self.tripped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> _Watchdog:
        if self.cap is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            if self.cap is not None and received_bytes() - self.start > self.cap:
                self.tripped = True
                process = self.process
                if process is not None and process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                return


def _stop(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _execute(run: Run, label: str, limits: Limits) -> tuple[float, int]:
    """Seconds the steps took together, and the bytes received meanwhile."""
    deadline = time.perf_counter() + limits.timeout_s
    with _Watchdog(limits.max_download) as watchdog:
        start = time.perf_counter()
        for step in run.steps:
            process = subprocess.Popen(
                step,
                cwd=run.cwd,
                env=dict(run.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # the watchdog and the timeout stop the whole process group
            )
            watchdog.process = process
            try:
                stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired:
                _stop(process)
                raise BenchError(f"{label}: {shlex.join(step)} ran past {limits.timeout_s:.0f} s") from None
            except BaseException:  # Ctrl-C: the step runs in its own session, so it must be stopped here
                _stop(process)
                raise
            if watchdog.tripped:
                cap_mb = (limits.max_download or 0) / 1e6
                raise BenchError(
                    f"{label}: stopped after this machine received more than {cap_mb:.0f} MB during one run"
                    f" ({shlex.join(step)}); raise --max-download-mb if that is expected"
                )
            if process.returncode != 0:
                raise BenchError(
                    f"{label} failed (exit {process.returncode}): {shlex.join(step)}\n"
                    + (stderr + stdout)[-3000:]
                )
        elapsed = time.perf_counter() - start
    return elapsed, received_bytes() - watchdog.start


def run_once(case: Case, scratch: Path, outcome: Outcome, limits: Limits, *, record: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"{case.key}-", dir=scratch))
    try:
        run = case.make(work)
        elapsed, received = _execute(run, case.label, limits)
        if run.check is not None:
            run.check()
        if case.read is not None and run.output is not None:
            try:
                parsed = case.read(run.output)
            except (OSError, ValueError, KeyError) as exc:
                raise BenchError(
                    f"{case.label} wrote {run.output.name}, which cannot be read: {exc}"
                ) from None
            if outcome.pins is None:
                outcome.pins, outcome.hashes = parsed
            elif parsed != (outcome.pins, outcome.hashes):
                outcome.inconsistent_runs += 1
        if record:
            outcome.times.append(elapsed)
            outcome.received.append(received)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(
    cases: Sequence[Case], reps: int, scratch: Path, log: Log, limits: Limits | None = None
) -> dict[str, Outcome]:
    """Each case once to warm up (which also fills a warm case's cache), then ``reps`` rotating rounds."""
    limits = limits or Limits()
    outcomes = {c.key: Outcome() for c in cases}
    for case in cases:
        log(f"  warm-up: {case.label}")
        run_once(case, scratch, outcomes[case.key], limits, record=False)
    for rep in range(reps):
        log(f"  rep {rep + 1}/{reps}")
        shift = rep % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            run_once(case, scratch, outcomes[case.key], limits, record=True)
    return outcomes


def ratios(outcomes: Mapping[str, Outcome], ours: str, theirs: str) -> dict[str, float]:
    """Ratio of the medians, of the minimums, and the median of the per-rep ratios ("paired": same rep,
    close in time, so load that hits both cancels out)."""
    a, b = outcomes[ours].times, outcomes[theirs].times
    return {
        "median": statistics.median(a) / statistics.median(b),
        "min": min(a) / min(b),
        "paired": statistics.median(x / y for x, y in zip(a, b, strict=True)),
    }
