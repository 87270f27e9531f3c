"""bootstrap.sh with uv and with pip, for real: the same environment either way, and uv under faults.

Each case runs the emitted script with bash against loopback indexes, with ``PATH`` given
explicitly: the folder of the uv next to the test interpreter where a case needs uv, none where it
must not find one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import packaging.tags
import pytest

from tests.support.index import IndexServer, serve_faulty, serve_index
from tests.support.isolation import isolated_env, uv_executable
from tests.support.wheels import build_wheel
from tests.test_emit_venv import STUB_TORCH, TRICKY
from tests.test_emit_venv_faults import imports, make_bootstrap, processes_under, stamp

from .conftest import REPO

INSTALLERS = ("uv", "pip")
# the stand-in torch of test_emit_venv, plus what `envspec verify` reads back from a torch
VERIFIABLE_TORCH = (
    STUB_TORCH
    + """
version = types.SimpleNamespace(cuda=None)
_precision = "highest"
def set_float32_matmul_precision(value):
    global _precision
    _precision = value
    calls.append(("precision", value))
def get_float32_matmul_precision(): return _precision
def are_deterministic_algorithms_enabled(): return False
def get_num_threads(): return 1
import sys
sys.modules[__name__ + "._inductor"] = types.ModuleType(__name__ + "._inductor")
"""
)


def path_without_uv() -> list[str]:
    """The test's ``PATH`` less every folder that holds a ``uv``."""
    return [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "uv").exists()]


def env_with(path: list[str], **extra: str) -> dict[str, str]:
    env = isolated_env()
    env["PATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def bootstrap(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``bash bootstrap.sh ARGS`` with the interpreter running the tests (PATH only decides uv)."""
    command = ["bash", str(script), "--python", sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


def run_python(prefix: Path, code: str) -> str:
    done = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def installer_of(prefix: Path, distribution: str) -> str:
    return run_python(
        prefix,
        f"import importlib.metadata as m; print(m.distribution({distribution!r}).read_text('INSTALLER'))",
    )


@pytest.fixture(scope="module")
def uv_path() -> list[str]:
    """A ``PATH`` whose first folder holds a uv that runs."""
    try:
        uv = uv_executable()
    except FileNotFoundError:
        pytest.skip("uv is not installed next to the test interpreter or on PATH")
    return [str(Path(uv).parent), *path_without_uv()]


@pytest.fixture(scope="module")
def mirror_root(graph_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uv-mirror")
    for wheel in graph_root.iterdir():
        shutil.copy(wheel, root / wheel.name)
    build_wheel(root, "torch", "0.0.1", module_source=VERIFIABLE_TORCH)  # a stand-in: the hook needs the name
    return root


@pytest.fixture(scope="module")
def mirror(mirror_root: Path) -> Iterator[IndexServer]:
    with serve_index(mirror_root) as server:
        yield server


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory, mirror: IndexServer) -> Path:
    """bootstrap.sh of an environment with platform wheels, runtime variables and torch settings."""
    folder = tmp_path_factory.mktemp("uv-emit")
    spec = folder / "venv.toml"
    env_block = "\n".join(
        f"{k} = {json.dumps(v)}" for k, v in {"TRICKY": TRICKY, "OMP_NUM_THREADS": "3"}.items()
    )
    spec.write_text(
        '[env]\nname = "uvtest"\npython = "3.11"\n'
        f'[[mirrors]]\nname = "local"\nurl = "{mirror.url}"\ntrusted = true\n'
        "[network]\ntimeout = 3\nretries = 0\n"
        '[packages]\npython = ["es-app[fast]", "es-native", "torch"]\n'
        f"[runtime.env]\n{env_block}\n"
        '[runtime.torch]\ncudnn_benchmark = true\nfloat32_matmul_precision = "high"\n',
        encoding="utf-8",
    )
    for args in (
        ["lock", str(spec), "-o", str(folder / "pylock.toml")],
        ["emit", "--lock", str(folder / "pylock.toml"), "--target", "venv", "-o", str(folder / "out")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    return folder / "out" / "bootstrap.sh"


def check_environment(prefix: Path, tmp_path: Path) -> None:
    """What every environment of ``emitted`` must be, whichever installer built it."""
    assert run_python(
        prefix, "import es_app, es_core, es_native; print(es_app.__version__, es_core.__version__)"
    ) == ("1.1 2.0")
    assert (prefix / "envspec-stamp").read_text().split()[0].endswith("-uvtest")
    assert (prefix / "envspec-lock.toml").is_file()
    # the platform wheel that fits this interpreter, not the macOS or cp312 one
    wheel = run_python(
        prefix, "import importlib.metadata as m; print(m.distribution('es-native').read_text('WHEEL'))"
    )
    assert "Tag: cp311-cp311-manylinux_2_17_x86_64" in wheel
    # the start-up hook: nothing at start-up, the settings once torch is imported
    assert run_python(prefix, "import sys; print('torch' in sys.modules)") == "False"
    assert run_python(prefix, "import torch; print(torch.backends.cudnn.benchmark, torch.calls)") == (
        "True [('precision', 'high')]"
    )
    shell = (
        f"export OMP_NUM_THREADS=before; source {prefix}/bin/activate; "
        'printf "%s\\n" "$TRICKY" "$OMP_NUM_THREADS"; deactivate; '
        'printf "%s\\n" "${TRICKY-unset}" "$OMP_NUM_THREADS"'
    )
    activated = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert activated.stdout.splitlines() == [TRICKY, "3", "unset", "before"], activated.stderr
    assert not (tmp_path / "pwned").exists()
    # the command bootstrap.sh prints at the end passes, without activation
    verified = subprocess.run(
        [sys.executable, "-m", "envspec", "verify", "--python", str(prefix / "bin" / "python")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "matches the lock" in verified.stdout
    assert "0 differ" in verified.stdout


LISTING = """
import importlib.metadata as m, json
def kept(path):
    return ".dist-info" not in str(path) and "__pycache__" not in str(path)
print(json.dumps(sorted(
    [d.metadata["Name"], d.version, sorted(str(f) for f in d.files or () if kept(f))]
    for d in m.distributions() if d.metadata["Name"] not in ("pip", "setuptools")
)))
"""


def installed(prefix: Path) -> object:
    """Name, version and installed files of every distribution but the venv's own, less metadata and
    bytecode (pip compiles at install, uv on first import)."""
    return json.loads(run_python(prefix, LISTING))


def test_uv_and_pip_build_the_same_environment(tmp_path: Path, emitted: Path, uv_path: list[str]) -> None:
    built: dict[str, object] = {}
    for installer in INSTALLERS:
        prefix = tmp_path / installer
        result = bootstrap(emitted, env_with(uv_path), "--prefix", str(prefix), "--installer", installer)
        assert result.returncode == 0, result.stderr
        fetched = any(line.startswith("envspec: [1/6, ") for line in result.stderr.splitlines())
        if installer == "uv":  # straight from the lock: uv downloads and checks every file itself
            assert "installing 6 locked packages with uv 0." in result.stderr
            assert ", from the lock's URLs" in result.stderr
            assert not fetched, result.stderr
        else:  # the fetcher, file by file, then pip from those files
            assert "installing 6 locked packages with pip\n" in result.stderr
            assert fetched, result.stderr
        assert installer_of(prefix, "es-core") == installer
        has_pip = (next((prefix / "lib").glob("python3.*/site-packages")) / "pip").is_dir()
        assert has_pip == (installer == "pip")
        check_environment(prefix, tmp_path)
        built[installer] = installed(prefix)
        assert not list(prefix.resolve().glob(".envspec*")), "the build folder was left behind"
    assert built["uv"] == built["pip"]


def test_auto_picks_uv_when_it_is_on_path(tmp_path: Path, emitted: Path, uv_path: list[str]) -> None:
    result = bootstrap(emitted, env_with(uv_path), "--prefix", str(tmp_path / "env"))
    assert result.returncode == 0, result.stderr
    assert "installing 6 locked packages with uv 0." in result.stderr
    assert installer_of(tmp_path / "env", "es-app") == "uv"


@pytest.mark.parametrize("kind", ["none on PATH", "one that does not run"])
def test_without_a_uv_that_runs_auto_picks_pip_and_uv_is_refused(
    tmp_path: Path, emitted: Path, kind: str
) -> None:
    path = path_without_uv()
    if kind == "one that does not run":
        broken = tmp_path / "bin"
        broken.mkdir()
        (broken / "uv").write_text("#!/bin/sh\necho 'uv: cannot execute' >&2\nexit 126\n")
        (broken / "uv").chmod(0o755)
        path = [str(broken), *path]
    env = env_with(path)
    # exit 1, not 2: the arguments are right, the machine lacks a tool (as with a missing Python);
    # nothing is touched before the script says so
    refused = bootstrap(emitted, env, "--prefix", str(tmp_path / "uv"), "--installer", "uv")
    assert refused.returncode == 1, refused.stderr
    assert "--installer uv: there is no uv on PATH that runs" in refused.stderr
    assert not (tmp_path / "uv").exists()
    assert not (tmp_path / "uv.envspec").exists()
    result = bootstrap(emitted, env, "--prefix", str(tmp_path / "auto"))
    assert result.returncode == 0, result.stderr
    assert "installing 6 locked packages with pip\n" in result.stderr
    assert installer_of(tmp_path / "auto", "es-app") == "pip"


def test_an_unknown_installer_is_a_usage_error(tmp_path: Path, emitted: Path) -> None:
    result = bootstrap(
        emitted, env_with(path_without_uv()), "--prefix", str(tmp_path / "env"), "--installer", "conda"
    )
    assert result.returncode == 2
    assert "--installer takes auto, uv or pip, not conda" in result.stderr
    assert not (tmp_path / "env").exists()


def test_uv_sees_no_configuration_and_keeps_no_cache(
    tmp_path: Path, emitted: Path, uv_path: list[str]
) -> None:
    """A uv.toml, UV_* variables and the user's cache folder would each change or break the install."""
    config = tmp_path / "config" / "uv"
    config.mkdir(parents=True)
    (config / "uv.toml").write_text('[pip]\nno-binary = [":all:"]\n')
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("es-core==1.0\n")
    home = tmp_path / "home"
    home.mkdir()
    env = env_with(
        uv_path,
        HOME=str(home),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        UV_CONSTRAINT=str(constraints),
        UV_CACHE_DIR=str(tmp_path / "leaked-cache"),
    )
    result = bootstrap(emitted, env, "--prefix", str(tmp_path / "env"), "--installer", "uv")
    assert result.returncode == 0, result.stderr
    assert run_python(tmp_path / "env", "import es_core; print(es_core.__version__)") == "2.0"
    assert not (tmp_path / "leaked-cache").exists()
    assert not (home / ".cache").exists()
    # --cache DIR, and its old name --pip-cache DIR, give uv a cache to keep
    for option in ("--cache", "--pip-cache"):
        cache = tmp_path / option.strip("-")
        kept = bootstrap(
            emitted, env, "--prefix", str(tmp_path / option), "--installer", "uv", option, str(cache)
        )
        assert kept.returncode == 0, kept.stderr
        assert any(cache.iterdir()), f"{option} left no cache"


def test_offline_install_with_uv(
    tmp_path: Path, emitted: Path, mirror_root: Path, uv_path: list[str]
) -> None:
    args = ("--prefix", str(tmp_path / "env"), "--installer", "uv", "--offline", str(mirror_root))
    result = bootstrap(emitted, env_with(uv_path), *args)
    assert result.returncode == 0, result.stderr
    assert "(offline)" in result.stderr
    assert installer_of(tmp_path / "env", "es-native") == "uv"


def load_fetcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("envspec_fetch", REPO / "envspec/emit/scripts/fetch.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fetcher_ranks_wheel_tags_without_pip_as_packaging_does() -> None:
    """The uv path's environment has no pip: the fetcher's own tags must be packaging's, in order."""
    fetch = load_fetcher()
    computed = fetch.computed_tags()
    if computed is None:
        pytest.skip("computed only for 64-bit CPython on glibc Linux")
    assert computed == [str(tag) for tag in packaging.tags.sys_tags()]
    arch = computed[0].rsplit("linux_", 1)[1]
    cp = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    names = [
        f"es_x-1.0-{cp}-{cp}-manylinux_2_999_{arch}.whl",  # a glibc this machine does not have
        f"es_x-1.0-{cp}-{cp}-macosx_11_0_arm64.whl",
        "es_x-1.0-py3-none-any.whl",
        f"es_x-1.0-{cp}-{cp}-manylinux_2_17_{arch}.manylinux2014_{arch}.whl",
    ]
    entries = [fetch.Entry("0" * 64, 1, "es-x", name, "http://127.0.0.1/" + name) for name in names]
    assert fetch.choose(entries, computed).filename == names[3]


def start(script: Path, prefix: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """bootstrap.sh with uv in the background, in a session of its own (a signal reaches only it)."""
    return subprocess.Popen(
        ["bash", str(script), "--prefix", str(prefix), "--installer", "uv", "--python", sys.executable],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


def wait_for_install(store: Path, process: subprocess.Popen[bytes], uv: Path) -> None:
    """Until ``uv`` (the slow one) runs ``pip install`` on the environment being built in ``store``.

    The installer itself, not its supervisor: a supervisor learns which process is the script when
    it starts, so a script killed in its first milliseconds leaves an orphan that runs to its end
    (it holds the prefix's lock, so the next run waits for it).
    """
    deadline = time.monotonic() + 30
    while not any(c.startswith(f"/bin/sh {uv} pip install ") for c in processes_under(store)):
        assert process.poll() is None, "the script ended before uv started installing"
        assert time.monotonic() < deadline, "uv never started installing"
        time.sleep(0.02)


def settle(store: Path, seed: int) -> None:
    """No process works on ``store`` any more, soon after the kill (the slow uv alone waits 5 s)."""
    deadline = time.monotonic() + 2
    while processes_under(store) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(store) == [], f"children outlived the script (seed {seed})"


def test_kills_under_uv_never_lose_the_environment(
    tmp_path: Path, graph_root: Path, uv_path: list[str]
) -> None:
    """SIGKILL at random moments and while uv writes into the venv, SIGTERM while it does: the prefix
    always holds a working environment, old or new; no child outlives the script; the next run
    finishes the job and leaves nothing else behind."""
    seed = random.randrange(1 << 30)  # noqa: S311 - kill moments, not secrets
    rng = random.Random(seed)  # noqa: S311
    # a uv that waits before it installs, so that a signal lands while it installs, and an orphan of
    # the script would still be there when settle() looks
    slow = tmp_path / "slow-uv"
    slow.mkdir()
    (slow / "uv").write_text(f'#!/bin/sh\nif [ "$1" = pip ]; then sleep 5; fi\nexec {uv_executable()} "$@"\n')
    (slow / "uv").chmod(0o755)
    env, slow_env = env_with(uv_path), env_with([str(slow), *uv_path])
    with serve_index(graph_root) as index:
        old = make_bootstrap(tmp_path / "v1", [("m", index.url)], ["es-core==1.0"])
        new = make_bootstrap(tmp_path / "v2", [("m", index.url)], ["es-app[fast]"])
        prefix = tmp_path / "env"
        store = tmp_path / "env.envspec"
        assert bootstrap(old, env, "--prefix", str(prefix), "--installer", "uv").returncode == 0
        old_id = stamp(prefix)
        started = time.monotonic()
        full = bootstrap(new, env, "--prefix", str(prefix), "--installer", "uv")
        duration = time.monotonic() - started
        assert full.returncode == 0, full.stderr
        new_id = stamp(prefix)
        kills: list[tuple[str, float | None]] = [("SIGKILL", rng.uniform(0.05, duration)) for _ in range(2)]
        kills += [("SIGKILL", rng.uniform(0.7, 1.05) * duration) for _ in range(2)]
        kills += [("SIGKILL", None), ("SIGTERM", None)]  # None: while uv installs
        outcomes: list[bool] = []
        for name, delay in kills:
            # before a kill while uv installs, the old lock's run also clears what an earlier late kill
            # may have left: a finished new build, which the next run would take instead of installing
            if stamp(prefix) != old_id or delay is None:
                assert bootstrap(old, env, "--prefix", str(prefix), "--installer", "uv").returncode == 0
            process = start(new, prefix, env if delay is not None else slow_env)
            if delay is None:
                wait_for_install(store, process, slow / "uv")
            else:
                time.sleep(delay)
            process.send_signal(getattr(signal, name))
            code = process.wait(timeout=20)
            settle(store, seed)
            when = "while uv installs" if delay is None else f"after {delay:.2f} s"
            assert stamp(prefix) in (old_id, new_id), (
                f"no environment at the prefix, {name} {when} (seed {seed})"
            )
            assert imports(prefix, "es_core"), f"the environment at the prefix is broken (seed {seed})"
            if delay is None:  # it was stopped before the switch: the old environment stays
                assert code != 0
                assert stamp(prefix) == old_id
            outcomes.append(stamp(prefix) == new_id)
        finished = bootstrap(new, env, "--prefix", str(prefix), "--installer", "uv")
    assert finished.returncode == 0, finished.stderr
    assert stamp(prefix) == new_id
    assert imports(prefix, "es_app")
    assert sorted(p.name for p in store.iterdir()) == [".lock", prefix.readlink().name]
    assert not any(p.name.startswith(".envspec") for p in tmp_path.iterdir())
    print(f"seed {seed}: {outcomes.count(False)} kills left the old env, {outcomes.count(True)} the new one")


def test_uv_falls_back_to_the_fetcher_when_the_lock_url_serves_tampered_bytes(
    tmp_path: Path, graph_root: Path, uv_path: list[str]
) -> None:
    """uv refuses the recorded file (its sha256 differs) and installs nothing; the fetcher then tries
    the lock's other index, file by file, and the environment holds the honest bytes."""
    with serve_index(graph_root) as second:
        with serve_index(graph_root) as first:  # honest while locking, then gone
            port = first.port
            script = make_bootstrap(
                tmp_path / "lock", [("first", first.url), ("second", second.url)], ["es-core==2.0"]
            )
        with serve_faulty("tamper-bytes", graph_root, port=port):
            result = bootstrap(script, env_with(uv_path), "--prefix", str(tmp_path / "env"))
    assert result.returncode == 0, result.stderr
    assert "uv could not install straight from the lock" in result.stderr
    assert "REFUSED" in result.stderr  # the fetcher tried the recorded URL first, and said why it lost
    assert f"from 127.0.0.1:{second.port}" in result.stderr
    assert installer_of(tmp_path / "env", "es-core") == "uv"
    assert run_python(tmp_path / "env", "import es_core; print(hasattr(es_core, 'TAMPERED'))") == "False"
    assert not list((tmp_path / "env").resolve().glob(".envspec*")), "the build folder was left behind"


def test_with_mirror_flags_uv_installs_what_the_fetcher_fetched(
    tmp_path: Path, graph_root: Path, uv_path: list[str]
) -> None:
    """--mirror means the recorded URLs may not answer: no time is spent on them twice."""
    with serve_index(graph_root) as index:
        script = make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-util"])
        env = env_with(uv_path)
        result = bootstrap(script, env, "--prefix", str(tmp_path / "env"), "--mirror", index.url)
    assert result.returncode == 0, result.stderr
    assert ", from the lock's URLs" not in result.stderr  # uv was not asked to download
    assert "envspec: fetched " in result.stderr
    assert installer_of(tmp_path / "env", "es-util") == "uv"
