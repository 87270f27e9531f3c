"""The CLI boundary: exit codes, output formats, and no traceback for any input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envspec.cli import run
from tests.support.index import serve_faulty

from .conftest import SHIPPED_SPECS
from .test_fsio import read_only


def envspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False
    )


def test_shipped_specs_validate_cleanly() -> None:
    result = envspec("validate", "--strict", *map(str, SHIPPED_SPECS))
    assert result.returncode == 0, result.stdout
    assert f"valid: {len(SHIPPED_SPECS)} files checked, 0 errors, 0 warnings" in result.stdout


def test_json_report_has_every_field(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('[env]\nname = "x"\npython = "3.11"\n[runtime.env]\nCUDA_LAUNCH_BLOCKING = "0"\n')
    result = envspec("validate", "--json", str(spec))
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["warnings"] == 1
    (d,) = report["files"][0]["diagnostics"]
    assert d["code"] == "launch-blocking-noop"
    assert d["severity"] == "warning"
    assert d["line"] == 5
    assert d["key"] == "runtime.env.CUDA_LAUNCH_BLOCKING"
    assert d["path"] == ["runtime", "env", "CUDA_LAUNCH_BLOCKING"]
    assert d["why"]
    assert d["hint"]


def test_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('[env]\nname = "x"\npython = "3.11"\n[runtime.env]\nCUDA_LAUNCH_BLOCKING = "0"\n')
    assert envspec("validate", str(spec)).returncode == 0
    strict = envspec("validate", "--strict", str(spec))
    assert strict.returncode == 2
    assert "error[launch-blocking-noop]" in strict.stdout


def test_text_report_names_file_line_key_and_hint(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[env]\nname = "x"\npython = "3.11"\n[cuda]\nversion = "12.1"\ndrivr = "535"\n')
    result = envspec("validate", str(spec))
    assert result.returncode == 2
    assert f'{spec}:6: error[unknown-key] cuda.drivr: unknown key "drivr" in [cuda]' in result.stdout
    assert 'hint: did you mean "driver"?' in result.stdout
    assert "invalid: 1 file checked, 1 error, 0 warnings" in result.stdout


def test_several_files_report_together(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[env]\nname = "x"\npython = "3.11"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text("[env]\n")
    result = envspec("validate", "--json", str(good), str(bad))
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert [f["valid"] for f in report["files"]] == [True, False]


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "missing.toml"],
        ["validate"],
        ["frobnicate"],
        ["validate", "--no-such-flag", "x.toml"],
        ["init", "--template", "nope", "somewhere.toml"],
    ],
)
def test_bad_usage_exits_2_with_a_message(args: list[str]) -> None:
    result = envspec(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


def test_directory_and_binary_input(tmp_path: Path) -> None:
    assert envspec("validate", str(tmp_path)).returncode == 2
    binary = tmp_path / "b.toml"
    binary.write_bytes(bytes(range(256)) * 10)
    result = envspec("validate", str(binary))
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr


def test_schema_command_prints_and_writes(tmp_path: Path) -> None:
    printed = envspec("schema")
    assert printed.returncode == 0
    assert json.loads(printed.stdout)["title"] == "envspec spec"
    target = tmp_path / "envspec.schema.json"
    written = envspec("schema", "-o", str(target))
    assert written.returncode == 0
    assert target.read_text() == printed.stdout


def test_version_and_help() -> None:
    assert envspec("--version").stdout.startswith("envspec ")
    result = envspec("--help")
    assert result.returncode == 0
    for command in ("validate", "schema", "init"):
        assert command in result.stdout


def test_internal_errors_are_reported_not_dumped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import envspec.schema

    def broken() -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(envspec.schema, "render_schema", broken)
    monkeypatch.delenv("ENVSPEC_DEBUG", raising=False)
    assert run(["schema"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err
    assert "Traceback" not in err


def test_diff_exit_codes(tmp_path: Path) -> None:
    from envspec.lock.model import Artifact, Facts, Lock, LockedPackage
    from envspec.lock.render import render_lock
    from envspec.spec import Spec

    def lock(version: str) -> Path:
        wheel = f"a-{version}-py3-none-any.whl"
        artifact = Artifact(wheel, f"https://f.invalid/{wheel}", 1, "0" * 64)
        package = LockedPackage("a", version, "default", "https://i.invalid/", (artifact,))
        spec = Spec.model_validate({"env": {"name": "demo", "python": "3.11"}})
        value = Lock(
            "sha256:" + "0" * 64,
            "demo",
            "3.11",
            ("linux-x86_64",),
            "uv",
            "1",
            (),
            (),
            (package,),
            spec,
            Facts(),
        )
        path = tmp_path / f"{version}.toml"
        path.write_text(render_lock(value))
        return path

    old, new = lock("1.0"), lock("1.1")
    same = envspec("diff", str(old), str(old))
    assert same.returncode == 0
    assert "no differences" in same.stdout
    changed = envspec("diff", "--json", str(old), str(new))
    assert changed.returncode == 1
    assert json.loads(changed.stdout)
    assert "a 1.0 -> 1.1" in envspec("diff", str(old), str(new)).stdout
    missing = envspec("diff", str(old), str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    foreign = tmp_path / "foreign.toml"
    foreign.write_text('lock-version = "1.0"\n')
    assert envspec("diff", str(old), str(foreign)).returncode == 2


def lock_spec(path: Path, mirror: str) -> Path:
    """A valid spec whose only mirror is ``mirror``: resolving it would have to ask that mirror."""
    path.write_text(
        '[env]\nname = "demo"\npython = "3.11"\n'
        f'[[mirrors]]\nname = "only"\nurl = "{mirror}"\ntrusted = true\n'
        "[network]\ntimeout = 2\nretries = 0\n"
        '[packages]\npython = ["es-app"]\n',
        encoding="utf-8",
    )
    return path


def bad_output_paths(tmp_path: Path) -> dict[str, Path]:
    """Output paths that cannot be written, even by root: a directory, and paths below a file."""
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "a-file").write_text("keep me")
    return {
        "directory": tmp_path / "a-directory",
        "under-a-file": tmp_path / "a-file" / "out.txt",
        "deep-under-a-file": tmp_path / "a-file" / "sub" / "out.txt",
    }


def assert_path_error(code: int, err: str, path: Path) -> None:
    assert code == 2, err
    assert str(path) in err
    assert "Traceback" not in err
    assert "internal error" not in err
    assert "hint:" in err


@pytest.mark.parametrize("case", ["directory", "under-a-file", "deep-under-a-file"])
def test_lock_checks_its_output_before_resolving(tmp_path: Path, case: str) -> None:
    out = bad_output_paths(tmp_path)[case]
    with serve_faulty("error") as mirror:
        spec = lock_spec(tmp_path / "s.toml", mirror.url)
        result = envspec("lock", str(spec), "-o", str(out))
        assert mirror.requests == []  # the path was refused before any index was asked
    assert_path_error(result.returncode, result.stderr, out)
    assert "503" not in result.stderr
    assert (tmp_path / "a-file").read_text() == "keep me"
    assert list((tmp_path / "a-directory").iterdir()) == []


def test_lock_checks_its_default_output_and_a_read_only_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "locks").write_text("not a folder")
    with serve_faulty("refuse") as mirror:  # nothing listens: resolving would fail at once
        spec = lock_spec(tmp_path / "s.toml", mirror.url)
        assert_path_error(run(["lock", str(spec)]), capsys.readouterr().err, Path("locks/pylock.s.toml"))
        (tmp_path / "ro").mkdir()
        with read_only(tmp_path / "ro"):
            code = run(["lock", str(spec), "-o", "ro/pylock.toml"])
            err = capsys.readouterr().err
            assert list((tmp_path / "ro").iterdir()) == []
    assert_path_error(code, err, Path("ro/pylock.toml"))
    assert "cannot write in ro" in err
    assert "refused" not in err


@pytest.mark.parametrize("case", ["directory", "under-a-file", "deep-under-a-file"])
@pytest.mark.parametrize("command", [["schema", "-o"], ["init"], ["init", "--force"]])
def test_schema_and_init_refuse_unwritable_paths(tmp_path: Path, case: str, command: list[str]) -> None:
    out = bad_output_paths(tmp_path)[case]
    result = envspec(*command, str(out))
    assert_path_error(result.returncode, result.stderr, out)
    assert (tmp_path / "a-file").read_text() == "keep me"
    assert list((tmp_path / "a-directory").iterdir()) == []


@pytest.mark.parametrize("command", [["schema", "-o"], ["init"]])
def test_schema_and_init_refuse_a_read_only_folder(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder):
        code = run([*command, str(folder / "new" / "out.toml")])
        assert list(folder.iterdir()) == []
    assert_path_error(code, capsys.readouterr().err, folder / "new" / "out.toml")


def test_a_failed_write_is_bad_input_not_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past the check (a path that changed in between), the write's own OS error is still exit 2."""
    import envspec.fsio

    monkeypatch.setattr(envspec.fsio, "check_writable", lambda _path, *, what: None)  # noqa: ARG005 - its signature
    monkeypatch.delenv("ENVSPEC_DEBUG", raising=False)
    (tmp_path / "out").mkdir()
    assert_path_error(run(["schema", "-o", str(tmp_path / "out")]), capsys.readouterr().err, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary file left


def test_a_non_utf8_lock_is_bad_input(tmp_path: Path) -> None:
    binary = tmp_path / "pylock.toml"
    binary.write_bytes(b"lock-version = '1.0'\n\xff\xfe\n")
    result = envspec("diff", str(binary), str(binary))
    assert result.returncode == 2
    assert "not valid UTF-8" in result.stderr
    assert "internal error" not in result.stderr
