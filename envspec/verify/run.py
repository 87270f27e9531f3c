"""Run the probe in an interpreter and find the lock an environment was built from (the I/O edge)."""

from __future__ import annotations

import json
import shlex
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

from envspec.errors import EnvspecError, UsageError
from envspec.lock.model import Lock

PROBE_TIMEOUT = 600


class ProbeError(EnvspecError):
    """The interpreter could not be run, or its probe report could not be read."""


def interpreter_command(python: str) -> list[str]:
    """``--python`` as a command: a path, or a command line that ends in one (``podman run -i IMAGE
    /opt/venv/bin/python``), so that an environment inside a container can be probed from outside."""
    if Path(python).exists() or not any(ch.isspace() for ch in python):
        return [python]
    return shlex.split(python)


def run_probe(python: str, options: dict[str, Any]) -> dict[str, Any]:
    """Run the stdlib-only probe in ``python`` (fed on stdin, so nothing is installed there)."""
    source = resources.files("envspec.verify").joinpath("probe_script.py").read_text(encoding="utf-8")
    try:
        result = subprocess.run(
            [*interpreter_command(python), "-I", "-", json.dumps(options)],
            input=source,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError(
            f"{python}: no such interpreter", hint="pass --python PATH of the environment"
        ) from None
    except OSError as exc:
        raise UsageError(f"{python}: cannot run it: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise ProbeError(f"the probe did not finish within {PROBE_TIMEOUT} s in {python}") from None
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise ProbeError(f"the probe failed in {python}:\n{tail}")
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        raise ProbeError(f"the probe in {python} printed no report") from None
    return report


def prefix_of(python: str) -> Path | None:
    """The environment prefix of an interpreter, when it has an envspec lock copy beside it."""
    try:
        result = subprocess.run(
            [*interpreter_command(python), "-I", "-c", "import sys; print(sys.prefix)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    prefix = Path(result.stdout.strip()) if result.returncode == 0 else None
    return prefix if prefix is not None and (prefix / "envspec-lock.toml").is_file() else None


def probe_options(lock: Lock, *, deep: bool, gpu: bool, quick: bool) -> dict[str, object]:
    """What the probe must look at for this lock: its variables, files, torch and the GPU. A lock of
    several torch builds: what any of them needs (the probe runs before the build is known)."""
    views = lock.builds()
    wants_torch = not quick and any(
        view.facts.torch is not None or bool(view.spec.runtime.torch.model_dump(exclude_none=True))
        for view in views
    )
    return {
        "env": sorted({name for view in views for name in view.spec.runtime.env}),
        "deep": deep,
        "files": True,
        "torch": wants_torch or gpu,
        "gpu": gpu or (any(view.facts.cuda is not None for view in views) and not quick),
    }
