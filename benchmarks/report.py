"""What a group measured, as a value, and its rendering as markdown tables (ready for the README) and JSON."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence

from benchmarks.common import summary
from benchmarks.engine import Case, Outcome, ratios


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    """A ratio in the same run: ``ours`` over its bare peer ``theirs``; met when the median ratio <= goal."""

    label: str
    ours: str
    theirs: str
    goal: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute goal: the median of ``case`` in seconds."""

    label: str
    case: str
    goal_s: float


@dataclasses.dataclass(slots=True)
class GroupResult:
    key: str
    title: str
    about: str
    cases: list[Case]
    outcomes: dict[str, Outcome]
    comparisons: list[Comparison]
    deadlines: list[Deadline] = dataclasses.field(default_factory=list)
    checks: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    network: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileRow:
    function: str
    calls: int
    own_s: float
    cumulative_s: float


@dataclasses.dataclass(slots=True)
class ProfileResult:
    key: str
    title: str
    about: str
    wall_s: float
    main: list[ProfileRow]  # the main thread, wall time
    others: list[ProfileRow]  # every other thread, CPU time, added up
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class FailedGroup:
    key: str
    title: str
    error: str


Result = GroupResult | ProfileResult | FailedGroup


def _verdict(value: float, goal: float | None, unit: str = "") -> str:
    if goal is None:
        return ""
    sign = f"≤ {goal:.2f}{unit}"
    return f"{sign}: met" if value <= goal else f"{sign}: **not met**"


def _mb(values: Sequence[int]) -> str:
    return f"{statistics.median(values) / 1e6:.1f}" if values else "-"


def render_group(result: GroupResult) -> str:
    lines = [f"#### {result.title}", "", result.about, ""]
    head = "| case | median s | min s | max s |" + (" MB received |" if result.network else "")
    lines += [head, "|---|---:|---:|---:|" + ("---:|" if result.network else "")]
    for case in result.cases:
        outcome = result.outcomes[case.key]
        s = summary(outcome.times)
        label = f"*reference:* {case.label}" if case.reference else case.label
        row = f"| {label} | {s['median']:.3f} | {s['min']:.3f} | {s['max']:.3f} |"
        lines.append(row + (f" {_mb(outcome.received)} |" if result.network else ""))
    if result.comparisons:
        lines += ["", "| ratio, same run | median | min | paired | goal |", "|---|---:|---:|---:|---|"]
        for c in result.comparisons:
            r = ratios(result.outcomes, c.ours, c.theirs)
            lines.append(
                f"| {c.label} | {r['median']:.2f} | {r['min']:.2f} | {r['paired']:.2f} |"
                f" {_verdict(r['median'], c.goal, 'x')} |"
            )
    if result.deadlines:
        lines += ["", "| fixed cost | median s | goal |", "|---|---:|---|"]
        for d in result.deadlines:
            median = statistics.median(result.outcomes[d.case].times)
            lines.append(f"| {d.label} | {median:.3f} | {_verdict(median, d.goal_s, ' s')} |")
    if result.checks or result.warnings:
        lines.append("")
        lines += [f"- {line}" for line in result.checks]
        lines += [f"- **warning:** {line}" for line in result.warnings]
    return "\n".join(lines)


def render_profile(result: ProfileResult) -> str:
    lines = [f"#### {result.title}", "", result.about]
    for title, rows in (("main thread, wall s", result.main), ("other threads, CPU s", result.others)):
        lines += ["", f"| {title}: cumulative | own | calls | function |", "|---:|---:|---:|---|"]
        for row in rows:
            function = row.function.replace("|", "\\|")
            lines.append(f"| {row.cumulative_s:.3f} | {row.own_s:.3f} | {row.calls} | `{function}` |")
    lines += [f"- **warning:** {line}" for line in result.warnings]
    return "\n".join(lines)


def render(result: Result) -> str:
    if isinstance(result, GroupResult):
        return render_group(result)
    if isinstance(result, ProfileResult):
        return render_profile(result)
    return f"#### {result.title}\n\n**failed:** {result.error}"


def render_header(meta: Mapping[str, object]) -> str:
    versions = meta["versions"]
    assert isinstance(versions, Mapping)  # noqa: S101 - built by run.py
    tools = ", ".join(f"{k} {v}" for k, v in versions.items())
    return "\n".join(
        [
            f"Measured {meta['date']} with `{meta['command']}` ({meta['reps']} reps after 1 warm-up).",
            f"Setup: {tools}; {meta['platform']} with {meta['cpus']} CPUs, load average"
            f" {meta['load-before']} at the start (the last line gives it at the end).",
            "Every ratio divides two cases of the same run; the machine is shared, so read the ratios,"
            " not the seconds.",
        ]
    )


def to_json(result: Result) -> dict[str, object]:
    if isinstance(result, FailedGroup):
        return {"title": result.title, "error": result.error}
    if isinstance(result, ProfileResult):
        return {
            "title": result.title,
            "wall-s": result.wall_s,
            "main": [dataclasses.asdict(r) for r in result.main],
            "others": [dataclasses.asdict(r) for r in result.others],
            "warnings": result.warnings,
        }
    return {
        "title": result.title,
        "about": result.about,
        "cases": {
            c.key: {
                "label": c.label,
                "reference": c.reference,
                "times": result.outcomes[c.key].times,
                "received-bytes": result.outcomes[c.key].received,
                "pins": result.outcomes[c.key].pins,
                "inconsistent-runs": result.outcomes[c.key].inconsistent_runs,
            }
            | summary(result.outcomes[c.key].times)
            for c in result.cases
        },
        "ratios": [
            {
                "label": c.label,
                "ours": c.ours,
                "theirs": c.theirs,
                "goal": c.goal,
                **ratios(result.outcomes, c.ours, c.theirs),
            }
            for c in result.comparisons
        ],
        "deadlines": [
            {"label": d.label, "case": d.case, "goal-s": d.goal_s}
            | {"median-s": statistics.median(result.outcomes[d.case].times)}
            for d in result.deadlines
        ],
        "checks": result.checks,
        "warnings": result.warnings,
    }
