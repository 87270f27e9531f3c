"""Run pip, uv and ``requests`` so that they see only the indexes a test gives them.

This machine's pip is configured with extra local indexes and find-links (in pip.conf and in
``PIP_*`` variables); uv reads ``UV_*`` variables and uv.toml files.  ``isolated_env`` removes
all of that; callers still pass ``--index-url`` (pip) or ``--no-config --index-url`` (uv).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

__all__ = ["isolated_env", "local_session", "no_network", "pip_command", "uv_executable"]


def isolated_env(*, fail_fast: bool = False) -> dict[str, str]:
    """``os.environ`` without any ``PIP_*``/``UV_*`` variable, plus settings that keep tools local.

    pip reads no configuration file at all when ``PIP_CONFIG_FILE`` is ``os.devnull``.

    ``fail_fast`` turns retries off and cuts the network timeout to 2 s, for tests against a
    faulty mirror: by default uv retries a refused, hanging or 503 index 3 times (about 8 s
    refused, 4 s on 503, 3 x its 30 s timeout when hanging) and pip retries 5 times.
    """
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "UV_"))}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    if fail_fast:
        env.update({"UV_HTTP_RETRIES": "0", "UV_HTTP_TIMEOUT": "2", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"})
    return env


def pip_command(*args: str) -> list[str]:
    """``python -m pip ARGS`` with the interpreter running the tests."""
    return [sys.executable, "-m", "pip", *args]


def uv_executable() -> str:
    """The uv binary next to the test interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("uv")
    if beside.is_file():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise FileNotFoundError("uv is neither next to the test interpreter nor on PATH")
    return found


def local_session() -> requests.Session:
    """A ``requests`` session that ignores proxy and netrc settings from the environment.

    Use it as a context manager, so that its connections are closed (ResourceWarning).
    """
    session = requests.Session()
    session.trust_env = False
    return session


def no_network(command: list[str]) -> list[str]:
    """``command`` in a network namespace of its own: no interface but a loopback that is down."""
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if shutil.which("unshare") is None or probe.returncode != 0:
        pytest.skip("cannot refuse the network here (unshare --net needs root and util-linux)")
    return ["unshare", "--net", *command]
