"""Hostile locks: every edit a pull request could make to a lock is refused or emitted as inert data.

The corpus (``tests/fixtures/hostile-locks/``) is the committed demo lock with one edit each; the
first line of a file says what must happen. Each is emitted for every target through the CLI, as a
user would. Refused: exit 2, the diagnostic code and key path on stderr, nothing written. Inert: the
files are written, the value reaches each target verbatim as data, the shell script is valid bash
(and shellcheck-clean), the Dockerfile hadolint-clean, and nothing in them runs the payload.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.pylock import Pylock

from envspec.cli import run
from envspec.emit.docker import dockerfile_quote
from envspec.lock.read import LockFileError, parse_lock
from tests.test_emit_docker import context_for_spec, hadolint

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "fixtures" / "hostile-locks"
DEMO = REPO / "locks" / "pylock.demo.toml"
TARGETS = ("venv", "conda", "docker")
CASES = sorted(p.stem for p in CORPUS.glob("*.toml"))


def expectation(name: str) -> list[str]:
    first = (CORPUS / f"{name}.toml").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first.startswith("# hostile: "), name
    return first.removeprefix("# hostile: ").split()


def emit(lock: Path, target: str, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(["emit", "--lock", str(lock), "--target", target, "-o", str(out)])
    return code, capsys.readouterr().err


def heredoc(script: str, function: str) -> str:
    match = re.search(rf"{function}\(\) {{\n    cat <<'(\w+)'\n(.*?)\n\1\n}}", script, re.S)
    assert match is not None, function
    return match.group(2)


def shellcheck() -> str | None:
    found = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    return found if Path(found).exists() else None


def test_the_corpus_is_current() -> None:
    """The files are what the generator makes from today's demo lock (re-run it after re-locking)."""
    sys.path.insert(0, str(CORPUS))
    try:
        import generate
    finally:
        sys.path.remove(str(CORPUS))
    assert sorted(generate.CASES) == CASES
    for name in CASES:
        assert (CORPUS / f"{name}.toml").read_text(encoding="utf-8") == generate.make(name), name


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", [n for n in CASES if expectation(n)[0] == "refused"])
def test_refused(name: str, target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, code, *key = expectation(name)
    out = tmp_path / "out"
    status, err = emit(CORPUS / f"{name}.toml", target, out, capsys)
    assert status == 2, err
    assert f"error[{code}]" in err
    if key:
        assert f" {key[0]}" in err
    assert re.search(rf"{name}\.toml:\d+: error", err), "the diagnostic names the file and line"
    assert "Traceback" not in err
    assert not out.exists(), "nothing may be written for a refused lock"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", [n for n in CASES if expectation(n)[0] == "inert"])
def test_inert(name: str, target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = CORPUS / f"{name}.toml"
    spec = parse_lock(lock.read_text(encoding="utf-8"), lock.name).spec
    out = tmp_path / "out"
    status, err = emit(lock, target, out, capsys)
    assert status == 0, err
    variables = dict(spec.runtime.env)
    if target == "venv":
        script = (out / "bootstrap.sh").read_text(encoding="utf-8")
        assert_inert_shell(script, variables, tmp_path)
    elif target == "conda":
        document = yaml.safe_load((out / "environment.yml").read_text(encoding="utf-8"))
        assert document.get("variables", {}) == variables
    else:
        dockerfile = (out / "Dockerfile").read_text(encoding="utf-8")
        for value in [*variables.values(), *([spec.env.description] if spec.env.description else [])]:
            assert dockerfile_quote(value) in dockerfile
        assert_hadolint_clean(out / "Dockerfile")
        assert_inert_shell((out / "bootstrap.sh").read_text(encoding="utf-8"), variables, tmp_path)


def assert_inert_shell(script: str, variables: dict[str, str], tmp_path: Path) -> None:
    """bash parses the script; sourcing its activate lines sets each value exactly and runs nothing."""
    path = tmp_path / "bootstrap.sh"
    path.write_text(script, encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(path)], check=False).returncode == 0
    checker = shellcheck()
    if checker is not None:
        result = subprocess.run(
            [checker, "-s", "bash", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout
    work = tmp_path / "work"
    work.mkdir()
    (work / "activate").write_text(heredoc(script, "envspec_activate_sh"), encoding="utf-8")
    names = " ".join(f'"${name}"' for name in variables)
    shown = subprocess.run(
        ["bash", "-c", f"deactivate() {{ :; }}; . ./activate; printf '%s\\0' {names}"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split("\0")[:-1] == list(variables.values())
    assert not (work / "pwned").exists()


def assert_hadolint_clean(dockerfile: Path) -> None:
    binary = hadolint()
    if binary is None:
        return
    result = subprocess.run(
        [binary, "--no-color", "-f", "json", str(dockerfile)], capture_output=True, text=True, check=False
    )
    serious = [f for f in json.loads(result.stdout or "[]") if f["level"] in ("error", "warning")]
    assert serious == [], serious


HOSTILE_NAMES = [
    "pylock.$(touch pwned).toml",
    'pylock.x"""+__import__(\'os\').system(\'touch pwned\')+""".toml',
]


@pytest.mark.parametrize("file_name", HOSTILE_NAMES)
def test_a_hostile_file_name_stays_data(
    file_name: str, compat: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock's own name reaches comments and the start-up hook's docstring: it must stay text."""
    from envspec.compat import Compat

    assert isinstance(compat, Compat)
    spec = '[env]\nname = "hooked"\npython = "3.11"\n\n[runtime.torch]\nnum_threads = 2\n'
    ctx = context_for_spec(spec, compat, "pylock.toml")
    lock = tmp_path / file_name
    lock.write_text(ctx.lock_text, encoding="utf-8")
    out = tmp_path / "out"
    status, err = emit(lock, "all", out, capsys)
    assert status == 0, err
    hook = out / "envspec_startup.py"
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(hook, work / "envspec_startup.py")
    done = subprocess.run(
        [sys.executable, "-c", "import envspec_startup; print(envspec_startup.__doc__)"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    assert file_name in done.stdout
    assert not (work / "pwned").exists()
    path = tmp_path / "bootstrap.sh"
    shutil.copy(out / "bootstrap.sh", path)
    assert subprocess.run(["bash", "-n", str(path)], check=False).returncode == 0


@pytest.mark.parametrize("bad", ["pylock\n.toml", "pylock\u2028x.toml", "pylock\u202ex.toml"])
def test_a_file_name_with_a_line_break_is_refused(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / bad
    shutil.copy(DEMO, lock)
    status, err = emit(lock, "all", tmp_path / "out", capsys)
    assert status == 2
    assert "control character" in err
    assert not (tmp_path / "out").exists()


def test_the_pep_751_example_round_trips_and_is_no_envspec_lock() -> None:
    """packaging.pylock reads and writes the PEP's own example exactly; envspec says it is foreign."""
    example = REPO / "tests" / "fixtures" / "pylock.pep751-example.toml"
    data = tomllib.loads(example.read_text(encoding="utf-8"))
    assert Pylock.from_dict(data).to_dict() == data
    with pytest.raises(LockFileError, match=r"not an envspec lock"):
        parse_lock(example.read_text(encoding="utf-8"), example.name)
