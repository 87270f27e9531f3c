"""envspec's cache folder: which one wins, and spec-hash entries that are checked, atomic and bounded."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from envspec import cache
from envspec.cache import CACHE_FORMAT, cache_dir, cached_spec_hash, default_cache_dir, store_spec_hash

KEY = "ab" * 32
VALUE = "sha256:" + "0123456789abcdef" * 4
HOME = {"HOME": "/home/u"}


def test_the_platform_default() -> None:
    assert default_cache_dir(HOME, "linux") == Path("/home/u/.cache/envspec")
    assert default_cache_dir({**HOME, "XDG_CACHE_HOME": "/x"}, "linux") == Path("/x/envspec")
    assert default_cache_dir({**HOME, "XDG_CACHE_HOME": "rel"}, "linux") == Path("/home/u/.cache/envspec")
    assert default_cache_dir({**HOME, "XDG_CACHE_HOME": ""}, "linux") == Path("/home/u/.cache/envspec")
    assert default_cache_dir({**HOME, "XDG_CACHE_HOME": "/x"}, "darwin") == Path(
        "/home/u/Library/Caches/envspec"
    )


def test_precedence_first_match_wins() -> None:
    version = f"v{CACHE_FORMAT}"
    env = {**HOME, "ENVSPEC_CACHE_DIR": "/env", "XDG_CACHE_HOME": "/x"}
    assert cache_dir(Path("/flag"), disabled=True, environ=env) is None  # --no-cache beats everything
    assert cache_dir(Path("/flag"), environ={**env, "ENVSPEC_NO_CACHE": "1"}) == Path("/flag", version)
    assert cache_dir(environ={**env, "ENVSPEC_NO_CACHE": "1"}) is None
    assert cache_dir(environ={**env, "ENVSPEC_NO_CACHE": "yes"}) is None
    assert cache_dir(environ={**env, "ENVSPEC_NO_CACHE": "0"}) == Path("/env", version)
    assert cache_dir(environ={**env, "ENVSPEC_NO_CACHE": ""}) == Path("/env", version)
    assert cache_dir(environ=env) == Path("/env", version)
    assert cache_dir(environ={**env, "ENVSPEC_CACHE_DIR": ""}) == Path("/x/envspec", version)
    assert cache_dir(Path("~/c"), environ=env) == Path("~/c").expanduser() / version


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENVSPEC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ENVSPEC_NO_CACHE", raising=False)
    assert cache_dir() == tmp_path / f"v{CACHE_FORMAT}"
    monkeypatch.setenv("ENVSPEC_NO_CACHE", "1")
    assert cache_dir() is None


def test_an_entry_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    assert cached_spec_hash(tmp_path, KEY) is None
    store_spec_hash(tmp_path, KEY, VALUE)
    assert cached_spec_hash(tmp_path, KEY) == VALUE
    assert [p.name for p in (tmp_path / "spec-hash").iterdir()] == [KEY]
    assert (tmp_path / "spec-hash" / KEY).read_text() == VALUE + "\n"
    store_spec_hash(tmp_path, KEY, VALUE.replace("0", "f"))  # replaced, atomically
    assert cached_spec_hash(tmp_path, KEY) == VALUE.replace("0", "f")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"sha256:",
        VALUE.encode() + b"\n\n",
        VALUE.upper().encode(),
        b"\xff" * 71,
        VALUE[:-1].encode(),
        b" " + VALUE.encode(),
    ],
)
def test_a_malformed_entry_is_a_miss(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "spec-hash").mkdir()
    (tmp_path / "spec-hash" / KEY).write_bytes(content)
    assert cached_spec_hash(tmp_path, KEY) is None


def test_an_entry_that_is_no_file_is_a_miss(tmp_path: Path) -> None:
    (tmp_path / "spec-hash" / KEY).mkdir(parents=True)
    assert cached_spec_hash(tmp_path, KEY) is None
    fifo = tmp_path / "spec-hash" / ("cd" * 32)
    os.mkfifo(fifo)
    result: list[str | None] = []
    reader = threading.Thread(target=lambda: result.append(cached_spec_hash(tmp_path, fifo.name)))
    reader.start()
    reader.join(timeout=10)
    assert result == [None]  # answered at once, not blocked waiting for a writer


def test_keys_and_values_are_checked(tmp_path: Path) -> None:
    for key in ("../../etc/passwd", KEY.upper(), KEY[:-1], ""):
        assert cached_spec_hash(tmp_path, key) is None
        with pytest.raises(ValueError, match="not a spec-hash cache entry"):
            store_spec_hash(tmp_path, key, VALUE)
    with pytest.raises(ValueError, match="not a spec-hash cache entry"):
        store_spec_hash(tmp_path, KEY, "sha256:short")
    assert not (tmp_path / "spec-hash").exists()


def test_an_unwritable_cache_is_silently_no_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store_spec_hash(blocker, KEY, VALUE)
    assert cached_spec_hash(blocker, KEY) is None
    (tmp_path / "c" / "spec-hash" / KEY).mkdir(parents=True)  # a folder where the entry belongs
    store_spec_hash(tmp_path / "c", KEY, VALUE)
    assert [p.name for p in (tmp_path / "c" / "spec-hash").iterdir()] == [KEY]


def test_old_entries_are_pruned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cache, "SPEC_HASH_ENTRIES", 3)
    keys = [f"{n:064x}" for n in range(5)]
    for age, key in enumerate(keys):
        store_spec_hash(tmp_path, key, VALUE)
        stamp = time.time() - 1000 + age
        os.utime(tmp_path / "spec-hash" / key, (stamp, stamp))
    assert sorted(p.name for p in (tmp_path / "spec-hash").iterdir()) == keys[2:]  # the oldest went
    store_spec_hash(tmp_path, keys[0], VALUE)
    assert sorted(p.name for p in (tmp_path / "spec-hash").iterdir()) == [keys[0], *keys[3:]]
