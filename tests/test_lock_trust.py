"""Hash trust at lock time, for real: mirrors on 127.0.0.1 that publish no hashes, lie, or disagree.

Each case runs ``envspec lock`` with both resolvers (pip-tools and uv, for real) and checks the lock it
writes: which sha256 it records, who vouches for it (``hashes-from``), and what it tells the user.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from envspec.lock.read import parse_lock
from tests.support.index import IndexServer, serve_faulty, serve_index
from tests.test_lock_build import envspec, write_spec

BACKENDS = ("pip-tools", "uv")


def _honest_sha256(graph_root: Path, filename: str) -> str:
    return hashlib.sha256((graph_root / filename).read_bytes()).hexdigest()


def _sources(lock_path: Path) -> dict[str, dict[str, str]]:
    data = tomllib.loads(lock_path.read_text())
    return {p["name"]: p["tool"]["envspec"].get("hashes-from", {}) for p in data["packages"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hashless_tampered_mirror_cannot_decide_a_hash(
    tmp_path: Path, graph_root: Path, index: IndexServer, backend: str
) -> None:
    """Mirror 1 serves a tampered wheel and publishes no hashes; mirror 2 is honest and publishes them."""
    with serve_faulty("tamper-bytes", graph_root, hashes=False, metadata=False) as liar:
        spec = write_spec(tmp_path / "s.toml", [("hashless", liar.url), ("honest", index.url)], ["es-util"])
        out = tmp_path / "lock.toml"
        result = envspec("lock", str(spec), "-o", str(out), "--resolver", backend)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "hashless publishes no hash" in result.stderr
    assert "honest publishes sha256" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lying_mirror_fails_over_with_a_one_line_reason(
    tmp_path: Path, graph_root: Path, index: IndexServer, backend: str
) -> None:
    """Mirror 1 publishes the honest hashes but serves other bytes, and no PEP 658 metadata.

    pip-tools downloads whole wheels to read their metadata: through the router, which checks each
    download and takes the honest bytes from mirror 2, with a one-line warning. uv reads the metadata
    by byte ranges and never needs a whole file, so nothing fails; either way the lock records the
    honest hashes, and an install refuses the liar's bytes (tests/test_emit_venv_faults.py)."""
    with serve_faulty("tamper-bytes", graph_root, metadata=False) as liar:
        spec = write_spec(tmp_path / "s.toml", [("liar", liar.url), ("honest", index.url)], ["es-util"])
        out = tmp_path / "lock.toml"
        result = envspec("lock", str(spec), "-o", str(out), "--resolver", backend)
        assert liar.requested_files(), "the resolver never read from the lying mirror"
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "liar served" in line]
    if backend == "pip-tools":
        assert warnings, result.stderr
        assert "tampered or corrupted" in warnings[0]
    lock = parse_lock(out.read_text(), "lock")
    for package in lock.packages:
        for wheel in package.wheels:
            assert wheel.sha256 == _honest_sha256(graph_root, wheel.name)
            assert wheel.hash_from == "index"


def test_a_hashless_mirror_confirmed_by_another_is_cross_checked(
    tmp_path: Path, graph_root: Path, index: IndexServer
) -> None:
    with serve_index(graph_root, hashes=False) as hashless:
        spec = write_spec(tmp_path / "s.toml", [("plain", hashless.url), ("hashed", index.url)], ["es-util"])
        out = tmp_path / "lock.toml"
        result = envspec("lock", str(spec), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "trust on first download" not in result.stderr
    lock = parse_lock(out.read_text(), "lock")
    (package,) = lock.packages
    assert package.index_name == "plain"
    for wheel in package.wheels:
        assert wheel.hash_from == "cross-checked"
        assert wheel.sha256 == _honest_sha256(graph_root, wheel.name)
    assert set(_sources(out)["es-util"].values()) == {"cross-checked"}


def test_trust_on_first_download_is_a_warning_or_refused(tmp_path: Path, graph_root: Path) -> None:
    with serve_index(graph_root, hashes=False) as hashless:
        spec = write_spec(tmp_path / "s.toml", [("plain", hashless.url)], ["es-util"])
        out = tmp_path / "lock.toml"
        warned = envspec("lock", str(spec), "-o", str(out))
        strict = write_spec(
            tmp_path / "strict.toml",
            [("plain", hashless.url)],
            ["es-util"],
            "[lock]\nrequire_index_hashes = true\n",
        )
        refused = envspec("lock", str(strict), "-o", str(tmp_path / "strict.lock"))
    assert warned.returncode == 0, warned.stderr
    assert "warning:" in warned.stderr
    assert "plain publishes no hash" in warned.stderr
    assert "trust on first download" in warned.stderr
    assert set(_sources(out)["es-util"].values()) == {"first-download"}
    assert refused.returncode == 2
    assert "require_index_hashes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "strict.lock").exists()


def test_a_skipped_mirror_is_named_with_its_reason(tmp_path: Path, index: IndexServer) -> None:
    with serve_faulty("refuse") as dead:
        spec = write_spec(tmp_path / "s.toml", [("dead", dead.url), ("good", index.url)], ["es-util"])
        result = envspec("lock", str(spec), "-o", str(tmp_path / "lock.toml"))
    assert result.returncode == 0, result.stderr
    assert "skipped mirror dead" in result.stderr
    assert "connection refused" in result.stderr


def test_a_mirror_that_hangs_is_reported_once(tmp_path: Path, index: IndexServer) -> None:
    """The resolver asks for several pages at once; every request in flight fails with the mirror."""
    with serve_faulty("hang") as dead:
        top = ["es-app[fast]", "es-util", "es-core"]
        spec = write_spec(tmp_path / "s.toml", [("dead", dead.url), ("good", index.url)], top)
        result = envspec("lock", str(spec), "-o", str(tmp_path / "lock.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("skipped mirror dead") == 1, result.stderr


def test_hash_sources_read_back_and_bad_ones_are_refused(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-util"])
    out = tmp_path / "lock.toml"
    assert envspec("lock", str(spec), "-o", str(out)).returncode == 0
    text = out.read_text()
    (package,) = parse_lock(text, "lock").packages
    assert {w.hash_from for w in package.wheels} == {"index"}
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('= "index"}', '= "trust-me"}', 1))
    result = envspec("emit", "--lock", str(bad), "--target", "venv", "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "invalid-value" in result.stderr
    assert "hashes-from" in result.stderr
    assert not (tmp_path / "out").exists()
