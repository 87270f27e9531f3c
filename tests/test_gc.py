"""``envspec gc``: the pure plan, its I/O edge, and the command on stores ``envspec fetch`` filled."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envspec.emit.scripts.fetch import human
from envspec.gc import (
    Applied,
    GcError,
    Kind,
    Listed,
    Plan,
    apply_plan,
    list_store,
    locks_under,
    plan_gc,
)
from envspec.lock.read import read_lock
from envspec.lock.state import is_lock_name
from tests.support.index import serve_index
from tests.test_emit_venv_faults import make_bootstrap

A_DIGEST, B_DIGEST, C_DIGEST = (hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c"))


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "envspec", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def references(lock: Path) -> set[str]:
    """Every sha256 a lock names, read independently of envspec.gc."""
    parsed, _ = read_lock(lock)
    return {a.sha256 for package in parsed.packages for a in package.artifacts}


# -- the pure plan --------------------------------------------------------------------------------


def test_the_plan_keeps_referenced_removes_the_rest_and_skips_what_is_no_entry() -> None:
    listing = [
        Listed(A_DIGEST, 10),
        Listed(B_DIGEST, 20),
        Listed(A_DIGEST + ".part", 3),
        Listed(C_DIGEST + ".part", 4),
        Listed("README", 5),
        Listed(A_DIGEST.upper(), 6),
        Listed(C_DIGEST, 0, Kind.LINK),
        Listed("sub", 0, Kind.FOLDER),
        Listed(B_DIGEST[:-1] + ".part", 7),
    ]
    plan = plan_gc({A_DIGEST}, reversed(listing))
    assert [i.name for i in plan.kept] == [A_DIGEST, A_DIGEST + ".part"]
    assert [i.name for i in plan.removed] == sorted([B_DIGEST, C_DIGEST + ".part"])
    assert plan.bytes_freed == 24
    skipped = {item.name: why for item, why in plan.skipped}
    no_name = "not a store entry (no sha256 name)"
    assert skipped == dict.fromkeys(["README", A_DIGEST.upper(), B_DIGEST[:-1] + ".part"], no_name) | {
        C_DIGEST: "a symbolic link",
        "sub": "a folder",
    }


def test_an_empty_store_and_nothing_referenced_plan_nothing() -> None:
    plan = plan_gc(set(), [])
    assert (plan.kept, plan.removed, plan.skipped, plan.bytes_freed) == ((), (), (), 0)


hex_digest = st.text("0123456789abcdef", min_size=64, max_size=64)
stray_name = st.text("abcdefxyz0123456789.-_", min_size=1, max_size=70)
listed = st.builds(
    Listed,
    st.one_of(hex_digest, hex_digest.map(lambda d: d + ".part"), stray_name),
    st.integers(0, 10**12),
    st.sampled_from(Kind),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(listed, unique_by=lambda i: i.name, max_size=30), st.sets(hex_digest, max_size=10), st.data())
def test_the_plan_partitions_the_listing_and_never_removes_a_referenced_digest(
    listing: list[Listed], referenced: set[str], data: st.DataObject
) -> None:
    # reference some of the listed digests too, so that both sides of the rule are exercised
    listed_digests = sorted({i.digest for i in listing if i.digest})
    if listed_digests:
        referenced |= set(data.draw(st.lists(st.sampled_from(listed_digests), max_size=5)))
    plan = plan_gc(referenced, listing)
    removed, kept = set(plan.removed), set(plan.kept)
    skipped = {item for item, _ in plan.skipped}
    assert removed | kept | skipped == set(listing)
    assert len(plan.removed) + len(plan.kept) + len(plan.skipped) == len(listing)
    assert not {i.digest for i in removed} & referenced
    assert all(i.kind is Kind.FILE and i.digest for i in removed | kept)
    assert all(i.digest in referenced for i in kept)
    assert plan.bytes_freed == sum(i.size for i in removed)


# -- the I/O edge ---------------------------------------------------------------------------------


def test_is_lock_name_follows_pep_751() -> None:
    assert all(map(is_lock_name, ["pylock.toml", "pylock.dev.toml", "pylock.a.b.toml"]))
    assert not any(map(is_lock_name, ["pylock..toml", "pylock.toml.bak", "mylock.toml", "pylock.txt"]))


def test_locks_under_walks_nested_folders_and_not_through_links(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "pylock.x.toml").write_text("")
    (tmp_path / "pylock.toml").write_text("")
    (tmp_path / "a" / "notes.toml").write_text("")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pylock.toml").write_text("")
    (tmp_path / "link").symlink_to(elsewhere, target_is_directory=True)
    assert locks_under(tmp_path) == [tmp_path / "pylock.toml", tmp_path / "a" / "b" / "pylock.x.toml"]


def test_a_folder_locks_under_cannot_list_stops_everything(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")  # listing it fails as an unreadable folder would
    with pytest.raises(GcError, match="not-a-folder: cannot list"):
        locks_under(tmp_path / "not-a-folder")


def test_list_and_apply_unlink_only_planned_regular_files(tmp_path: Path) -> None:
    entries = tmp_path / "store" / "sha256"
    entries.mkdir(parents=True)
    outside = tmp_path / "precious"
    outside.write_bytes(b"keep me")
    (entries / A_DIGEST).write_bytes(b"aaaa")
    (entries / B_DIGEST).write_bytes(b"bb")
    (entries / (C_DIGEST + ".part")).write_bytes(b"c")
    (entries / "sub").mkdir()
    (entries / "sub" / B_DIGEST).write_bytes(b"nested")
    (entries / C_DIGEST).symlink_to(outside)
    listing = list_store(entries)
    assert {(i.name, i.size, i.kind) for i in listing} == {
        (A_DIGEST, 4, Kind.FILE),
        (B_DIGEST, 2, Kind.FILE),
        (C_DIGEST + ".part", 1, Kind.FILE),
        ("sub", 0, Kind.FOLDER),
        (C_DIGEST, 0, Kind.LINK),
    }
    plan = plan_gc({A_DIGEST}, listing)
    assert apply_plan(entries, plan) == Applied()
    assert names(entries) == {A_DIGEST, "sub", C_DIGEST}
    assert (entries / "sub" / B_DIGEST).read_bytes() == b"nested"
    assert outside.read_bytes() == b"keep me"
    assert apply_plan(entries, plan) == Applied(), "an entry already gone counts as removed"


def test_apply_reports_what_it_could_not_remove_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()  # unlink refuses a folder whatever the permissions
    (tmp_path / A_DIGEST).write_bytes(b"a")
    plan = Plan(kept=(), removed=(Listed("sub", 0), Listed(A_DIGEST, 1)), skipped=())
    applied = apply_plan(tmp_path, plan)
    assert [item.name for item, _ in applied.failed] == ["sub"]
    assert applied.failed[0][1]
    assert applied.busy == ()
    assert names(tmp_path) == {"sub"}


def test_a_partial_download_a_running_fetch_holds_is_left_to_it(tmp_path: Path) -> None:
    held, free = tmp_path / f"{A_DIGEST}.part", tmp_path / f"{B_DIGEST}.part"
    held.write_bytes(b"being written")
    free.write_bytes(b"abandoned")
    plan = plan_gc(set(), list_store(tmp_path))
    handle = os.open(held, os.O_WRONLY)  # what envspec fetch does with a partial file in a store
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        applied = apply_plan(tmp_path, plan)
    finally:
        os.close(handle)
    assert [item.name for item in applied.busy] == [held.name]
    assert names(tmp_path) == {held.name}
    assert apply_plan(tmp_path, plan_gc(set(), list_store(tmp_path))) == Applied(), "released: removed"
    assert names(tmp_path) == set()


# -- the command, on stores envspec fetch filled ------------------------------------------------


@dataclass(frozen=True)
class Stores:
    lock_a: Path
    lock_b: Path
    pristine: Path  # both locks fetched into it; copy it, never change it

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.pristine, dest, symlinks=True)
        return dest


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, graph_root: Path) -> Stores:
    """Two locks that share es-util, both fetched into one store, made once for the module."""
    root = tmp_path_factory.mktemp("gc")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENVSPEC_CACHE_DIR", str(root / "cache"))  # never the user's cache
        patch.delenv("ENVSPEC_NO_CACHE", raising=False)
        with serve_index(graph_root) as index:
            make_bootstrap(root / "a", [("m", index.url)], ["es-app[fast]"])
            make_bootstrap(root / "b", [("m", index.url)], ["es-core==1.0", "es-util"])
            for name in ("a", "b"):
                fetched = run("fetch", root / name / "pylock.toml", "--store", root / "store")
                assert fetched.returncode == 0, fetched.stderr
    held = names(root / "store" / "sha256")
    a, b = (references(root / name / "pylock.toml") & held for name in ("a", "b"))
    assert a & b, "es-util is shared"
    assert b - a, "es-core 1.0 is B's only"
    assert a - b
    assert held == a | b
    return Stores(root / "a" / "pylock.toml", root / "b" / "pylock.toml", root / "store")


def test_a_dry_run_removes_nothing_and_says_what_would_go(tmp_path: Path, stores: Stores) -> None:
    store = stores.copy(tmp_path / "store")
    before = names(store / "sha256")
    gone = sorted(before - references(stores.lock_a))
    size = sum((store / "sha256" / n).stat().st_size for n in gone)
    result = run("gc", "--store", store, "--keep", stores.lock_a, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert names(store / "sha256") == before
    kept = len(before) - len(gone)
    assert f"{kept} entries kept (for 1 lock), {len(gone)} would be removed" in result.stderr
    assert f"({human(size)} would be freed)" in result.stderr
    assert "nothing was removed (--dry-run)" in result.stderr
    assert all(f"would remove sha256/{n}" in result.stderr for n in gone)


def test_keep_a_removes_exactly_b_only_and_a_fetches_nothing(tmp_path: Path, stores: Stores) -> None:
    store = stores.copy(tmp_path / "store")
    before = names(store / "sha256")
    kept = before & references(stores.lock_a)
    size = sum((store / "sha256" / n).stat().st_size for n in before - kept)
    result = run("gc", "--store", store, "--keep", stores.lock_a)
    assert result.returncode == 0, result.stderr
    assert names(store / "sha256") == kept
    said = f"{len(kept)} entries kept (for 1 lock), {len(before - kept)} removed ({human(size)} freed)"
    assert said in result.stderr
    again = run("fetch", stores.lock_a, "--store", store)  # no index runs now: all must be there
    assert again.returncode == 0, again.stderr
    assert f"{len(kept)} already there, 0 fetched" in again.stderr
    assert "0 removed (0 B freed)" in run("gc", "--store", store, "--keep", stores.lock_a).stderr


def test_keep_dir_finds_nested_locks_and_ignores_other_files(tmp_path: Path, stores: Stores) -> None:
    store = stores.copy(tmp_path / "store")
    before = names(store / "sha256")
    keep = tmp_path / "fleet"
    (keep / "lab" / "gpu").mkdir(parents=True)
    shutil.copy(stores.lock_a, keep / "lab" / "gpu" / "pylock.train.toml")
    for junk in ("pylock.toml.bak", "notes.txt", "lock.toml", "pylock.old"):
        (keep / "lab" / junk).write_bytes(b"\x00\xffnot a lock[[")
    result = run("gc", "--store", store, "--keep-dir", keep)
    assert result.returncode == 0, result.stderr
    assert names(store / "sha256") == before & references(stores.lock_a)
    # a second folder with B in it keeps B's files too
    store = stores.copy(tmp_path / "store2")
    (tmp_path / "other" / "deep").mkdir(parents=True)
    shutil.copy(stores.lock_b, tmp_path / "other" / "deep" / "pylock.toml")
    both = run("gc", "--store", store, "--keep-dir", keep, "--keep-dir", tmp_path / "other")
    assert both.returncode == 0, both.stderr
    assert names(store / "sha256") == before
    assert "(for 2 locks), 0 removed" in both.stderr


def test_the_locks_in_dot_locks_are_kept_when_none_are_named(tmp_path: Path, stores: Stores) -> None:
    store = stores.copy(tmp_path / "store")
    before = names(store / "sha256")
    refused = run("gc", "--store", store, cwd=tmp_path)
    assert refused.returncode == 2
    assert "no lock to keep was named, and ./locks holds none" in refused.stderr
    assert "--keep LOCK or --keep-dir DIR" in refused.stderr
    assert names(store / "sha256") == before
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "README").write_text("locks go here\n")
    assert run("gc", "--store", store, cwd=tmp_path).returncode == 2, "a folder without locks keeps nothing"
    shutil.copy(stores.lock_b, tmp_path / "locks" / "pylock.b.toml")
    result = run("gc", "--store", store, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert names(store / "sha256") == before & references(stores.lock_b)


def broken_by_hand(lock: Path) -> bytes:
    text = lock.read_text()
    assert 'sha256 = "' in text
    return text.replace('sha256 = "', "sha256 = ", 1).encode()  # an unclosed string: not TOML


def wrong_hash(lock: Path) -> bytes:
    text = lock.read_text()
    return text.replace('sha256 = "', 'sha256 = "zz', 1).encode()  # TOML, but no sha256


@pytest.mark.parametrize(
    "damage",
    [lambda _: b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe garbage", broken_by_hand, wrong_hash],
    ids=["garbage-bytes", "does-not-parse", "bad-hash"],
)
def test_a_kept_lock_that_cannot_be_read_costs_the_store_nothing(
    tmp_path: Path, stores: Stores, damage: Callable[[Path], bytes]
) -> None:
    store = stores.copy(tmp_path / "store")
    before = names(store / "sha256")
    bad = tmp_path / "team" / "pylock.bad.toml"
    bad.parent.mkdir()
    bad.write_bytes(damage(stores.lock_b))
    ways: list[list[str | Path]] = [["--keep", bad], ["--keep-dir", bad.parent]]
    for how in ways:
        result = run("gc", "--store", store, "--keep", stores.lock_a, *how)
        assert result.returncode == 2, result.stderr
        assert str(bad) in result.stderr
        assert "nothing was removed" in result.stderr
        assert "Traceback" not in result.stderr
        assert "internal error" not in result.stderr
        assert names(store / "sha256") == before


def test_a_missing_keep_or_keep_dir_is_refused(tmp_path: Path, stores: Stores) -> None:
    store = stores.copy(tmp_path / "store")
    before = names(store / "sha256")
    missing = run("gc", "--store", store, "--keep", stores.lock_a, "--keep", tmp_path / "pylock.gone.toml")
    assert missing.returncode == 2
    assert "pylock.gone.toml: no such file" in missing.stderr
    no_dir = run("gc", "--store", store, "--keep", stores.lock_a, "--keep-dir", tmp_path / "nowhere")
    assert no_dir.returncode == 2
    assert "nowhere does not exist" in no_dir.stderr
    assert names(store / "sha256") == before


def test_strays_links_and_partial_downloads(tmp_path: Path, stores: Stores) -> None:
    store = stores.copy(tmp_path / "store")
    entries = store / "sha256"
    before = names(entries)
    kept = before & references(stores.lock_a)
    a_digest = sorted(kept)[0]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_bytes(b"not the store's")
    (entries / "stray.txt").write_bytes(b"x")
    (entries / "sub").mkdir()
    (entries / "sub" / C_DIGEST).write_bytes(b"nested")
    (entries / "escape").symlink_to(outside / "target")
    (entries / C_DIGEST).symlink_to(outside / "target")  # a store name, but a link
    (entries / "out").symlink_to(outside, target_is_directory=True)
    (entries / f"{a_digest}.part").write_bytes(b"half of a kept file")
    (entries / f"{B_DIGEST}.part").write_bytes(b"half of a file no lock keeps")
    (store / "top-level.txt").write_bytes(b"outside sha256/")
    result = run("gc", "--store", store, "--keep", stores.lock_a)
    assert result.returncode == 0, result.stderr
    left = names(entries)
    assert left == kept | {"stray.txt", "sub", "escape", C_DIGEST, "out", f"{a_digest}.part"}
    assert f"removing sha256/{B_DIGEST}.part (partial download)" in result.stderr
    for name, why in [("stray.txt", "not a store entry"), ("sub", "a folder"), ("escape", "a symbolic link")]:
        assert f"skipped sha256/{name}: {why}" in result.stderr
    assert f"skipped sha256/{C_DIGEST}: a symbolic link" in result.stderr
    assert ", 5 skipped" in result.stderr
    assert (outside / "target").read_bytes() == b"not the store's"
    assert (entries / "sub" / C_DIGEST).read_bytes() == b"nested"
    assert (store / "top-level.txt").exists()


def test_a_store_that_does_not_exist_is_nothing_to_do(tmp_path: Path, stores: Stores) -> None:
    result = run("gc", "--store", tmp_path / "none", "--keep", stores.lock_a)
    assert result.returncode == 0, result.stderr
    assert "does not exist; nothing to do" in result.stderr
    assert not (tmp_path / "none").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("gc", "--store", empty, "--keep", stores.lock_a).returncode == 0
    assert list(empty.iterdir()) == []


def test_a_linked_sha256_folder_is_refused(tmp_path: Path, stores: Stores) -> None:
    real = stores.copy(tmp_path / "real")
    store = tmp_path / "store"
    store.mkdir()
    (store / "sha256").symlink_to(real / "sha256", target_is_directory=True)
    before = names(real / "sha256")
    result = run("gc", "--store", store, "--keep", stores.lock_a)
    assert result.returncode == 2
    assert "is a symbolic link" in result.stderr
    assert f"--store {real}" in result.stderr
    assert names(real / "sha256") == before
    assert (store / "sha256").is_symlink()


def test_gc_leaves_a_partial_download_a_running_fetch_holds(tmp_path: Path, stores: Stores) -> None:
    store = stores.copy(tmp_path / "store")
    part = store / "sha256" / f"{B_DIGEST}.part"
    part.write_bytes(b"half")
    handle = os.open(part, os.O_WRONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run("gc", "--store", store, "--keep", stores.lock_a, "--keep", stores.lock_b)
    finally:
        os.close(handle)
    assert result.returncode == 0, result.stderr
    assert f"left sha256/{part.name}: in use by a running fetch" in result.stderr
    assert "0 removed (0 B freed), 1 in use" in result.stderr
    assert part.read_bytes() == b"half"
