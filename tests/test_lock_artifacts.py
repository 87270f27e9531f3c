"""Artifacts: the files of a pin that fit each target platform."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from envspec.lock.artifacts import NoArtifactError, choose_files, marker_platforms, platform_tags
from envspec.lock.simple import IndexFile

NAME = canonicalize_name("demo")


def files(*names: str, requires_python: str | None = None) -> list[IndexFile]:
    return [IndexFile(n, f"https://f.invalid/{n}", {"sha256": "0" * 64}, requires_python) for n in names]


def test_each_platform_gets_its_wheels() -> None:
    available = files(
        "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "demo-1.0-cp311-cp311-macosx_11_0_arm64.whl",
        "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "demo-1.0-cp311-cp311-win_amd64.whl",
        "demo-1.1-cp311-cp311-manylinux_2_17_x86_64.whl",
        "demo-1.0.tar.gz",
    )
    choice = choose_files(NAME, "1.0", available, "3.11", ["linux-x86_64", "macos-arm64"], allow_builds=False)
    assert [f.filename for f in choice.files] == [
        "demo-1.0-cp311-cp311-macosx_11_0_arm64.whl",
        "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ]
    assert not choice.sdist


def test_pure_wheels_fit_everywhere_and_abi3_counts() -> None:
    available = files("demo-2.0-py3-none-any.whl", "demo-2.0-cp39-abi3-manylinux_2_28_aarch64.whl")
    choice = choose_files(NAME, "2.0", available, "3.12", ["linux-aarch64"], allow_builds=False)
    assert len(choice.files) == 2


def test_requires_python_excludes_a_wheel() -> None:
    available = files("demo-1.0-py3-none-any.whl", requires_python=">=3.12")
    with pytest.raises(NoArtifactError, match=r"no wheel for Python 3\.11 on linux-x86_64"):
        choose_files(NAME, "1.0", available, "3.11", ["linux-x86_64"], allow_builds=False)


def test_sdist_only_when_allowed() -> None:
    available = files("demo-1.0.tar.gz")
    with pytest.raises(NoArtifactError, match="allow_builds"):
        choose_files(NAME, "1.0", available, "3.11", ["linux-x86_64"], allow_builds=False)
    choice = choose_files(NAME, "1.0", available, "3.11", ["linux-x86_64"], allow_builds=True)
    assert choice.sdist
    assert [f.filename for f in choice.files] == ["demo-1.0.tar.gz"]


def test_local_versions_must_match_exactly() -> None:
    available = files(
        "torch-2.1.2+cu118-cp311-cp311-linux_x86_64.whl", "torch-2.1.2-cp311-cp311-linux_x86_64.whl"
    )
    choice = choose_files(
        canonicalize_name("torch"), "2.1.2+cu118", available, "3.11", ["linux-x86_64"], allow_builds=False
    )
    assert [f.filename for f in choice.files] == ["torch-2.1.2+cu118-cp311-cp311-linux_x86_64.whl"]


def test_markers_select_platforms() -> None:
    platforms = ["linux-x86_64", "macos-arm64", "windows-x86_64"]
    assert marker_platforms(None, "3.11", platforms) == tuple(platforms)
    assert marker_platforms("sys_platform == 'win32'", "3.11", platforms) == ("windows-x86_64",)
    assert marker_platforms("platform_machine == 'arm64'", "3.11", platforms) == ("macos-arm64",)
    assert marker_platforms("python_version < '3.10'", "3.11", platforms) == ()


def test_platform_tags_are_most_specific_first() -> None:
    tags = platform_tags("linux-x86_64")
    assert tags[0] == "manylinux_2_40_x86_64"
    assert tags[-1] == "linux_x86_64"
    assert "manylinux2014_x86_64" in tags
    assert platform_tags("windows-x86_64") == ["win_amd64"]


def test_a_minor_python_admits_patch_level_requirements() -> None:
    available = files("demo-1.0-py3-none-any.whl", requires_python=">=3.11.5")
    assert choose_files(NAME, "1.0", available, "3.11", ["linux-x86_64"], allow_builds=False).files
    with pytest.raises(NoArtifactError):
        choose_files(NAME, "1.0", available, "3.11.2", ["linux-x86_64"], allow_builds=False)
