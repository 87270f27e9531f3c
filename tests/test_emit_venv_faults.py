"""bootstrap.sh under faults, for real: dead and lying mirrors, files spread over mirrors, SIGKILL.

Every case locks against loopback indexes, emits the venv target, and runs the emitted script with
bash, then looks at what is left at the prefix and beside it.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.support.index import serve_faulty, serve_index
from tests.support.isolation import isolated_env


def envspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False
    )


def make_bootstrap(folder: Path, mirrors: list[tuple[str, str]], packages: list[str]) -> Path:
    """Lock ``packages`` against ``mirrors`` and emit the venv target; the path of bootstrap.sh."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['[env]\nname = "faults"\npython = "3.11"\n']
    lines += [f'[[mirrors]]\nname = "{n}"\nurl = "{u}"\ntrusted = true\n' for n, u in mirrors]
    lines.append("[network]\ntimeout = 3\nretries = 0\n")
    lines.append("[packages]\npython = [" + ", ".join(f'"{p}"' for p in packages) + "]\n")
    spec = folder / "spec.toml"
    spec.write_text("".join(lines), encoding="utf-8")
    locked = envspec("lock", str(spec), "-o", str(folder / "pylock.toml"))
    assert locked.returncode == 0, locked.stderr
    emitted = envspec("emit", "--lock", str(folder / "pylock.toml"), "--target", "venv", "-o", str(folder))
    assert emitted.returncode == 0, emitted.stderr
    return folder / "bootstrap.sh"


def bootstrap(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """bootstrap.sh with pip as the installer (tests/test_emit_venv_uv.py covers uv)."""
    return subprocess.run(
        ["bash", str(script), "--installer", "pip", *args],
        capture_output=True,
        text=True,
        check=False,
        env=isolated_env(),
    )


def start(script: Path, prefix: Path) -> subprocess.Popen[bytes]:
    """bootstrap.sh in the background, in a session of its own (a signal reaches only the script)."""
    return subprocess.Popen(
        ["bash", str(script), "--installer", "pip", "--prefix", str(prefix)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=isolated_env(),
        start_new_session=True,
    )


def subset(graph_root: Path, dest: Path, projects: set[str]) -> Path:
    """A folder with the wheels of ``projects`` only (an index that holds part of the graph)."""
    dest.mkdir(parents=True)
    for wheel in graph_root.iterdir():
        if canonicalize_name(parse_wheel_filename(wheel.name)[0]) in projects:
            shutil.copy(wheel, dest / wheel.name)
    return dest


def stamp(prefix: Path) -> str | None:
    path = prefix / "envspec-stamp"
    return path.read_text().split()[0] if path.is_file() else None


def imports(prefix: Path, module: str) -> bool:
    python = prefix / "bin" / "python"
    if not python.exists():
        return False
    run = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False)
    return run.returncode == 0


def processes_under(path: Path) -> list[str]:
    """Command lines of running processes that name ``path`` (children a killed script left)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in command:
            found.append(command)
    return found


def test_each_file_fails_over_on_its_own(tmp_path: Path, graph_root: Path) -> None:
    """Mirror A holds only es-util, mirror B only es-core: the lock takes each from where it is, and
    the install fetches each file from the index that has it (not the whole set from one mirror)."""
    only_util = subset(graph_root, tmp_path / "a", {"es-util"})
    only_core = subset(graph_root, tmp_path / "b", {"es-core"})
    with serve_index(only_util) as a, serve_index(only_core) as b:
        script = make_bootstrap(tmp_path / "lock", [("a", a.url), ("b", b.url)], ["es-core==2.0"])
        result = bootstrap(script, "--prefix", str(tmp_path / "env"))
    assert result.returncode == 0, result.stderr
    assert f"from 127.0.0.1:{a.port}" in result.stderr
    assert f"from 127.0.0.1:{b.port}" in result.stderr
    assert imports(tmp_path / "env", "es_core")
    assert imports(tmp_path / "env", "es_util")


def test_a_dead_recorded_index_fails_over_to_the_mirror_flags(tmp_path: Path, graph_root: Path) -> None:
    with serve_index(graph_root) as gone:
        script = make_bootstrap(tmp_path / "lock", [("gone", gone.url)], ["es-core==2.0"])
    only_util = subset(graph_root, tmp_path / "a", {"es-util"})
    only_core = subset(graph_root, tmp_path / "b", {"es-core"})
    failed = bootstrap(script, "--prefix", str(tmp_path / "none"))
    assert failed.returncode == 1
    assert "connection refused" in failed.stderr
    assert "could not fetch es_core-2.0-py3-none-any.whl" in failed.stderr
    assert "is as it was" in failed.stderr
    assert not (tmp_path / "none").exists()
    assert not (tmp_path / "none.envspec").exists()
    with serve_index(only_util) as a, serve_index(only_core) as b:
        result = bootstrap(script, "--prefix", str(tmp_path / "env"), "--mirror", a.url, "--mirror", b.url)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("connection refused") == 1, result.stderr  # said once, then not asked again
    assert f"from 127.0.0.1:{a.port}" in result.stderr
    assert f"from 127.0.0.1:{b.port}" in result.stderr
    assert imports(tmp_path / "env", "es_core")


def test_a_tampered_recorded_index_is_refused_per_file(tmp_path: Path, graph_root: Path) -> None:
    with serve_index(graph_root) as honest_then_gone:
        port = honest_then_gone.port
        script = make_bootstrap(tmp_path / "lock", [("m", honest_then_gone.url)], ["es-core==2.0"])
    with serve_faulty("tamper-bytes", graph_root, port=port), serve_index(graph_root) as honest:
        refused = bootstrap(script, "--prefix", str(tmp_path / "bad"))
        recovered = bootstrap(script, "--prefix", str(tmp_path / "good"), "--mirror", honest.url)
    assert refused.returncode == 1
    assert "REFUSED" in refused.stderr
    assert "tampered or corrupted" in refused.stderr
    assert not (tmp_path / "bad").exists()
    assert not (tmp_path / "bad.envspec").exists()
    assert recovered.returncode == 0, recovered.stderr
    assert "REFUSED" in recovered.stderr  # the recorded URL was tried first, and said why it lost
    check = subprocess.run(
        [
            str(tmp_path / "good" / "bin" / "python"),
            "-c",
            "import es_core; print(hasattr(es_core, 'TAMPERED'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.stdout.strip() == "False"


def test_a_folder_that_is_not_an_environment_is_never_replaced(tmp_path: Path, graph_root: Path) -> None:
    with serve_index(graph_root) as index:
        script = make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-util"])
        prefix = tmp_path / "work"
        prefix.mkdir()
        (prefix / "notes.txt").write_text("mine")
        result = bootstrap(script, "--prefix", str(prefix))
    assert result.returncode == 1
    assert "is not an environment built by envspec" in result.stderr
    assert (prefix / "notes.txt").read_text() == "mine"


def test_a_set_aside_env_comes_back_and_an_old_style_env_is_replaced(
    tmp_path: Path, graph_root: Path
) -> None:
    with serve_index(graph_root) as index:
        old = make_bootstrap(tmp_path / "v1", [("m", index.url)], ["es-core==1.0"])
        new = make_bootstrap(tmp_path / "v2", [("m", index.url)], ["es-app[fast]"])
        prefix = tmp_path / "env"
        assert bootstrap(old, "--prefix", str(prefix), "--no-swap").returncode == 0  # a plain folder
        old_id = stamp(prefix)
        # a run killed between setting the old env aside and linking the new one left this:
        (tmp_path / "env.envspec").mkdir()
        prefix.rename(tmp_path / "env.envspec" / "old.99999")
        again = bootstrap(old, "--prefix", str(prefix))
        assert again.returncode == 0, again.stderr
        assert "restored the environment a killed run had set aside" in again.stderr
        assert "nothing to do" in again.stderr
        assert stamp(prefix) == old_id
        assert not prefix.is_symlink()
        replaced = bootstrap(new, "--prefix", str(prefix))
    assert replaced.returncode == 0, replaced.stderr
    assert prefix.is_symlink()
    assert stamp(prefix) != old_id
    assert imports(prefix, "es_app")
    assert sorted(p.name for p in (tmp_path / "env.envspec").iterdir()) == [
        ".lock",
        prefix.readlink().name,
    ]


def test_sigkill_at_random_moments_never_loses_the_environment(tmp_path: Path, graph_root: Path) -> None:
    """Kill the script (and only the script) at random moments while it replaces an environment:
    the prefix always holds a working environment, old or new; no child outlives the script; the
    next run finishes the job and leaves nothing else behind."""
    seed = random.randrange(1 << 30)  # noqa: S311 - kill moments, not secrets
    rng = random.Random(seed)  # noqa: S311
    with serve_index(graph_root) as index:
        old = make_bootstrap(tmp_path / "v1", [("m", index.url)], ["es-core==1.0"])
        new = make_bootstrap(tmp_path / "v2", [("m", index.url)], ["es-app[fast]"])
        prefix = tmp_path / "env"
        store = tmp_path / "env.envspec"
        assert bootstrap(old, "--prefix", str(prefix)).returncode == 0
        old_id = stamp(prefix)
        started = time.monotonic()
        full = bootstrap(new, "--prefix", str(prefix))
        duration = time.monotonic() - started
        assert full.returncode == 0, full.stderr
        new_id = stamp(prefix)
        outcomes: list[bool] = []
        for _ in range(8):
            if stamp(prefix) != old_id:
                assert bootstrap(old, "--prefix", str(prefix)).returncode == 0
            # half the kills land late, where the environment is switched
            delay = rng.uniform(0.05, duration) if len(outcomes) % 2 else rng.uniform(0.7, 1.05) * duration
            process = start(new, prefix)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait()
            deadline = time.monotonic() + 5
            while processes_under(store) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert processes_under(store) == [], f"children outlived the script (seed {seed})"
            assert stamp(prefix) in (old_id, new_id), (
                f"no environment at the prefix after {delay:.2f} s (seed {seed})"
            )
            assert imports(prefix, "es_core"), f"the environment at the prefix is broken (seed {seed})"
            outcomes.append(stamp(prefix) == new_id)
        finished = bootstrap(new, "--prefix", str(prefix))
    assert finished.returncode == 0, finished.stderr
    assert stamp(prefix) == new_id
    assert imports(prefix, "es_app")
    assert sorted(p.name for p in store.iterdir()) == [".lock", prefix.readlink().name]
    assert not any(p.name.startswith(".envspec") for p in tmp_path.iterdir())
    print(f"seed {seed}: {outcomes.count(False)} kills left the old env, {outcomes.count(True)} the new one")


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_children_and_restores(tmp_path: Path, graph_root: Path, signal_number: int) -> None:
    with serve_index(graph_root) as index:
        old = make_bootstrap(tmp_path / "v1", [("m", index.url)], ["es-core==1.0"])
        new = make_bootstrap(tmp_path / "v2", [("m", index.url)], ["es-app[fast]"])
        prefix = tmp_path / "env"
        assert bootstrap(old, "--prefix", str(prefix)).returncode == 0
        old_id = stamp(prefix)
        process = start(new, prefix)
        time.sleep(1.0)  # inside python -m venv or the fetch
        process.send_signal(signal_number)
        assert process.wait(timeout=20) != 0
    assert stamp(prefix) == old_id
    assert imports(prefix, "es_core")
    assert processes_under(tmp_path / "env.envspec") == []
    assert sorted(p.name for p in (tmp_path / "env.envspec").iterdir()) == [
        ".lock",
        prefix.readlink().name,
    ]


def test_a_mirror_page_cannot_point_the_fetcher_at_local_files(tmp_path: Path, graph_root: Path) -> None:
    """A hostile --mirror lists the locked file names with file: URLs; they are refused, not read."""
    import http.server
    import threading

    with serve_index(graph_root) as gone:
        script = make_bootstrap(tmp_path / "lock", [("gone", gone.url)], ["es-util"])
    secret = tmp_path / "secret.whl"
    secret.write_bytes(b"not for the mirror to choose")
    page = tmp_path / "tree" / "simple" / "es-util"
    page.mkdir(parents=True)
    wheel = next(p.name for p in graph_root.iterdir() if p.name.startswith("es_util-1.1"))
    (page / "index.html").write_text(f'<a href="file://{secret}">{wheel}</a>\n')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002 - silence
            return

    tree = str(tmp_path / "tree")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=tree))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple"
        result = bootstrap(script, "--prefix", str(tmp_path / "env"), "--mirror", url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.returncode == 1
    assert "to a file: URL, which is refused" in result.stderr
    assert not (tmp_path / "env").exists()
