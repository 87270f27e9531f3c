"""A benchmark's report: a text table, a JSON document and a PNG chart, from the outcomes alone."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from envspec.bench.run import Outcome, Profile, Side
from envspec.bench.stats import Speedup, Spread, speedup, spread
from envspec.errors import UsageError


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g}" if seconds < 1 else f"{seconds * 1000:.0f}"


def _secs(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f}"


def _spread_text(s: Spread) -> str:
    return f"{_ms(s.median)} ({_ms(s.p10)}-{_ms(s.p90)})"


def profile_text(profile: Profile) -> str:
    parts = [f"{k}={v}" for k, v in profile.settings.items()]
    parts += [f"{k}={v}" for k, v in profile.env.items()]
    return ", ".join(parts) if parts else "(none: the spec sets no runtime flags, so both sides run eagerly)"


def verdict_line(outcome: Outcome, gain: Speedup) -> str:
    model = outcome.request.model
    interval = f"95 % interval {gain.low:.2f}-{gain.high:.2f}"
    if gain.verdict == "faster":
        return f"{model}: the profile is {gain.ratio:.2f}x as fast as eager ({interval})"
    if gain.verdict == "slower":
        return (
            f"{model}: the profile is SLOWER than eager: {gain.ratio:.2f}x ({interval});"
            " it costs more than it gains here"
        )
    return f"{model}: no clear difference: {gain.ratio:.2f}x ({interval} includes 1)"


def render_text(outcomes: Sequence[Outcome], profile: Profile, python: str, source: str) -> str:
    """The report as text: what was measured where, one row per model, then a verdict per model."""
    first = outcomes[0]
    versions = first.versions
    lines = [
        f"envspec bench: the runtime profile of {source} against eager PyTorch, in {python}",
        f"machine: {versions.get('device_name') or 'unknown'}; torch {versions.get('torch')},"
        f" Python {versions.get('python')}; threads: eager {first.eager.threads},"
        f" profile {first.profile.threads}",
        f"profile: {profile_text(profile)}",
    ]
    lines += [f"  {name}: {state}" for name, state in first.applied.items() if state != "applied"]
    lines += [f"  note: {note}" for note in first.notes]
    header = (
        "model", "batch", "dtype", "device", "eager ms (p10-p90)", "profile ms (p10-p90)",
        "speedup", "first call eager/cold/warm", "peak MB eager/profile",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    verdicts = []
    for outcome in outcomes:
        r = outcome.request
        gain = speedup(outcome.eager.times, outcome.profile.times)
        rows.append(
            (
                r.model, str(r.batch), r.dtype, r.device,
                _spread_text(spread(outcome.eager.times)), _spread_text(spread(outcome.profile.times)),
                f"{gain.ratio:.2f}x",
                f"{_secs(outcome.eager.first_call_s)} / {_secs(outcome.profile.first_call_s)}"
                f" / {_secs(outcome.warm_first_call_s)}",
                f"{_mb(outcome.eager.peak_memory_bytes)} / {_mb(outcome.profile.peak_memory_bytes)}",
            )
        )  # fmt: skip
        verdicts.append(verdict_line(outcome, gain))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    memory = first.eager.peak_memory_kind
    foot = f"runs: {first.request.runs} timed after {first.request.warmup} warm-up calls,"
    foot += " each side in a fresh process;"
    foot += f" peak memory: {'the CUDA allocator' if memory == 'cuda_max_allocated' else 'the process RSS'}"
    return "\n".join([*lines, "", *table, "", *verdicts, foot]) + "\n"


def _side_json(side: Side) -> dict[str, Any]:
    s = spread(side.times)
    return {
        "median_s": s.median,
        "p10_s": s.p10,
        "p90_s": s.p90,
        "first_call_s": side.first_call_s,
        "peak_memory_bytes": side.peak_memory_bytes,
        "peak_memory_kind": side.peak_memory_kind,
        "threads": side.threads,
        "times_s": list(side.times),
    }


def render_json(outcomes: Sequence[Outcome], profile: Profile, python: str, source: str) -> dict[str, Any]:
    results = []
    for outcome in outcomes:
        gain = speedup(outcome.eager.times, outcome.profile.times)
        results.append(
            {
                "model": dict(outcome.model) | {"requested": outcome.request.model},
                "batch": outcome.request.batch,
                "dtype": outcome.request.dtype,
                "device": outcome.request.device,
                "runs": outcome.request.runs,
                "warmup": outcome.request.warmup,
                "eager": _side_json(outcome.eager),
                "profile": _side_json(outcome.profile) | {"first_call_warm_s": outcome.warm_first_call_s},
                "speedup": {
                    "median_ratio": gain.ratio,
                    "ci95": [gain.low, gain.high],
                    "verdict": gain.verdict,
                },
                "applied": dict(outcome.applied),
                "notes": list(outcome.notes),
                "hook_removed_for_eager": outcome.hook_removed,
            }
        )
    return {
        "source": source,
        "python": python,
        "versions": dict(outcomes[0].versions),
        "profile": {"settings": dict(profile.settings), "env": dict(profile.env)},
        "results": results,
    }


def render_plot(outcomes: Sequence[Outcome], title: str) -> bytes:
    """A PNG: per model, eager and profile time relative to the eager median (so that models of any
    size share one axis), each with its p10-p90 range, and the speedup with its interval."""
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib in envspec's own environment", hint="pip install 'envspec[plot]'"
        ) from None
    names = [f"{o.request.model}\nbatch {o.request.batch} {o.request.dtype}" for o in outcomes]
    figure, axes = plt.subplots(figsize=(8, 1.4 + 1.1 * len(outcomes)), dpi=110)
    height = 0.38
    rows = range(len(outcomes))
    sides = (("eager", height / 2, "#9aa5b1"), ("profile", -height / 2, "#2f6fdf"))
    for side, offset, colour in sides:
        spreads = [spread(getattr(o, side).times) for o in outcomes]
        bases = [spread(o.eager.times).median for o in outcomes]
        ys = [len(outcomes) - 1 - i + offset for i in rows]
        medians = [s.median / b for s, b in zip(spreads, bases, strict=True)]
        errors = [
            [(s.median - s.p10) / b for s, b in zip(spreads, bases, strict=True)],
            [(s.p90 - s.median) / b for s, b in zip(spreads, bases, strict=True)],
        ]
        axes.barh(ys, medians, height=height, xerr=errors, color=colour, label=side, capsize=3)
    for i, outcome in enumerate(outcomes):
        gain = speedup(outcome.eager.times, outcome.profile.times)
        eager, profile = spread(outcome.eager.times), spread(outcome.profile.times)
        label = (
            f"{gain.ratio:.2f}x ({gain.low:.2f}-{gain.high:.2f})\n"
            f"{_ms(eager.median)} -> {_ms(profile.median)} ms"
        )
        top = max(1.0, profile.p90 / eager.median, eager.p90 / eager.median)
        axes.text(top + 0.03, len(outcomes) - 1 - i, label, va="center", fontsize=8)
    axes.axvline(1.0, color="#555555", linewidth=0.8, linestyle=":")
    axes.set_yticks(list(rows), list(reversed(names)))
    axes.set_xlabel("time per call relative to the eager median (bars: p10-p90); shorter is faster")
    axes.set_title(title, fontsize=9)
    axes.margins(x=0.35)
    figure.legend(loc="lower center", ncol=2, frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def plot_title(versions: Mapping[str, Any], source: str) -> str:
    device = versions.get("device_name") or "this machine"
    return f"{source}: profile vs eager on {device}, torch {versions.get('torch')}"
