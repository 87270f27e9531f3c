"""``envspec export-mirror``, for real: the exported folder served by ``python -m http.server`` on
127.0.0.1, installed from by bootstrap.sh, pip and uv after the mirror the lock was made against is
gone."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.index import serve_index
from tests.support.isolation import isolated_env, uv_executable
from tests.test_emit_venv_faults import bootstrap, imports, make_bootstrap


def envspec(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "envspec", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@contextlib.contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1 serving ``folder``; its ``/simple/`` URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(folder),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/simple/"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=1).close()
                break
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def hashed_requirements(lock: Path) -> str:
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    return "".join(
        f"{p['name']}=={p['version']} "
        + " ".join(f"--hash=sha256:{w['hashes']['sha256']}" for w in p.get("wheels", []))
        + "\n"
        for p in data["packages"]
    )


@pytest.fixture
def exported(tmp_path: Path, graph_root: Path) -> tuple[Path, Path, Path]:
    """A lock made against a loopback mirror that is gone afterwards, its bootstrap.sh, and its
    exported mirror."""
    with serve_index(graph_root) as index:
        script = make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-app[fast]"])
        lock = tmp_path / "lock" / "pylock.toml"
        done = envspec("export-mirror", lock, "-o", tmp_path / "mirror", "--store", tmp_path / "store")
    assert done.returncode == 0, done.stderr
    return lock, script, tmp_path / "mirror"


def test_bootstrap_installs_from_the_served_export(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    _, script, mirror = exported
    with http_server(mirror) as url:
        built = bootstrap(script, "--prefix", str(tmp_path / "env"), "--mirror", url)
    assert built.returncode == 0, built.stderr
    assert "connection refused" in built.stderr  # the lock's own mirror is gone: said, then failed over
    assert imports(tmp_path / "env", "es_app")


def test_pip_and_uv_install_the_lock_from_the_served_export(
    tmp_path: Path, exported: tuple[Path, Path, Path]
) -> None:
    lock, _, mirror = exported
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(hashed_requirements(lock), encoding="utf-8")
    with http_server(mirror) as url:
        subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "pip-env")], check=True)
        pip = subprocess.run(
            [str(tmp_path / "pip-env" / "bin" / "python"), "-m", "pip", "install", "--require-hashes",
             "--no-deps", "--index-url", url, "-r", str(requirements)],
            capture_output=True, text=True, check=False, env=isolated_env(),
        )  # fmt: skip
        assert pip.returncode == 0, pip.stdout + pip.stderr
        try:
            uv = uv_executable()
        except FileNotFoundError:
            pytest.skip("uv is not installed next to the test interpreter or on PATH")
        subprocess.run(
            [uv, "venv", "--no-config", "-q", str(tmp_path / "uv-env")], check=True, env=isolated_env()
        )
        installed = subprocess.run(
            [uv, "pip", "install", "--no-config", "--python", str(tmp_path / "uv-env" / "bin" / "python"),
             "--require-hashes", "--no-deps", "--index-url", url, "-r", str(requirements)],
            capture_output=True, text=True, check=False, env=isolated_env(),
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr
    assert imports(tmp_path / "pip-env", "es_app")
    assert imports(tmp_path / "uv-env", "es_app")


def test_every_page_links_its_files_with_their_sha256(exported: tuple[Path, Path, Path]) -> None:
    lock, _, mirror = exported
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    for package in data["packages"]:
        page = (mirror / "simple" / package["name"] / "index.html").read_text(encoding="utf-8")
        for wheel in package.get("wheels", []):
            assert f"#sha256={wheel['hashes']['sha256']}" in page
            assert (mirror / "files" / wheel["name"]).is_file()
    listed = (mirror / "simple" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{p["name"]}/"' in listed for p in data["packages"])


def test_the_exported_files_install_offline(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    """Removable media: the export's files folder, with no server and no network."""
    _, script, mirror = exported
    built = bootstrap(script, "--prefix", str(tmp_path / "env"), "--offline", str(mirror / "files"))
    assert built.returncode == 0, built.stderr
    assert imports(tmp_path / "env", "es_app")
