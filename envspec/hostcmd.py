"""``envspec host``'s body: which torch build a lock (or a spec) installs, and whether it would run on
this machine's NVIDIA driver and GPUs, before anything is installed."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from envspec.compat import capability_tuple
from envspec.errors import ExitCode, UsageError
from envspec.host import HostFacts, detect, sm
from envspec.hostchoice import Choice, choose, lock_needs, with_siblings
from envspec.hostjudge import BuildNeeds, Finding, build_needs, judge, runs_here
from envspec.verify.model import Status


@dataclasses.dataclass(frozen=True, slots=True)
class Subject:
    """The build to judge, where it came from, and why there is none when there is none."""

    kind: Literal["lock", "spec"]
    path: Path
    needs: BuildNeeds | None  # a lock (or spec) of several builds: the one judged, once chosen
    note: str | None = None
    builds: tuple[BuildNeeds, ...] = ()  # a lock (or spec) of several builds: each, in order


def judged_build(subject: Subject, host: HostFacts, variant: str | None) -> tuple[Subject, Choice | None]:
    """For a subject of several builds: the build this machine gets (or ``variant``, or the first
    when none runs here) as the one to judge, and the choice; other subjects as they are."""
    if not subject.builds:
        if variant is not None:
            raise UsageError(
                f"--variant {variant}: this {subject.kind} holds one torch build",
                hint="--variant names one of the builds of a lock (or spec) with [torch] variants",
            )
        return subject, None
    choice = choose(subject.builds, host, forced=variant)
    name = choice.chosen or subject.builds[0].variant
    return dataclasses.replace(subject, needs=next(b for b in subject.builds if b.variant == name)), choice


def run_host(
    spec: Path | None,
    lock_path: Path | None,
    *,
    as_json: bool,
    env: Mapping[str, str] | None = None,
    variant: str | None = None,
) -> ExitCode:
    """Judge the build on this machine and print the outcome; errors are raised for the CLI's boundary.
    A lock (or spec) of several builds: the build this machine would get, or ``variant``."""
    if spec is not None and lock_path is not None:
        raise UsageError("give a spec or --lock, not both")
    from envspec.lock.state import is_lock_name

    if spec is not None and is_lock_name(spec.name):  # a lockfile given where a spec goes: what was meant
        spec, lock_path = None, spec
    host = detect(os.environ if env is None else env)  # first: a malformed override is the first error
    found = subject_of(spec, lock_path)
    if isinstance(found, ExitCode):
        return found
    subject, choice = judged_build(found, host, variant)
    findings = judge(host, subject.needs) if subject.needs else []
    if as_json:
        sys.stdout.write(json.dumps(host_report(host, subject, findings, choice), indent=2) + "\n")
    else:
        from envspec.console import out_console

        out_console().print(render_host(host, subject, findings, choice))
    return ExitCode.DIFFERS if failed(findings, choice) else ExitCode.OK


def failed(findings: Sequence[Finding], choice: Choice | None) -> bool:
    """Whether the build would not run here: a failed check, or no build of several that runs."""
    return (choice is not None and choice.chosen is None) or any(f.status is Status.FAIL for f in findings)


def subject_of(spec: Path | None, lock_path: Path | None) -> Subject | ExitCode:
    """The build a spec plans (nothing is locked) or a lock pins: --lock, the spec, else locks/' one
    lock; or the exit code of an invalid spec, whose report is printed."""
    from envspec.compat import load_compat

    if spec is not None:
        return _spec_subject(spec)
    from packaging.utils import canonicalize_name

    from envspec.emitcmd import the_lock_in_locks
    from envspec.lock.read import read_lock

    path = lock_path or the_lock_in_locks()
    lock, _ = read_lock(path)
    if lock.variants:
        return Subject("lock", path, None, builds=lock_needs(lock, load_compat()))
    facts = lock.facts.torch
    if facts is None:
        pinned = next((p for p in lock.packages if canonicalize_name(p.name) == "torch"), None)
        note = (
            f"the lock pins torch {pinned.version} as a plain package, not from a [torch] table:"
            " envspec does not know its build"
            if pinned
            else "the lock pins no torch: nothing to check"
        )
        return Subject("lock", path, None, note)
    floor = lock.facts.cuda.min_driver if lock.facts.cuda else None
    needs = build_needs(load_compat(), facts.version, facts.variant, recorded_floor=floor)
    if facts.arch_min and facts.arch_max:  # what the lock recorded is what bootstrap.sh checks
        needs = dataclasses.replace(
            needs, arch_min=capability_tuple(facts.arch_min), arch_max=capability_tuple(facts.arch_max)
        )
    return Subject("lock", path, needs)


def _spec_subject(spec: Path) -> Subject | ExitCode:
    from envspec.lock.plan import plan_lock
    from envspec.lockcmd import validated

    checked = validated(spec)
    if isinstance(checked, ExitCode):
        return checked
    loaded, compat, _ = checked
    if loaded.spec.torch is not None and loaded.spec.torch.variants:
        version = loaded.spec.torch.version
        builds = with_siblings([build_needs(compat, version, v) for v in loaded.spec.torch.variants])
        return Subject("spec", spec, None, builds=builds)
    torch = plan_lock(loaded.spec, compat).torch
    if torch is None:
        return Subject("spec", spec, None, "the spec asks for no torch ([torch] table): nothing to check")
    return Subject("spec", spec, build_needs(compat, torch.version, torch.variant))


# -- output --------------------------------------------------------------------------------------------
def _capability(gpu_capability: tuple[int, int] | None) -> str | None:
    return f"{gpu_capability[0]}.{gpu_capability[1]}" if gpu_capability else None


def host_report(
    host: HostFacts, subject: Subject, findings: Sequence[Finding], choice: Choice | None = None
) -> dict[str, object]:
    """The JSON document of ``envspec host --json``."""
    needs = subject.needs
    build = None
    if needs is not None:
        build = {
            "torch": needs.torch,
            "variant": needs.variant,
            "cuda": needs.cuda,
            "min-driver": needs.min_driver,
            "arch": {"min": _capability(needs.arch_min), "max": _capability(needs.arch_max)}
            if needs.cuda
            else None,
            "runs-here": [other.variant for other in needs.others if runs_here(host, other)],
        }
    variants = None
    if choice is not None:
        variants = {
            "chosen": choice.chosen,
            "forced": choice.forced,
            "preferred": choice.preferred,
            "builds": [{"name": v.name, "runs": v.runs, "reason": v.reason} for v in choice.verdicts],
        }
    return {
        "ok": not failed(findings, choice),
        subject.kind: str(subject.path),
        "host": {
            "driver": host.driver,
            "driver-source": host.driver_source,
            "gpus": [{"name": gpu.name, "capability": _capability(gpu.capability)} for gpu in host.gpus],
            "gpus-source": host.gpus_source,
            "machine": host.machine,
            "notes": list(host.notes),
        },
        "variants": variants,
        "build": build,
        "note": subject.note,
        "checks": [
            {"check": f.check, "status": f.status.value, "detail": f.detail, "fix": f.fix} for f in findings
        ],
    }


_MARK = {
    Status.PASS: "[green]ok  [/]",
    Status.FAIL: "[bold red]FAIL[/]",
    Status.WARN: "[yellow]warn[/]",
    Status.SKIP: "[dim]skip[/]",
}


def render_host(
    host: HostFacts, subject: Subject, findings: Sequence[Finding], choice: Choice | None = None
) -> str:
    """The facts with their sources, the build's needs, and each check with its fix (rich markup)."""
    from rich.markup import escape

    lines = ["this machine:"]
    if host.driver:
        lines.append(f"  driver   {escape(host.driver)} (from {host.driver_source})")
    elif host.driver_source == "ENVSPEC_CUDA_DRIVER":
        lines.append("  driver   none (from ENVSPEC_CUDA_DRIVER)")
    else:
        lines.append("  driver   none found (no nvidia-smi, no /proc/driver/nvidia/version)")
    for index, gpu in enumerate(host.gpus):
        capability = sm(gpu.capability) if gpu.capability else "compute capability unknown"
        name = "" if host.gpus_source == "ENVSPEC_GPU_ARCH" else f"{escape(gpu.name)}, "
        lines.append(f"  gpu {index}    {name}{capability} (from {host.gpus_source})")
    if not host.gpus:
        unknown = host.gpus_source == "none" and host.driver is not None
        found = "unknown (nothing could list them)" if unknown else "none found"
        lines.append(
            "  gpus     "
            + ("none (from ENVSPEC_GPU_ARCH)" if host.gpus_source == "ENVSPEC_GPU_ARCH" else found)
        )
    lines.append(f"  machine  {escape(host.machine)}")
    lines.extend(f"  note     {escape(note)}" for note in host.notes)
    if choice is not None:
        lines.extend(_choice_lines(subject, choice))
    else:
        lines.append(f"{subject.kind} {escape(str(subject.path))}:")
    needs = subject.needs
    if needs is None:
        lines.append(f"  {escape(subject.note or '')}")
        return "\n".join(lines)
    lines.append(f"  {_needs_line(needs)}")
    lines.append("checks:")
    for finding in findings:
        lines.append(f"  {_MARK[finding.status]} {escape(finding.check)}: {escape(finding.detail)}")
        if finding.fix and finding.status is not Status.PASS:
            lines.append(f"        [dim]fix:[/] {escape(finding.fix)}")
    fails = sum(1 for f in findings if f.status is Status.FAIL)
    warned = sum(1 for f in findings if f.status is Status.WARN)
    verdict = (
        "[bold red]would not run here[/]" if failed(findings, choice) else "[bold green]would run here[/]"
    )
    if choice is not None and choice.chosen is None:
        verdict = "[bold red]no build runs here[/]"
    lines.append(f"{verdict}: {fails} failed, {_count(warned, 'warning')}, {_count(len(findings), 'check')}")
    return "\n".join(lines)


def _choice_lines(subject: Subject, choice: Choice) -> list[str]:
    """Each build's verdict in order, then which one this machine gets and is judged below."""
    from rich.markup import escape

    count = len(choice.verdicts)
    where = f"{subject.kind} {escape(str(subject.path))}"
    lines = [f"{where}: {count} torch builds, the first that runs here is installed"]
    for verdict in choice.verdicts:
        mark = "[green]runs[/]" if verdict.runs else "[red]no  [/]"
        lines.append(f"  {mark} {escape(verdict.line)}")
    judged = subject.needs.variant if subject.needs else "?"
    if choice.forced:
        preferred = choice.preferred or "none of them"
        lines.append(f"build {escape(judged)} (--variant; this machine would get {escape(preferred)}):")
    elif choice.chosen is None:
        lines.append(f"this machine gets none of them; the first, {escape(judged)}:")
    else:
        lines.append(f"this machine gets {escape(judged)}:")
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _needs_line(needs: BuildNeeds) -> str:
    if needs.cuda is None:
        return f"{needs.label}: a CPU build, needs no driver and no GPU"
    floor = f"a driver >= {needs.min_driver}" if needs.min_driver else "a driver (floor unknown)"
    low = sm(needs.arch_min) if needs.arch_min else "unknown"
    high = sm(needs.arch_max) if needs.arch_max else "unknown"
    return f"{needs.label} (CUDA {needs.cuda}): needs {floor} and GPUs of {low} to {high}"
