"""Backends: reading their output, summarising their failures, and choosing one for a target."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from envspec.lock.resolvers import (
    PipTools,
    ResolutionError,
    ResolveRequest,
    choose,
    host_platform,
    parse_pins,
    summarize_failure,
)


def request(python: str, platforms: tuple[str, ...]) -> ResolveRequest:
    return ResolveRequest((), (), "http://127.0.0.1:1/simple/", python, platforms, False, False)


def test_parse_pins_reads_markers_hashes_and_continuations() -> None:
    text = (
        "# comment\n--index-url x\n"
        "b-pkg==2.0 \\\n    --hash=sha256:abc\n"
        "a_pkg==1.0 ; sys_platform == 'win32'    # via x\n"
        "torch==2.1.2+cu118\n"
    )
    pins = parse_pins(text)
    assert [(p.name, p.version, p.marker) for p in pins] == [
        ("a-pkg", "1.0", 'sys_platform == "win32"'),
        ("b-pkg", "2.0", None),
        ("torch", "2.1.2+cu118", None),
    ]


def test_unpinned_output_is_an_error() -> None:
    with pytest.raises(ResolutionError, match="unpinned"):
        parse_pins("six>=1\n")


def test_summary_keeps_the_conflict_lines() -> None:
    noise = "\n".join(f"Collecting thing{i}" for i in range(200))
    output = (
        noise + "\nERROR: Cannot install es-app==1.1 because these package versions have conflicting deps.\n"
    )
    summary = summarize_failure(output)
    assert "Cannot install es-app==1.1" in summary
    assert len(summary.splitlines()) <= 12


def test_auto_picks_uv_and_pip_tools_only_without_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    platform = host_platform()
    if platform is None:
        pytest.skip("this machine's platform is not one envspec locks for")
    assert choose("auto", request(host, (platform,))).name == "uv"
    assert choose("auto", request("3.10" if host != "3.10" else "3.12", (platform,))).name == "uv"
    assert choose("auto", request(host, (platform, "macos-arm64"))).name == "uv"
    monkeypatch.setattr("envspec.lock.resolvers.tool_path", lambda _name: None)  # no uv anywhere
    assert choose("auto", request(host, (platform,))).name == "pip-tools"
    with pytest.raises(ResolutionError, match="uv is not installed"):
        choose("auto", request(host, (platform, "macos-arm64"))).resolve(request(host, (platform,)), tmp_path)
    with pytest.raises(ResolutionError, match="pip-tools locks only for"):
        choose("pip-tools", request(host, ("macos-arm64",)))
    assert PipTools().unsupported(request(host, (platform,))) is None
