"""``envspec lock`` for real: loopback indexes built by the tests, real uv, pip-tools and pip runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from envspec.lock.read import parse_lock
from tests.support.graph import APP_FAST_PINS
from tests.support.index import IndexServer, serve_faulty, serve_index
from tests.support.isolation import isolated_env, pip_command, uv_executable


def write_spec(path: Path, mirrors: list[tuple[str, str]], packages: list[str], extra: str = "") -> Path:
    lines = ['[env]\nname = "demo"\npython = "3.11"\n']
    for name, url in mirrors:
        lines.append(f'[[mirrors]]\nname = "{name}"\nurl = "{url}"\ntrusted = true\n')
    lines.append("[network]\ntimeout = 2\nretries = 0\n")
    lines.append("[packages]\npython = [" + ", ".join(json.dumps(p) for p in packages) + "]\n")
    path.write_text("".join(lines) + extra, encoding="utf-8")
    return path


def envspec(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )


def pins(lock_path: Path) -> dict[str, str]:
    data = tomllib.loads(lock_path.read_text())
    return {p["name"]: p["version"] for p in data["packages"]}


def test_both_backends_lock_the_same_pins(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app[fast]", "es-native"])
    results = {}
    for backend in ("pip-tools", "uv"):
        out = tmp_path / f"{backend}.toml"
        result = envspec("lock", str(spec), "-o", str(out), "--resolver", backend)
        assert result.returncode == 0, result.stderr
        results[backend] = out
    expected = {**APP_FAST_PINS, "es-native": "1.0"}
    assert pins(results["pip-tools"]) == pins(results["uv"]) == expected
    a, b = (parse_lock(p.read_text(), str(p)) for p in results.values())
    assert a.env_id == b.env_id  # same spec, same artifacts: same environment
    assert {p.name: p.artifacts for p in a.packages} == {p.name: p.artifacts for p in b.packages}


def test_lock_is_valid_pep751_and_pip_installs_it(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app[fast]"])
    out = tmp_path / "pylock.toml"
    assert envspec("lock", str(spec), "-o", str(out)).returncode == 0
    data = tomllib.loads(out.read_text())
    pylock = Pylock.from_dict(data)
    pylock.validate()
    for package in data["packages"]:
        for wheel in package["wheels"]:
            assert len(wheel["hashes"]["sha256"]) == 64
            assert wheel["size"] > 0
    target = tmp_path / "target"
    install = subprocess.run(
        pip_command("install", "--no-cache-dir", "--target", str(target), "-r", str(out)),
        capture_output=True,
        text=True,
        env=isolated_env(),
        check=False,
    )
    assert install.returncode == 0, install.stderr
    expected = [
        "es_app-1.1.dist-info",
        "es_core-2.0.dist-info",
        "es_speed-2.0.dist-info",
        "es_util-1.1.dist-info",
    ]
    installed = sorted(p.name for p in target.iterdir() if p.name.endswith(".dist-info"))
    assert installed == expected
    uv_target = tmp_path / "uv-target"
    uv_install = subprocess.run(
        [uv_executable(), "pip", "install", "--no-config", "--target", str(uv_target), "-r", str(out)],
        capture_output=True,
        text=True,
        env={**isolated_env(), "UV_CACHE_DIR": str(tmp_path / "uv-cache")},
        check=False,
    )
    assert uv_install.returncode == 0, uv_install.stderr
    assert sorted(p.name for p in uv_target.iterdir() if p.name.endswith(".dist-info")) == expected


def test_same_inputs_same_bytes_and_noop(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app"])
    out = tmp_path / "lock.toml"
    assert envspec("lock", str(spec), "-o", str(out)).returncode == 0
    first = out.read_bytes()
    assert b"127.0.0.1" in first
    assert str(tmp_path).encode() not in first  # no absolute paths of this machine
    out.unlink()
    assert envspec("lock", str(spec), "-o", str(out)).returncode == 0
    assert out.read_bytes() == first

    index.clear_requests()
    started = time.perf_counter()
    again = envspec("lock", str(spec), "-o", str(out), "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["state"] == "fresh"
    assert index.requests == []  # the no-op asked no index anything
    assert time.perf_counter() - started < 5  # a process start; the benchmark measures it properly
    assert out.read_bytes() == first


def test_check_reports_stale_locks(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app"])
    out = tmp_path / "lock.toml"
    missing = envspec("lock", str(spec), "-o", str(out), "--check")
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"stale: {out}: no lockfile"
    assert not out.exists()
    assert envspec("lock", str(spec), "-o", str(out)).returncode == 0
    assert envspec("lock", str(spec), "-o", str(out), "--check").returncode == 0
    before = out.read_bytes()
    write_spec(spec, [("local", index.url)], ["es-app", "es-speed"])
    stale = envspec("lock", str(spec), "-o", str(out), "--check")
    assert stale.returncode == 1
    assert "the spec changed since it was locked" in stale.stderr
    assert len(stale.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == before  # --check never writes


def test_default_output_path(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "dev.toml", [("local", index.url)], ["es-util"])
    result = envspec("lock", "dev.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert pins(tmp_path / "locks" / "pylock.dev.toml") == {"es-util": "1.1"}
    assert spec.exists()


def test_existing_pins_are_kept_until_upgrade(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-core==1.0"])
    out = tmp_path / "lock.toml"
    assert envspec("lock", str(spec), "-o", str(out)).returncode == 0
    write_spec(spec, [("local", index.url)], ["es-core>=1.0", "es-util"])
    # es-util is new; es-core stays at the locked 1.0 although 2.0 is allowed now
    assert envspec("lock", str(spec), "-o", str(out)).returncode == 0
    assert pins(out)["es-core"] == "1.0"
    assert envspec("lock", str(spec), "-o", str(out), "--upgrade-package", "es-core").returncode == 0
    assert pins(out)["es-core"] == "2.0"


def test_scoped_index_serves_only_its_packages_and_ambient_config_is_ignored(
    tmp_path: Path, index: IndexServer, evil: IndexServer
) -> None:
    extra = (
        f'[[mirrors]]\nname = "private"\nurl = "{evil.url}"\ntrusted = true\npackages = ["es-torchlike"]\n'
    )
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app", "es-torchlike"], extra)
    env = {**os.environ, "PIP_EXTRA_INDEX_URL": evil.url, "PIP_INDEX_URL": evil.url, "UV_INDEX_URL": evil.url}
    out = tmp_path / "lock.toml"
    result = envspec("lock", str(spec), "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    locked = pins(out)
    assert locked["es-core"] == "2.0"  # not the evil index's 99.0
    assert locked["es-util"] == "1.1"
    assert locked["es-torchlike"] == "1.0+cu999"
    assert evil.requested_projects() <= {"es-torchlike"}
    data = tomllib.loads(out.read_text())
    indexes = {p["name"]: p["tool"]["envspec"]["index"] for p in data["packages"]}
    assert indexes["es-torchlike"] == "private"
    assert indexes["es-core"] == "local"


@pytest.mark.parametrize("mode", ["refuse", "hang", "error"])
def test_a_failing_first_mirror_fails_over(tmp_path: Path, index: IndexServer, mode: str) -> None:
    with serve_faulty(mode, hang_seconds=10) as bad:  # type: ignore[arg-type]
        spec = write_spec(tmp_path / "s.toml", [("broken", bad.url), ("good", index.url)], ["es-app"])
        out = tmp_path / "lock.toml"
        result = envspec("lock", str(spec), "-o", str(out))
        assert result.returncode == 0, result.stderr
    data = tomllib.loads(out.read_text())
    assert {p["tool"]["envspec"]["index"] for p in data["packages"]} == {"good"}


def test_no_reachable_mirror_names_each_and_why(tmp_path: Path) -> None:
    with serve_faulty("refuse") as refused, serve_faulty("error") as erroring:
        spec = write_spec(tmp_path / "s.toml", [("one", refused.url), ("two", erroring.url)], ["es-app"])
        result = envspec("lock", str(spec), "-o", str(tmp_path / "lock.toml"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "one (" in result.stderr
    assert "connection refused" in result.stderr
    assert "two (" in result.stderr
    assert "HTTP 503" in result.stderr
    assert not (tmp_path / "lock.toml").exists()


def test_mirrors_that_disagree_on_a_hash_are_an_error(
    tmp_path: Path, index: IndexServer, graph_root: Path
) -> None:
    with serve_faulty("tamper-index", graph_root) as tampered:
        spec = write_spec(tmp_path / "s.toml", [("good", index.url), ("other", tampered.url)], ["es-util"])
        result = envspec("lock", str(spec), "-o", str(tmp_path / "lock.toml"))
    assert result.returncode == 2
    assert "different hashes on two mirrors" in result.stderr
    assert "good" in result.stderr
    assert "other" in result.stderr


def test_unresolvable_requirements_name_the_conflict(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app==1.1", "es-core<1"])
    for backend in ("uv", "pip-tools"):
        result = envspec("lock", str(spec), "-o", str(tmp_path / "lock.toml"), "--resolver", backend)
        assert result.returncode == 2
        assert "es-core" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.splitlines()) <= 20, result.stderr


def test_foreign_target_needs_uv(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-native"])
    spec.write_text(spec.read_text().replace('python = "3.11"', 'python = "3.12"'))
    forced = envspec("lock", str(spec), "-o", str(tmp_path / "a.toml"), "--resolver", "pip-tools")
    assert forced.returncode == 2
    assert "pip-tools locks only for the Python that runs it" in forced.stderr
    auto = envspec("lock", str(spec), "-o", str(tmp_path / "b.toml"), "--json")
    assert auto.returncode == 0, auto.stderr
    lock = parse_lock((tmp_path / "b.toml").read_text(), "b")
    assert lock.resolver == "uv"
    (native,) = lock.packages
    assert [w.name for w in native.wheels] == [
        "es_native-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    ]


def test_multi_platform_lock_records_each_platforms_wheels(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-native", "es-core==2.0"])
    spec.write_text(
        spec.read_text().replace(
            'python = "3.11"\n', 'python = "3.11"\nplatforms = ["linux-x86_64", "macos-arm64"]\n'
        )
    )
    out = tmp_path / "lock.toml"
    result = envspec("lock", str(spec), "-o", str(out))
    assert result.returncode == 0, result.stderr
    lock = parse_lock(out.read_text(), "lock")
    by_name = {p.name: p for p in lock.packages}
    assert sorted(w.name for w in by_name["es-native"].wheels) == [
        "es_native-1.0-cp311-cp311-macosx_11_0_arm64.whl",
        "es_native-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ]
    assert "es-winonly" not in by_name  # its marker holds on neither platform
    Pylock.from_dict(tomllib.loads(out.read_text())).validate()


def test_concurrent_locks_do_not_corrupt_the_file(tmp_path: Path, index: IndexServer) -> None:
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-app"])
    out = tmp_path / "lock.toml"
    results: list[int] = []

    def run() -> None:
        results.append(envspec("lock", str(spec), "-o", str(out)).returncode)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [0, 0]
    parse_lock(out.read_text(), "lock")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock.toml", "s.toml"]


def test_invalid_spec_is_reported_not_locked(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[env]\nname = "x"\npython = 3.11\n')
    result = envspec("lock", str(spec), "-o", str(tmp_path / "lock.toml"))
    assert result.returncode == 2
    assert "version-not-string" in result.stderr
    assert not (tmp_path / "lock.toml").exists()


LOCAL_TORCH = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
TORCH_DEPENDENCY_STUBS = {
    "filelock": "3.16.0",
    "typing-extensions": "4.12.2",
    "setuptools": "80.0.0",
    "sympy": "1.14.0",
    "networkx": "3.4.2",
    "jinja2": "3.1.4",
    "fsspec": "2024.10.0",
}


@pytest.mark.skipif(
    not LOCAL_TORCH.exists(), reason=f"the CPU torch wheel is not on this machine ({LOCAL_TORCH})"
)
def test_torch_cpu_build_from_a_scoped_index(tmp_path: Path) -> None:
    import hashlib

    from tests.support.wheels import build_wheel

    torch_root = tmp_path / "pytorch"
    torch_root.mkdir()
    (torch_root / LOCAL_TORCH.name).symlink_to(LOCAL_TORCH)
    general = tmp_path / "general"
    general.mkdir()
    for name, version in TORCH_DEPENDENCY_STUBS.items():
        build_wheel(general, name, version)  # stand-ins: resolution needs names and versions only
    with serve_index(general) as mirror, serve_index(torch_root) as pytorch:
        extra = '[torch]\nversion = "2.13.0"\nvariant = "cpu"\nindex = "pt"\n'
        extra += f'[[mirrors]]\nname = "pt"\nurl = "{pytorch.url}"\ntrusted = true\n'
        spec = write_spec(tmp_path / "t.toml", [("general", mirror.url)], [], extra)
        out = tmp_path / "lock.toml"
        result = envspec("lock", str(spec), "-o", str(out))
        assert result.returncode == 0, result.stderr
        torch_files = [f for f in pytorch.requested_files() if not f.endswith(".metadata")]
    assert torch_files == []  # the hash came from the index page: the 190 MB wheel was never fetched
    lock = parse_lock(out.read_text(), "lock")
    by_name = {p.name: p for p in lock.packages}
    torch = by_name["torch"]
    assert torch.version == "2.13.0+cpu"
    assert torch.index_name == "pt"
    assert torch.wheels[0].sha256 == hashlib.sha256(LOCAL_TORCH.read_bytes()).hexdigest()
    assert torch.wheels[0].size == LOCAL_TORCH.stat().st_size
    assert {name for name in by_name if name != "torch"} == set(TORCH_DEPENDENCY_STUBS)
    assert all(p.index_name == "general" for n, p in by_name.items() if n != "torch")
    assert lock.facts.torch is not None
    assert lock.facts.torch.variant == "cpu"
    assert lock.requirements[0] == "torch==2.13.0+cpu"


@pytest.mark.network
def test_lock_against_the_real_default_index(tmp_path: Path) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text('[env]\nname = "net"\npython = "3.11"\n[packages]\npython = ["six==1.16.0"]\n')
    env = {k: v for k, v in os.environ.items() if k != "ENVSPEC_DEFAULT_INDEX"}
    out = tmp_path / "lock.toml"
    result = envspec("lock", str(spec), "-o", str(out), env=env)
    if result.returncode != 0 and "no mirror could serve" in result.stderr:
        pytest.skip(f"the default index is not reachable from here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    lock = parse_lock(out.read_text(), "lock")
    (six,) = lock.packages
    assert (six.name, six.version, six.index_name) == ("six", "1.16.0", "default")
    assert [w.name for w in six.wheels] == ["six-1.16.0-py2.py3-none-any.whl"]
    Pylock.from_dict(tomllib.loads(out.read_text())).validate()


def test_exclude_newer_makes_relocks_stable_in_time(tmp_path: Path, graph_root: Path) -> None:
    late = {p.name: "2025-03-01T12:00:00Z" for p in graph_root.iterdir() if p.name.startswith("es_core-2.0")}
    with serve_index(graph_root, upload_times=late) as server:
        extra = "[lock]\nexclude_newer = 2025-01-01T00:00:00Z\n"
        spec = write_spec(tmp_path / "s.toml", [("local", server.url)], ["es-core"], extra)
        out = tmp_path / "lock.toml"
        result = envspec("lock", str(spec), "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert pins(out) == {"es-core": "1.0"}  # 2.0 was uploaded after the cut-off
    with serve_index(graph_root, json=False) as html_only:
        spec = write_spec(tmp_path / "h.toml", [("html", html_only.url)], ["es-core"], extra)
        result = envspec("lock", str(spec), "-o", str(tmp_path / "h.lock"))
    assert result.returncode == 2
    assert "gives no upload times" in result.stderr


def test_an_index_without_hashes_gets_its_files_hashed(tmp_path: Path, graph_root: Path) -> None:
    import hashlib
    import http.server
    import shutil

    tree = tmp_path / "tree"
    page_dir = tree / "simple" / "es-util"
    page_dir.mkdir(parents=True)
    wheel = next(p for p in graph_root.iterdir() if p.name.startswith("es_util-1.1"))
    shutil.copy(wheel, tree / wheel.name)
    (page_dir / "index.html").write_text(f'<a href="../../{wheel.name}">{wheel.name}</a>\n')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(tree)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple"
        spec = write_spec(tmp_path / "s.toml", [("plain", url)], ["es-util"])
        out = tmp_path / "lock.toml"
        result = envspec("lock", str(spec), "-o", str(out))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.returncode == 0, result.stderr
    (package,) = parse_lock(out.read_text(), "lock").packages
    assert package.wheels[0].sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert package.wheels[0].size == wheel.stat().st_size
