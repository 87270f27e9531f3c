"""The locks committed under locks/ are exactly what ``envspec lock`` makes today from their specs.

They are made against the loopback test mirror on a fixed port; ``pytest --update-golden`` rewrites
them after an intended change.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.graph import build_graph
from tests.support.index import serve_index

from .conftest import REPO

PORT = 38751
CASES = {"demo": REPO / "tests" / "fixtures" / "locks" / "demo.toml"}


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("name", sorted(CASES))
def test_committed_lock_is_reproducible(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if not port_is_free(PORT):
        pytest.skip(f"port {PORT} of the loopback test mirror is in use")
    root = tmp_path / "graph"
    root.mkdir()
    build_graph(root)
    committed = REPO / "locks" / f"pylock.{name}.toml"
    made = tmp_path / "made.toml"
    with serve_index(root, port=PORT):
        result = subprocess.run(
            [sys.executable, "-m", "envspec", "lock", str(CASES[name]), "-o", str(made), "--resolver", "uv"],
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    if request.config.getoption("--update-golden"):
        committed.write_bytes(made.read_bytes())
    assert committed.exists(), f"run pytest --update-golden to create {committed}"
    assert made.read_text() == committed.read_text(), f"{committed} is stale: rerun with --update-golden"
