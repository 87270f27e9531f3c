"""The lockfile renders canonically, reads back to the same value, and refuses what it does not know."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock

from envspec.lock.model import Artifact, Facts, Lock, LockedPackage
from envspec.lock.read import LockFileError, parse_lock, read_spec_hash
from envspec.lock.render import render_lock
from envspec.spec import Spec

names = st.from_regex(r"[a-z][a-z0-9]{0,4}(-[a-z0-9]{1,4})?", fullmatch=True)
versions = st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True)
digests = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)


@st.composite
def packages(draw: st.DrawFn) -> LockedPackage:
    name = draw(names)
    version = draw(versions)
    wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    artifact = Artifact(wheel, f"https://f.invalid/{wheel}", draw(st.integers(1, 10**9)), draw(digests))
    return LockedPackage(name, version, "default", "https://i.invalid/simple/", (artifact,))


def make_lock(pkgs: list[LockedPackage]) -> Lock:
    return Lock(
        spec_hash="sha256:" + "a" * 64,
        name="demo",
        python="3.11",
        platforms=("linux-x86_64",),
        resolver="uv",
        resolver_version="0.13.9",
        requirements=("demo",),
        constraints=(),
        packages=tuple(pkgs),
        spec=Spec.model_validate({"env": {"name": "demo", "python": "3.11"}, "runtime": {"env": {"A": "1"}}}),
        facts=Facts(python_image="python:3.11-slim-bookworm"),
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(packages(), max_size=6, unique_by=lambda p: p.name))
def test_render_is_canonical_and_round_trips(pkgs: list[LockedPackage]) -> None:
    lock = make_lock(pkgs)
    text = render_lock(lock)
    assert text == render_lock(make_lock(list(reversed(pkgs))))  # order of input does not matter
    back = parse_lock(text, "lock")
    assert sorted(back.packages, key=lambda p: p.name) == sorted(pkgs, key=lambda p: p.name)
    assert back.env_id == lock.env_id
    assert render_lock(back) == text
    Pylock.from_dict(tomllib.loads(text)).validate()
    names_in_file = [p["name"] for p in tomllib.loads(text)["packages"]]
    assert names_in_file == sorted(names_in_file)


def test_env_id_depends_on_artifacts() -> None:
    artifact = Artifact("a-1.0-py3-none-any.whl", "https://f.invalid/a", 10, "0" * 64)
    one = make_lock([LockedPackage("a", "1.0", "default", "https://i.invalid/", (artifact,))])
    other = make_lock(
        [
            LockedPackage(
                "a",
                "1.0",
                "default",
                "https://i.invalid/",
                (Artifact(artifact.name, artifact.url, 10, "1" * 64),),
            )
        ]
    )
    assert one.env_id != other.env_id
    assert one.env_id.endswith("-demo")


def test_none_values_are_dropped_and_upload_times_are_datetimes() -> None:
    artifact = Artifact("a-1.0-py3-none-any.whl", "https://f.invalid/a", 10, "0" * 64, "2024-01-02T03:04:05Z")
    text = render_lock(make_lock([LockedPackage("a", "1.0", "default", "https://i.invalid/", (artifact,))]))
    assert "description" not in text
    assert "upload-time = 2024-01-02T03:04:05Z" in text
    assert parse_lock(text, "l").packages[0].wheels[0].upload_time == "2024-01-02T03:04:05Z"


def test_foreign_or_future_locks_are_refused() -> None:
    with pytest.raises(LockFileError, match=r"no \[tool\.envspec\]"):
        parse_lock('lock-version = "1.0"\n', "other.toml")
    with pytest.raises(LockFileError, match="format 99"):
        parse_lock("[tool.envspec]\nformat = 99\n", "future.toml")
    with pytest.raises(LockFileError, match="not valid TOML"):
        parse_lock("[", "broken.toml")
    assert read_spec_hash("[") is None
    assert read_spec_hash("[tool.envspec]\nformat = 99\nspec-hash = 'x'\n") is None
    assert read_spec_hash("[tool.envspec]\nformat = 1\nspec-hash = 'x'\n") == "x"
