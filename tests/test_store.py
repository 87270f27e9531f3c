"""``envspec fetch`` and the store, for real: a loopback mirror, bootstrap.sh, offline installs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.index import serve_index
from tests.test_emit_venv_faults import bootstrap, imports, make_bootstrap


def fetch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "envspec", "fetch", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_a_filled_store_installs_offline_and_fetches_nothing_twice(tmp_path: Path, graph_root: Path) -> None:
    store = tmp_path / "store"
    with serve_index(graph_root) as index:
        script = make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-app[fast]"])
        lock = tmp_path / "lock" / "pylock.toml"
        first = fetch(lock, "--store", store)
    assert first.returncode == 0, first.stderr
    assert "0 already there" in first.stderr
    entries = sorted((store / "sha256").iterdir())
    assert entries
    assert all(len(p.name) == 64 for p in entries)
    # the mirror is gone: an offline install and a second fetch must not need it
    again = fetch(lock, "--store", store)
    assert again.returncode == 0, again.stderr
    assert f"{len(entries)} already there, 0 fetched" in again.stderr
    built = bootstrap(script, "--prefix", str(tmp_path / "env"), "--offline", str(store))
    assert built.returncode == 0, built.stderr
    assert "(offline)" in built.stderr
    assert imports(tmp_path / "env", "es_app")
    verified = subprocess.run(
        [sys.executable, "-m", "envspec", "verify", "--python", str(tmp_path / "env" / "bin" / "python")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_damaged_entry_is_never_installed_and_fetch_repairs_it(tmp_path: Path, graph_root: Path) -> None:
    store = tmp_path / "store"
    with serve_index(graph_root) as index:
        script = make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-util"])
        lock = tmp_path / "lock" / "pylock.toml"
        assert fetch(lock, "--store", store).returncode == 0
        (entry,) = (store / "sha256").iterdir()
        entry.write_bytes(entry.read_bytes()[:-10])  # truncated
        refused = bootstrap(script, "--prefix", str(tmp_path / "bad"), "--offline", str(store))
        assert refused.returncode == 1
        assert "REFUSED" in refused.stderr
        assert not (tmp_path / "bad").exists()
        repaired = fetch(lock, "--store", store)
        assert repaired.returncode == 0, repaired.stderr
        assert "0 already there, 1 fetched" in repaired.stderr
    built = bootstrap(script, "--prefix", str(tmp_path / "env"), "--offline", str(store))
    assert built.returncode == 0, built.stderr
    assert imports(tmp_path / "env", "es_util")


def test_a_file_no_source_has_is_named_and_the_rest_is_kept(tmp_path: Path, graph_root: Path) -> None:
    with serve_index(graph_root) as index:
        make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-app[fast]"])
    result = fetch(tmp_path / "lock" / "pylock.toml", "--store", tmp_path / "store")
    assert result.returncode == 2
    assert "could not be fetched" in result.stderr
    assert "connection refused" in result.stderr
    assert "es_app-1.1-py3-none-any.whl" in result.stderr
    assert not list((tmp_path / "store" / "sha256").glob("*.part")), "no half-written entry"


def test_a_platform_the_lock_does_not_hold_is_refused(tmp_path: Path, graph_root: Path) -> None:
    with serve_index(graph_root) as index:
        make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-util"])
    lock = tmp_path / "lock" / "pylock.toml"
    result = fetch(lock, "--store", tmp_path / "store", "--platform", "windows-x86_64")
    assert result.returncode == 2
    assert "is not locked for windows-x86_64" in result.stderr
    assert "Traceback" not in result.stderr
