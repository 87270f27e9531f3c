"""The installers envspec drives (pip, pip-tools, uv): where they are, what they default to, and a
hermetic environment to run them in.

Nothing here hard-codes an index address: the default index is asked of pip at run time.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from envspec.errors import EnvspecError

# Ambient configuration that must never reach a resolution or an install envspec runs.
_AMBIENT_PREFIXES = ("PIP_", "UV_", "PIPTOOLS_", "CUSTOM_COMPILE_COMMAND")
DEFAULT_INDEX_ENV = "ENVSPEC_DEFAULT_INDEX"


class InstallerError(EnvspecError):
    """An installer is missing or could not answer."""


def hermetic_env(
    extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The process environment without pip/uv configuration, with config files switched off.

    ``PIP_CONFIG_FILE=os.devnull`` makes pip ignore every config file (global, user, site), and
    ``UV_NO_CONFIG`` does the same for uv; every other ``PIP_*``/``UV_*`` variable is dropped.
    """
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if not key.startswith(_AMBIENT_PREFIXES)}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CONFIG": "1",
            "UV_NO_PROGRESS": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            # the resolvers only ever talk to envspec's loopback router, which retries the mirrors itself
            "UV_HTTP_RETRIES": "0",
            "PYTHONUTF8": "1",
        }
    )
    if extra:
        env.update(extra)
    return env


def _output(command: Sequence[str], timeout: float) -> str | None:
    try:
        result = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False, env=hermetic_env()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    output = result.stdout.strip()
    return output.splitlines()[-1].strip() if result.returncode == 0 and output else None


@functools.cache
def default_index_url() -> str:
    """The installer's own default index (pip's built-in one), asked of pip at run time.

    ``ENVSPEC_DEFAULT_INDEX`` overrides it (tests point it at a loopback index); pip's configuration
    files are deliberately not consulted: a lock sees only the indexes in the spec.
    """
    override = os.environ.get(DEFAULT_INDEX_ENV)
    if override:
        return override
    found = _output(
        [sys.executable, "-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"], 60
    )
    if not found:
        raise InstallerError(
            "pip did not name its default index",
            hint=f"give every [[mirrors]] entry a url, or set {DEFAULT_INDEX_ENV}",
        )
    return found


def tool_path(name: str) -> Path | None:
    """An executable installed beside the running interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    return Path(found) if found else None


def tool_version(command: Sequence[str]) -> str:
    """The version a tool prints for ``--version`` (last word of its first line)."""
    text = _output([*command, "--version"], 60)
    match = re.search(r"\b(\d+\.\d+(?:\.\d+)*)\b", text or "")
    if match is None:
        raise InstallerError(f"{command[-1]} did not report a version")
    return match.group(1)
