"""``envspec fetch`` and the store, for real: a loopback mirror, bootstrap.sh, offline installs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from envspec.emit.scripts import fetch as fetcher
from tests.support.index import serve_index
from tests.support.isolation import isolated_env, no_network
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
    # the mirror is gone and the network refused: nothing but the store can provide a file
    command = [
        "bash",
        str(script),
        "--installer",
        "pip",
        "--prefix",
        str(tmp_path / "env"),
        "--offline",
        str(store),
    ]
    built = subprocess.run(
        no_network(command), capture_output=True, text=True, check=False, env=isolated_env()
    )
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


def _one_entry(store: Path) -> Path:
    (entry,) = (p for p in (store / "sha256").iterdir() if len(p.name) == 64)
    return entry


@pytest.mark.parametrize(
    ("left", "ranges"),
    [
        # what an interrupted fetch leaves: the first part of the file under the .part name
        ("start", ["bytes=1000-"]),
        # a damaged beginning, which only the hash can tell: continued, refused whole, fetched again
        ("zeros", ["bytes=1000-", None]),
    ],
)
def test_a_broken_download_is_continued_and_checked_whole(
    tmp_path: Path, graph_root: Path, left: str, ranges: list[str | None]
) -> None:
    store = tmp_path / "store"
    with serve_index(graph_root) as index:
        make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-util"])
        lock = tmp_path / "lock" / "pylock.toml"
        assert fetch(lock, "--store", store).returncode == 0
        entry = _one_entry(store)
        whole = entry.read_bytes()
        entry.unlink()
        Path(f"{entry}.part").write_bytes(whole[:1000] if left == "start" else b"\0" * 1000)
        index.clear_requests()
        resumed = fetch(lock, "--store", store)
        assert resumed.returncode == 0, resumed.stderr
        asked = [r.range for r in index.records if r.path.endswith(".whl")]
    assert asked == ranges
    assert "continuing es_util-" in resumed.stderr
    assert entry.read_bytes() == whole
    assert not Path(f"{entry}.part").exists()


def test_a_partial_file_held_by_another_fetch_is_left_to_it(tmp_path: Path) -> None:
    part = tmp_path / "x.part"
    with fetcher.claimed(part, shared=True) as (first, resume_first):
        with fetcher.claimed(part, shared=True) as (second, resume_second):
            assert (first, resume_first) == (part, True)
            assert second != part
            assert resume_second is False
            second.write_bytes(b"mine")
        assert not second.exists(), "a private partial file is removed with its claim"
    with fetcher.claimed(part, shared=True) as (third, resume_third):
        assert (third, resume_third) == (part, True)  # released with the first claim


def test_offline_sources_are_a_store_an_export_or_a_folder_and_are_linked_not_copied(
    tmp_path: Path, graph_root: Path
) -> None:
    store = tmp_path / "store"
    with serve_index(graph_root) as index:
        make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-util"])
        lock = tmp_path / "lock" / "pylock.toml"
        assert fetch(lock, "--store", store).returncode == 0
    entry = _one_entry(store)
    (line,) = fetcher_manifest(lock)
    name = line.split()[3]
    (tmp_path / "export" / "files").mkdir(parents=True)
    (tmp_path / "export" / "files" / name).write_bytes(entry.read_bytes())
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / name).write_bytes(entry.read_bytes())
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(line + "\n", encoding="utf-8")
    for source in (store, tmp_path / "export", tmp_path / "plain"):
        dest = tmp_path / "dest" / source.name
        code = fetcher.main(["--manifest", str(manifest), "--dest", str(dest), "--offline", str(source)])
        assert code == 0
        got = dest / name
        assert got.read_bytes() == entry.read_bytes()
    assert (tmp_path / "dest" / "store" / name).stat().st_ino == entry.stat().st_ino  # a hard link


def fetcher_manifest(lock: Path) -> list[str]:
    """The bootstrap fetcher's manifest lines for ``lock`` (``sha256 size project filename url``)."""
    from envspec.lock.read import read_lock
    from envspec.store import locked_files

    return [
        f"{e.sha256} {e.size} {e.project} {e.filename} {e.url}" for e in locked_files(read_lock(lock)[0], [])
    ]


def test_two_fetches_into_one_store_at_once_both_succeed(tmp_path: Path, graph_root: Path) -> None:
    store = tmp_path / "store"
    with serve_index(graph_root) as index:
        make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-app[fast]"])
        lock = tmp_path / "lock" / "pylock.toml"
        command = [sys.executable, "-m", "envspec", "fetch", str(lock), "--store", str(store)]
        runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outcomes = []
        for run in runs:
            _, err = run.communicate(timeout=120)
            outcomes.append((run.returncode, err))
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    again = fetch(lock, "--store", store)  # every entry whole: checked again, none fetched
    assert again.returncode == 0, again.stderr
    assert ", 0 fetched" in again.stderr
    assert not [p for p in (store / "sha256").iterdir() if len(p.name) != 64], "no partial file left"
