"""`envspec diff` of two lockfiles `envspec lock` made of a lab's several torch builds, on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.index import serve_index
from tests.support.variants import build_lab, environment, lab_spec, serve_static
from tests.support.wheels import build_wheel

from .test_diff_variants import section


def _lock(spec: str, folder: Path, name: str) -> Path:
    spec_path, out = folder / f"{name}.spec.toml", folder / f"{name}.toml"
    spec_path.write_text(spec, encoding="utf-8")
    command = [sys.executable, "-m", "envspec", "lock", str(spec_path), "-o", str(out), "--no-cache"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=environment({}),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out


def _diff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", "diff", *args],
        capture_output=True,
        text=True,
        env={**environment({}), "COLUMNS": "200", "NO_COLOR": "1"},
        check=False,
    )


@pytest.fixture(scope="module")
def lab_locks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The lab locked three times: all three builds; without cu126 and with one more package; and
    as an ordinary lock of the cu126 build alone."""
    root = build_lab(tmp_path_factory.mktemp("lab"))
    build_wheel(root / "general", "attrs", "23.2.0")
    with serve_index(root / "general") as general, serve_static(root / "torch") as torch:
        url = torch + "/{variant}/simple"
        before = _lock(lab_spec(general.url, url), root, "before")
        extra = '[packages]\npython = ["attrs"]\n'
        after = _lock(lab_spec(general.url, url, builds=("cu130", "cpu"), extra=extra), root, "after")
        spec = lab_spec(general.url, url).replace('variants = ["cu130", "cu126", "cpu"]', 'variant = "cu126"')
        single = _lock(spec, root, "single")
    return before, after, single


def test_diff_of_two_real_locks_of_builds(lab_locks: tuple[Path, Path, Path]) -> None:
    before, after, _single = lab_locks
    result = _diff(str(before), str(after))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2] == "builds: cu130, cu126, cpu -> cu130, cpu"
    assert "  ! build cu126 removed (torch 2.13.0+cu126, CUDA 12.6, minimum driver 525.60.13)" in lines
    shared = section(result.stdout, "all builds (cu130, cpu):")
    assert "    + attrs 23.2.0" in shared
    assert '    ~ spec.packages.python: (unset) -> ["attrs"]' in shared
    assert section(result.stdout, "build cu130:")[1:] == ["  no other differences"]
    assert section(result.stdout, "build cpu:")[1:] == ["  no other differences"]
    assert "cu126" not in "\n".join(lines[lines.index("all builds (cu130, cpu):") :])

    data = json.loads(_diff("--json", str(before), str(after)).stdout)
    assert data["builds"]["removed"] == ["cu126"]
    assert [p["name"] for p in data["all-builds"]["added"]] == ["attrs"]
    assert [b["name"] for b in data["per-build"]] == ["cu130", "cpu"]

    same = _diff(str(after), str(after))
    assert same.returncode == 0
    assert same.stdout.splitlines()[2:] == ["builds: cu130, cpu (unchanged)", "no differences"]


def test_diff_of_a_real_ordinary_lock_and_a_lock_of_builds(lab_locks: tuple[Path, Path, Path]) -> None:
    before, _after, single = lab_locks
    result = _diff(str(single), str(before))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2] == "builds: cu126 (one build) -> cu130, cu126, cpu"
    assert lines[lines.index("highlights:") + 1 :][:3] == [
        "  ! one build (cu126) -> builds cu130, cu126, cpu",
        "  ! build cu130 added (torch 2.13.0+cu130, CUDA 13.0, minimum driver 580)",
        "  ! build cpu added (torch 2.13.0+cpu)",
    ]
    # the same cu126 packages, from the same index: only the driver floor, which the ordinary lock
    # (no [cuda] table) did not record, is new
    assert section(result.stdout, "build cu126:")[1:] == [
        "  highlights:",
        "    ! minimum driver (none) -> 525.60.13",
    ]
    assert "all builds" not in result.stdout
