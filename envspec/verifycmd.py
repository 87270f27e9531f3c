"""``envspec verify``'s body: probe an environment and hold the report against its lock; for a lock
of several torch builds, against the build the environment holds, with this machine's host checks."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from envspec.errors import ExitCode, UsageError
from envspec.verify.model import Check, Status


def run_verify(
    lock_path: Path | None,
    python: str | None,
    *,
    deep: bool,
    gpu: bool,
    quick: bool,
    as_json: bool,
    variant: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ExitCode:
    """Verify the environment of ``python`` and print the outcome; errors are raised for the CLI's
    boundary. ``variant``: verify that build of a lock of several, whatever the environment says."""
    from envspec.emitcmd import the_lock_in_locks
    from envspec.lock.read import read_lock
    from envspec.verify.compare import compare
    from envspec.verify.run import prefix_of, probe_options, run_probe

    interpreter = python or sys.executable
    if lock_path is None:
        prefix = prefix_of(interpreter)
        lock_path = prefix / "envspec-lock.toml" if prefix else the_lock_in_locks()
    lock, _ = read_lock(lock_path)
    host = None
    if lock.variants:
        from envspec.host import detect
        from envspec.hostchoice import known_build

        if variant is not None:
            known_build(lock.variant_names, variant)
        host = detect(os.environ if env is None else env)  # a malformed override: before the probe
    elif variant is not None:
        raise UsageError(
            f"--variant {variant}: {lock_path} holds one torch build",
            hint="--variant names one of the builds of a lock made from [torch] variants",
        )
    options = probe_options(lock, deep=deep, gpu=gpu, quick=quick)
    report = run_probe(interpreter, options)
    target, build, found_by = lock, None, None
    if host is None:
        checks = compare(lock, report, gpu=bool(options["gpu"]), gpu_required=gpu)
    else:
        from envspec.compat import load_compat
        from envspec.verify.builds import check_build, check_host, installed_build

        installed = installed_build(lock, report, variant)
        build, found_by = installed.name, installed.source
        checks = list(check_build(lock, installed))
        if build is not None:
            target = lock.select(build)
            wants_gpu = gpu or (target.facts.cuda is not None and not quick)
            checks += compare(target, report, gpu=wants_gpu, gpu_required=gpu)
            checks += check_host(lock, build, host, load_compat(), required=gpu)
    failed = any(c.status is Status.FAIL for c in checks)
    if as_json:
        document = {
            "ok": not failed,
            "lock": str(lock_path),
            "env-id": target.env_id,
            "build": build,
            "build-from": found_by,
            "python": interpreter,
            "checks": [_check_json(c) for c in checks],
            "report": report,
        }
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    else:
        from envspec.console import out_console
        from envspec.verify.render import render_checks

        out_console().print(render_checks(checks, target.env_id, interpreter, build))
    return ExitCode.DIFFERS if failed else ExitCode.OK


def _check_json(check: Check) -> dict[str, str | None]:
    return {
        "group": check.group,
        "name": check.name,
        "status": check.status.value,
        "detail": check.detail,
        "fix": check.fix,
    }
