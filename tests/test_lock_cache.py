"""envspec's persistent cache for real: pages revalidated with ETags, metadata and files by hash.

Each test runs ``envspec lock`` twice against a loopback index with one cache folder, and checks what
the second run asked the index for, and that the lock it wrote is byte for byte the first one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from envspec.lock.diskcache import MAX_FRESH_SECONDS, CachedPage, DiskCache, fresh_for
from tests.support.index import IndexServer, serve_index
from tests.test_lock_build import write_spec


def lock(spec: Path, out: Path, cache: Path | None, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVSPEC_")}
    if cache is not None:
        env["ENVSPEC_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "envspec",
            "lock",
            str(spec),
            "-o",
            str(out),
            "--resolver",
            "pip-tools",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


@pytest.fixture
def html_index(graph_root: Path) -> Iterator[IndexServer]:
    """An index of HTML pages: the router rewrites their links, so metadata goes through envspec."""
    with serve_index(graph_root, json=False) as server:
        yield server


def test_a_warm_cache_asks_less_and_changes_nothing(tmp_path: Path, html_index: IndexServer) -> None:
    index = html_index
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app[fast]"])
    cache = tmp_path / "cache"
    cold = lock(spec, tmp_path / "cold.toml", cache)
    assert cold.returncode == 0, cold.stderr
    first = list(index.records)
    assert any(r.path.endswith(".metadata") for r in first)
    index.clear_requests()
    warm = lock(spec, tmp_path / "warm.toml", cache)
    assert warm.returncode == 0, warm.stderr
    second = list(index.records)
    assert (tmp_path / "warm.toml").read_bytes() == (tmp_path / "cold.toml").read_bytes()
    pages = [r for r in second if r.path.startswith("/simple/")]
    assert pages, "the warm run must still ask whether each page changed"
    assert all(r.if_none_match for r in pages), "every page was revalidated with its ETag"
    assert not [r for r in second if r.path.endswith(".metadata")], "metadata came from the cache"


def test_a_damaged_cache_entry_is_fetched_again(tmp_path: Path, html_index: IndexServer) -> None:
    index = html_index
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-util"])
    cache = tmp_path / "cache"
    assert lock(spec, tmp_path / "a.toml", cache).returncode == 0
    blobs = [p for p in cache.rglob("*") if p.is_file() and "blobs" in p.parts]
    assert blobs
    for blob in blobs:
        blob.write_bytes(b"damaged")
    index.clear_requests()
    again = lock(spec, tmp_path / "b.toml", cache)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "b.toml").read_bytes() == (tmp_path / "a.toml").read_bytes()
    assert any(r.path.endswith(".metadata") for r in index.records), "a damaged blob is a miss"
    assert DiskCache(next(cache.iterdir())).blob("sha256", "0" * 64) is None


def test_no_cache_writes_nothing(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-util"])
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVSPEC_")}
    env.update(ENVSPEC_NO_CACHE="1", ENVSPEC_CACHE_DIR=str(cache))
    result = subprocess.run(
        [sys.executable, "-m", "envspec", "lock", str(spec), "-o", str(tmp_path / "b.toml")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert not cache.exists()


def test_pages_without_validators_are_not_kept(tmp_path: Path) -> None:
    disk = DiskCache(tmp_path)
    disk.store_page("http://x/simple/a/", "json", CachedPage(b"{}", "application/json", "http://x/simple/a/"))
    assert disk.page("http://x/simple/a/", "json") is None
    page = CachedPage(b"{}", "application/json", "http://x/simple/a/", etag='"1"')
    disk.store_page("http://x/simple/a/", "json", page)
    assert disk.page("http://x/simple/a/", "json") == page
    assert disk.page("http://x/simple/a/", "html") is None  # the Accept header is part of the key


def test_served_index_pages_answer_304_to_their_etag(graph_root: Path) -> None:
    import requests

    with serve_index(graph_root) as server:
        first = requests.get(server.project_url("es-util"), timeout=5)
        again = requests.get(
            server.project_url("es-util"), headers={"If-None-Match": first.headers["ETag"]}, timeout=5
        )
    assert first.status_code == 200
    assert again.status_code == 304


def test_uv_keeps_its_cache_inside_envspecs(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-util"])
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENVSPEC_", "UV_"))}
    env["ENVSPEC_CACHE_DIR"] = str(cache)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "envspec",
            "lock",
            str(spec),
            "-o",
            str(tmp_path / "l.toml"),
            "--resolver",
            "uv",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    (root,) = cache.iterdir()
    assert (root / "uv").is_dir()
    assert any((root / "uv").iterdir())


def test_pip_tools_keeps_its_caches_inside_envspecs_and_the_router_its_port(
    tmp_path: Path, index: IndexServer
) -> None:
    """A cache path with a space (a macOS home) reaches pip-tools intact; both locks are the same bytes."""
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app[fast]"])
    cache = tmp_path / "my cache"
    first = lock(spec, tmp_path / "one.toml", cache)
    assert first.returncode == 0, first.stderr
    (root,) = cache.iterdir()
    (tools,) = (root / "pip-tools").iterdir()  # one folder for the one router URL
    port = (root / "router-port").read_text().strip()
    assert port.isdigit()
    second = lock(spec, tmp_path / "two.toml", cache)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "two.toml").read_bytes() == (tmp_path / "one.toml").read_bytes()
    assert (root / "router-port").read_text().strip() == port  # the same URL: caches stay warm
    assert [p.name for p in (root / "pip-tools").iterdir()] == [tools.name]


@pytest.mark.parametrize(
    ("cache_control", "age", "seconds"),
    [
        ("max-age=600", None, 600.0),
        ("public, max-age=600", "100", 500.0),
        ("max-age=600", "900", 0.0),
        ("max-age=0, must-revalidate", None, 0.0),
        ("no-cache, max-age=600", None, 0.0),
        ("no-store", None, 0.0),
        ("max-age=999999", None, MAX_FRESH_SECONDS),
        ("max-age=nan", None, 0.0),
        ("max-age=ten", None, 0.0),
        ("max-age=1, max-age=600", None, 0.0),
        (None, None, 0.0),
    ],
)
def test_a_page_is_fresh_for_what_its_index_says_and_no_longer(
    cache_control: str | None, age: str | None, seconds: float
) -> None:
    headers = {k: v for k, v in (("Cache-Control", cache_control), ("Age", age)) if v is not None}
    assert fresh_for(headers) == seconds


def test_a_fresh_page_is_not_asked_for_again_until_it_expires(tmp_path: Path) -> None:
    disk = DiskCache(tmp_path)
    page = CachedPage(b"{}", "application/json", "http://x/simple/a/", fresh_until=1000.0)
    disk.store_page("http://x/simple/a/", "json", page)
    kept = disk.page("http://x/simple/a/", "json")
    assert kept == page
    assert kept.is_fresh(999.0)
    assert not kept.is_fresh(1000.0)
    assert not kept.is_fresh(1000.0 - MAX_FRESH_SECONDS - 1)  # a clock set back: ask again


def test_an_index_max_age_spares_the_warm_lock_its_page_requests(tmp_path: Path, index: IndexServer) -> None:
    """As pip and uv do: while the index says a page is fresh, it is not asked for again."""
    index.set_page_cache_control("max-age=600")
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app[fast]"])
    cache = tmp_path / "cache"
    assert lock(spec, tmp_path / "cold.toml", cache).returncode == 0
    index.clear_requests()
    warm = lock(spec, tmp_path / "warm.toml", cache)
    assert warm.returncode == 0, warm.stderr
    assert (tmp_path / "warm.toml").read_bytes() == (tmp_path / "cold.toml").read_bytes()
    asked = [r.path for r in index.records if r.path.startswith("/simple/")]
    assert asked == [], "fresh pages came from the cache"
    index.clear_requests()
    cold = lock(spec, tmp_path / "again.toml", cache, "--no-cache")
    assert cold.returncode == 0, cold.stderr
    assert [r for r in index.records if r.path.startswith("/simple/")], "--no-cache asks the index"
