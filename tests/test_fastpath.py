"""The no-op `lock` and `validate` without typer: the same output and exits; no stale lock looks fresh."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.markup import escape

from envspec import console
from envspec.cache import cached_spec_hash, store_spec_hash
from envspec.console import say, show_report
from envspec.errors import Diagnostic, Severity
from envspec.fastpath import LockArgs, lock_args, validate_args
from envspec.lock import state
from envspec.lock.model import LOCK_FORMAT
from envspec.lock.read import read_spec_hash
from envspec.lock.state import cached_freshness, spec_hash_key
from envspec.report import report_markup
from envspec.validate import Report

from .conftest import REPO

HEAVY = ("typer", "click", "rich", "pydantic", "pydantic_core", "packaging")
SPEC = REPO / "tests" / "fixtures" / "locks" / "demo.toml"
LOCK = REPO / "locks" / "pylock.demo.toml"
RECORDED = "sha256:07ac24335f95b9c9ba8fff0b2f26b204517c0aac2ec26ff9ba16df136621e0f0"


def envspec(
    *args: str, cwd: Path, cache: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("ENVSPEC_")}
    variables |= {"ENVSPEC_CACHE_DIR": str(cache)} if cache else {"ENVSPEC_NO_CACHE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=variables | (env or {}),
    )


def imported_by(argv: list[str], cwd: Path, cache: Path) -> tuple[int, list[str]]:
    """Run ``argv`` in a fresh interpreter; its exit code and the heavy top-level modules it imported."""
    code = (
        "import json, sys\nfrom envspec.cli import run\ncode = run(sys.argv[1:])\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})\n"
        "print(json.dumps(heavy), file=sys.__stderr__)\nsys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, "ENVSPEC_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)},
    )
    heavy: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return done.returncode, heavy


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A working folder with the demo spec and its committed, fresh lock at the default path."""
    (tmp_path / "locks").mkdir()
    shutil.copy(SPEC, tmp_path / "demo.toml")
    shutil.copy(LOCK, tmp_path / "locks" / "pylock.demo.toml")
    return tmp_path


def test_the_committed_lock_records_the_hash_these_tests_use() -> None:
    assert read_spec_hash(LOCK.read_text(encoding="utf-8")) == RECORDED


CASES = [[], ["--check"], ["--json"], ["--check", "--json"], ["-o", "locks/pylock.demo.toml"]]


@pytest.mark.parametrize("flags", CASES, ids=lambda f: " ".join(f) or "plain")
def test_a_fresh_lock_is_answered_from_the_cache_exactly_as_without(
    project: Path, tmp_path: Path, flags: list[str]
) -> None:
    cache = tmp_path / "cache"
    full = envspec("lock", "demo.toml", *flags, cwd=project)  # no cache: the full path
    first = envspec("lock", "demo.toml", *flags, cwd=project, cache=cache)  # a miss: full, and stores
    fast = envspec("lock", "demo.toml", *flags, cwd=project, cache=cache)
    assert full.returncode == first.returncode == fast.returncode == 0, full.stderr
    assert (full.stdout, full.stderr) == (first.stdout, first.stderr) == (fast.stdout, fast.stderr)
    assert "is up to date" in fast.stderr
    assert list((cache / "v1" / "spec-hash").iterdir())
    assert imported_by(["lock", "demo.toml", *flags], project, cache) == (0, [])


def test_the_full_path_runs_on_a_miss_and_with_no_cache(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert "pydantic" in imported_by(["lock", "demo.toml", "--check"], project, cache)[1]  # a miss
    assert imported_by(["lock", "demo.toml", "--check"], project, cache)[1] == []
    for flag in (["--no-cache"], ["--cache-dir", str(tmp_path / "other")]):
        heavy = imported_by(["lock", "demo.toml", "--check", *flag], project, cache)[1]
        assert "pydantic" in heavy, flag  # the spec was validated: the full path, without typer
        assert "typer" not in heavy, flag
    assert "typer" in imported_by(["lock", "demo.toml", "--check", "--upgrade"], project, cache)[1]


def through_typer(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``argv`` run by the typer commands behind the same error boundary, as if the fast path did not
    exist."""
    code = (
        "import sys\nfrom envspec import cli\n"
        "cli.answer = lambda argv: None\nsys.exit(cli.run(sys.argv[1:]))\n"
    )
    variables = {k: v for k, v in os.environ.items() if not k.startswith("ENVSPEC_")}
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=variables | {"ENVSPEC_NO_CACHE": "1", "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize("flags", [["--check"], ["--check", "--json"], ["--check", "--resolver", "uv"]])
def test_a_lock_without_typer_prints_and_exits_as_typer_does(project: Path, flags: list[str]) -> None:
    spec = project / "demo.toml"
    spec.write_text(spec.read_text().replace('OMP_NUM_THREADS = "4"', 'OMP_NUM_THREADS = "8"'))
    ours = envspec("lock", "demo.toml", *flags, cwd=project)
    typer_s = through_typer(["lock", "demo.toml", *flags], project)
    assert (ours.returncode, ours.stdout, ours.stderr) == (typer_s.returncode, typer_s.stdout, typer_s.stderr)
    assert ours.returncode == 1
    assert "stale: locks/pylock.demo.toml" in ours.stderr


def test_an_invalid_spec_is_reported_alike_without_typer(project: Path) -> None:
    (project / "bad.toml").write_text('[env]\nname = "Bad Name"\npython = "2.7"\n')
    ours = envspec("lock", "bad.toml", "-o", "out.toml", cwd=project)
    typer_s = through_typer(["lock", "bad.toml", "-o", "out.toml"], project)
    assert ours.returncode == typer_s.returncode == 2  # ExitCode.INVALID
    assert ours.stderr == typer_s.stderr
    assert "bad.toml" in ours.stderr
    assert not (project / "out.toml").exists()


def test_an_edited_spec_is_stale_although_its_old_bytes_are_cached(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert envspec("lock", "demo.toml", "--check", cwd=project, cache=cache).returncode == 0
    spec = project / "demo.toml"
    spec.write_text(spec.read_text().replace('OMP_NUM_THREADS = "4"', 'OMP_NUM_THREADS = "8"'))
    stale = envspec("lock", "demo.toml", "--check", cwd=project, cache=cache)
    assert stale.returncode == 1
    assert stale.stderr == "stale: locks/pylock.demo.toml: the spec changed since it was locked\n"
    assert len(list((cache / "v1" / "spec-hash").iterdir())) == 2  # one entry per spec content
    # a comment changes the bytes but not the spec hash: a miss, answered fresh by the full path
    spec.write_text(spec.read_text().replace('"8"', '"4"') + "# a comment\n")
    assert envspec("lock", "demo.toml", "--check", cwd=project, cache=cache).returncode == 0


def test_different_bytes_never_share_an_entry(project: Path) -> None:
    data = (project / "demo.toml").read_bytes()
    keys = {spec_hash_key(variant) for variant in (data, data + b"\n", data.replace(b'"4"', b'"8"'), b"")}
    assert len(keys) == 4
    assert all(key is not None and len(key) == 64 for key in keys)


@pytest.mark.parametrize(
    "entry",
    ["sha256:" + "0" * 64 + "\n", "garbage", "", "sha256:" + "A" * 64, RECORDED + "\nmore"],
    ids=["another-hash", "garbage", "empty", "upper-case", "trailing-text"],
)
def test_a_wrong_entry_never_answers_and_the_full_path_repairs_it(
    project: Path, tmp_path: Path, entry: str
) -> None:
    cache = tmp_path / "cache"
    key = spec_hash_key((project / "demo.toml").read_bytes())
    assert key is not None
    path = cache / "v1" / "spec-hash" / key
    path.parent.mkdir(parents=True)
    path.write_text(entry)
    result = envspec("lock", "demo.toml", "--check", cwd=project, cache=cache)
    assert result.returncode == 0  # the full path found the lock fresh
    assert path.read_text() == RECORDED + "\n"


def test_a_tampered_entry_cannot_make_another_spec_look_fresh(project: Path, tmp_path: Path) -> None:
    """The trust limit: an entry answers for its own bytes only (the cache folder is the user's)."""
    cache = tmp_path / "cache"
    spec = project / "demo.toml"
    spec.write_text(spec.read_text().replace('"4"', '"8"'))
    other = spec_hash_key(spec.read_bytes().replace(b'"8"', b'"4"'))  # the locked spec's key
    assert other is not None
    store_spec_hash(cache / "v1", other, RECORDED)
    assert envspec("lock", "demo.toml", "--check", cwd=project, cache=cache).returncode == 1


def test_an_unusable_cache_is_no_cache(project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for _ in range(2):
        result = envspec("lock", "demo.toml", "--check", cwd=project, cache=blocker)
        assert result.returncode == 0, result.stderr
    assert blocker.read_text() == "not a folder"


def test_no_cache_writes_nothing(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"ENVSPEC_NO_CACHE": "1"}
    assert envspec("lock", "demo.toml", "--check", cwd=project, cache=cache, env=env).returncode == 0
    assert envspec("lock", "demo.toml", "--no-cache", cwd=project, cache=cache).returncode == 0
    assert not cache.exists()
    assert envspec("lock", "demo.toml", "--cache-dir", "mine", cwd=project).returncode == 0
    assert len(list((project / "mine" / "v1" / "spec-hash").iterdir())) == 1


def test_the_key_covers_envspec_code_and_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copy = tmp_path / "envspec"
    shutil.copytree(REPO / "envspec", copy, ignore=shutil.ignore_patterns("__pycache__"))
    data = SPEC.read_bytes()

    def key() -> str | None:
        state._package_digest.cache_clear()
        return spec_hash_key(data)

    monkeypatch.setattr(state, "_PACKAGE", copy)
    keys = [key()]
    plan = copy / "lock" / "plan.py"
    plan.write_text(plan.read_text().replace("PLAN_FORMAT = 1", "PLAN_FORMAT = 2"))
    keys.append(key())
    compat = copy / "data" / "compat.toml"
    compat.write_text(compat.read_text() + "\n# an edit\n")
    keys.append(key())
    (copy / "notes.txt").write_text("not code")  # neither a module nor data
    keys.append(key())
    assert len(set(keys[:3])) == 3
    assert keys[3] == keys[2]
    monkeypatch.setattr(state, "_PACKAGE", tmp_path / "missing")
    assert key() is None
    state._package_digest.cache_clear()


def test_the_lock_format_mirror_is_the_models() -> None:
    assert state.LOCK_FORMAT == LOCK_FORMAT


@pytest.mark.parametrize(
    "text",
    [
        f'[tool.envspec]\nformat = 1\nspec-hash = "{RECORDED}"\n',
        f'[tool.envspec]\nformat = 2\nspec-hash = "{RECORDED}"\n',
        f'[tool.envspec]\nformat = "1"\nspec-hash = "{RECORDED}"\n',
        f'[tool.envspec]\nspec-hash = "{RECORDED}"\n',
        f'tool = {{envspec = {{format = 1, spec-hash = "{RECORDED}"}}}}\n',
        f'tool = {{envspec = [1]}}\nx = "{RECORDED}"\n',
        f'[tool]\nenvspec = "{RECORDED}"\n',
        f'<<<<<<< ours\n[tool.envspec]\nformat = 1\nspec-hash = "{RECORDED}"\n',
        "[tool.envspec]\nformat = 1\nspec-hash = 1\n",
        "",
        "\ufeff[tool.envspec]\n",
    ],
)
def test_the_fast_read_of_a_lock_agrees_with_the_full_one(tmp_path: Path, text: str) -> None:
    cache = tmp_path / "cache"
    key = spec_hash_key(b"spec")
    assert key is not None
    store_spec_hash(cache, key, RECORDED)
    lock = tmp_path / "lock.toml"
    lock.write_text(text, encoding="utf-8")
    expected = RECORDED if read_spec_hash(text) == RECORDED else None
    assert cached_freshness(b"spec", lock, cache) == expected
    assert cached_freshness(b"other spec", lock, cache) is None
    assert cached_freshness(b"spec", tmp_path / "missing.toml", cache) is None


def test_a_lock_that_is_not_utf8_or_a_folder_is_not_fresh(tmp_path: Path) -> None:
    key = spec_hash_key(b"spec")
    assert key is not None
    store_spec_hash(tmp_path, key, RECORDED)
    lock = tmp_path / "lock.toml"
    lock.write_bytes(f'[tool.envspec]\nformat = 1\nspec-hash = "{RECORDED}"\n# \xff\n'.encode("latin-1"))
    assert cached_freshness(b"spec", lock, tmp_path) is None
    assert cached_freshness(b"spec", tmp_path, tmp_path) is None
    assert cached_spec_hash(tmp_path, key) == RECORDED


@pytest.mark.parametrize(
    ("argv", "parsed"),
    [
        (["lock", "s.toml"], LockArgs(Path("s.toml"))),
        (
            ["lock", "--check", "s.toml", "--json", "-o", "l.toml", "--resolver", "uv"],
            LockArgs(Path("s.toml"), Path("l.toml"), check=True, as_json=True, resolver="uv"),
        ),
        (
            ["lock", "s.toml", "--output=l.toml", "--resolver=pip-tools"],
            LockArgs(Path("s.toml"), Path("l.toml"), resolver="pip-tools"),
        ),
        (
            ["lock", "s.toml", "--cache-dir", "c", "--no-cache"],
            LockArgs(Path("s.toml"), cache_dir=Path("c"), no_cache=True),
        ),
        (["lock", "s.toml", "--check", "--check"], LockArgs(Path("s.toml"), check=True)),
    ],
)
def test_lock_arguments_the_fast_path_takes(argv: list[str], parsed: LockArgs) -> None:
    assert lock_args(argv) == parsed


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["lock"],
        ["validate", "s.toml"],
        ["--version", "lock", "s.toml"],
        ["lock", "a.toml", "b.toml"],
        ["lock", "s.toml", "--upgrade"],
        ["lock", "s.toml", "-U"],
        ["lock", "s.toml", "-P", "numpy"],
        ["lock", "s.toml", "--resolver", "UV"],
        ["lock", "s.toml", "--resolver"],
        ["lock", "s.toml", "-o"],
        ["lock", "s.toml", "-o", "--check"],
        ["lock", "s.toml", "-ol.toml"],
        ["lock", "s.toml", "--output="],
        ["lock", "s.toml", "-o", "a", "--output", "b"],
        ["lock", "s.toml", "--check=yes"],
        ["lock", "s.toml", "--help"],
        ["lock", "--", "s.toml"],
        ["lock", "-"],
        ["lock", ""],
    ],
)
def test_anything_else_goes_to_typer(argv: list[str]) -> None:
    assert lock_args(argv) is None


def test_validate_arguments() -> None:
    assert validate_args(["validate", "a.toml", "--json", "b.toml", "--strict"]) == (
        [Path("a.toml"), Path("b.toml")],
        True,
        True,
    )
    assert validate_args(["validate", "a.toml"]) == ([Path("a.toml")], False, False)
    for argv in (
        ["validate"],
        ["validate", "--json"],
        ["validate", "-x", "a"],
        ["validate", "--", "a"],
        ["lock", "a"],
    ):
        assert validate_args(argv) is None


VALID = '[env]\nname = "x"\npython = "3.11"\n'
WARNED = VALID + '[runtime.env]\nCUDA_LAUNCH_BLOCKING = "0"\n'
BROKEN = '[env]\nname = "x"\npython = "3.11"\n[cuda]\nversion = "12.1"\ndrivr = "535"\n'


@pytest.mark.parametrize("flags", [[], ["--json"], ["--strict"], ["--strict", "--json"]])
def test_validate_prints_what_the_typer_command_prints(tmp_path: Path, flags: list[str]) -> None:
    for name, text in (("valid", VALID), ("warned", WARNED), ("broken", BROKEN)):
        (tmp_path / f"{name}.toml").write_text(text)
    files = ["valid.toml", "warned.toml", "broken.toml", "missing.toml"]
    for chosen in ([files[0]], [files[1]], files[:3], [files[3]]):
        fast = envspec("validate", *flags, *chosen, cwd=tmp_path)
        typed = envspec("validate", *flags, "--", *chosen, cwd=tmp_path)  # `--`: typer parses it
        assert (fast.returncode, fast.stdout, fast.stderr) == (typed.returncode, typed.stdout, typed.stderr)
    assert "typer" not in imported_by(["validate", "valid.toml"], tmp_path, tmp_path / "cache")[1]


@pytest.mark.parametrize("flags", [[], ["--json"], ["--strict"]])
def test_a_clean_spec_validated_before_is_answered_from_the_cache_alike(
    tmp_path: Path, flags: list[str]
) -> None:
    (tmp_path / "valid.toml").write_text(VALID)
    (tmp_path / "warned.toml").write_text(WARNED)
    cache = tmp_path / "cache"
    for chosen in (["valid.toml"], ["warned.toml"], ["valid.toml", "warned.toml"]):
        uncached = envspec("validate", *flags, *chosen, cwd=tmp_path)
        first = envspec("validate", *flags, *chosen, cwd=tmp_path, cache=cache)  # stores the clean ones
        again = envspec("validate", *flags, *chosen, cwd=tmp_path, cache=cache)
        for run in (first, again):
            assert (run.returncode, run.stdout, run.stderr) == (
                uncached.returncode,
                uncached.stdout,
                uncached.stderr,
            )
    # a clean spec seen before: no pydantic; one with a warning is checked in full every time
    assert imported_by(["validate", "valid.toml", *flags], tmp_path, cache)[1] == []
    assert "pydantic" in imported_by(["validate", "warned.toml", *flags], tmp_path, cache)[1]
    assert "pydantic" in imported_by(["validate", "valid.toml", "warned.toml"], tmp_path, cache)[1]


def test_an_edited_or_planted_clean_entry_is_checked_in_full(tmp_path: Path) -> None:
    spec = tmp_path / "valid.toml"
    spec.write_text(VALID)
    cache = tmp_path / "cache"
    assert envspec("validate", "valid.toml", cwd=tmp_path, cache=cache).returncode == 0
    assert imported_by(["validate", "valid.toml"], tmp_path, cache)[1] == []
    spec.write_text(BROKEN)  # new bytes: a miss, and the errors are reported
    broken = envspec("validate", "valid.toml", cwd=tmp_path, cache=cache)
    assert broken.returncode == 2
    assert "drivr" in broken.stdout
    for entry in (cache / "v1" / "spec-hash").iterdir():  # an entry that vouches for other bytes
        entry.write_text("sha256:" + "0" * 64 + "\n")
    spec.write_text(VALID)
    assert "pydantic" in imported_by(["validate", "valid.toml"], tmp_path, cache)[1]


@pytest.mark.parametrize(
    "message",
    [
        "locks/pylock.dev.toml is up to date",
        "".join(chr(c) for c in range(32, 127)),
        "a [bold]b[/] c",
        "emoji :smile: and :thumbs_up:",
        "back\\slash [x]",
        "tab\there",
        "bell\a carriage\r return",
        "unicode caf\u00e9 \u2028 \U0001f600",
        "  spaces  ",
        "wrote 3 files to emit/dev for environment 0123-dev:",
        "skipped mirror m (http://127.0.0.1:8080/simple/): HTTP 503",
        "a:b:c and :: and : x :",
        ":+1: :-1: :smile-emoji: :100:",
    ],
)
def test_say_prints_what_rich_prints(capsys: pytest.CaptureFixture[str], message: str) -> None:
    buffer = io.StringIO()
    Console(file=buffer, soft_wrap=True, highlight=False).print(escape(message))
    say(message)
    assert capsys.readouterr().err == buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from(":\t\n"), max_size=40
    )
)
def test_say_prints_what_rich_prints_for_any_text(message: str) -> None:
    rich_out, ours = io.StringIO(), io.StringIO()
    Console(file=rich_out, soft_wrap=True, highlight=False).print(escape(message))
    real = sys.stderr
    sys.stderr = ours
    try:
        say(message)
    finally:
        sys.stderr = real
    assert ours.getvalue() == rich_out.getvalue()


def closed_pipe_run(argv: list[str], cwd: Path, variables: dict[str, str], which: str) -> tuple[int, bytes]:
    """Run envspec with ``which`` (stdout or stderr) a pipe nobody reads; the exit code and stderr."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "envspec", *argv],
            cwd=cwd,
            env={**os.environ, **variables},
            check=False,
            stdout=write if which == "stdout" else subprocess.PIPE,
            stderr=write if which == "stderr" else subprocess.PIPE,
        )
    finally:
        os.close(write)
    return done.returncode, done.stderr or b""


@pytest.mark.parametrize("which", ["stdout", "stderr"])
@pytest.mark.parametrize("flags", [["--json"], ["--check", "--json"], ["--check"]])
def test_a_closed_pipe_exits_as_typer_does(
    project: Path, tmp_path: Path, which: str, flags: list[str]
) -> None:
    argv = ["lock", "demo.toml", *flags]
    cached = {"ENVSPEC_CACHE_DIR": str(tmp_path / "cache")}
    full = closed_pipe_run(argv, project, {"ENVSPEC_NO_CACHE": "1"}, which)
    assert closed_pipe_run(argv, project, cached, which) == full  # a miss: stores the entry
    assert closed_pipe_run(argv, project, cached, which) == full  # the fast path
    assert b"Traceback" not in full[1]


def test_lock_help_lists_the_cache_flags(tmp_path: Path) -> None:
    result = envspec("lock", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "--cache-dir" in result.stdout
    assert "--no-cache" in result.stdout


def test_the_console_helpers_are_made_on_use() -> None:
    assert console.err_console().stderr
    assert not console.out_console().stderr


_TEXTS = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from(":\t\né"), max_size=30
)
_DIAGNOSTICS = st.builds(
    Diagnostic,
    code=st.from_regex(r"[a-z][a-z-]{0,12}", fullmatch=True),
    severity=st.sampled_from(list(Severity)),
    message=_TEXTS,
    path=st.lists(st.text(max_size=8) | st.integers(0, 9), max_size=3).map(tuple),
    expected=st.none() | _TEXTS,
    hint=st.none() | _TEXTS,
    reason=st.none() | _TEXTS,
    file=st.none() | _TEXTS,
    line=st.none() | st.integers(1, 999),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_DIAGNOSTICS, max_size=3), min_size=1, max_size=3))
def test_a_report_prints_as_rich_prints_it(diagnostics: list[list[Diagnostic]]) -> None:
    reports = [Report(f"spec{i}.toml", tuple(found), None) for i, found in enumerate(diagnostics)]
    rich_out, ours = io.StringIO(), io.StringIO()
    Console(file=rich_out, soft_wrap=True, highlight=False).print(report_markup(reports))
    show_report(reports, stream=ours)
    assert ours.getvalue() == rich_out.getvalue()
