"""envspec.tomlwrite: the lock writer reads back to the same values and spells them as tomlkit does."""

from __future__ import annotations

import dataclasses
import datetime
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envspec.load import load_spec
from envspec.lock.model import HASH_FROM, Artifact, Facts, Lock, LockedPackage
from envspec.lock.read import read_lock
from envspec.lock.render import render_lock
from envspec.tomlwrite import Inline, dumps, key, string
from tests.support.tomlkit_render import render_lock_tomlkit

REPO = Path(__file__).resolve().parents[1]

_KEYS = st.text(max_size=12)
_SCALARS = (
    st.text(max_size=20)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2100, 1, 1)).map(
        lambda d: d.replace(tzinfo=datetime.UTC)
    )
)
_INLINE: st.SearchStrategy[Any] = st.recursive(
    _SCALARS | st.lists(_SCALARS, max_size=3),
    lambda inner: st.dictionaries(_KEYS, inner, max_size=3).map(Inline),
    max_leaves=6,
)
# arrays hold scalars or arrays: envspec writes no array of inline tables (tomlkit makes those [[tables]])
_VALUES = _SCALARS | st.lists(_SCALARS | st.lists(_SCALARS, max_size=2), max_size=3)


def _tables(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    children: st.SearchStrategy[Any] = _VALUES | _INLINE
    if depth:
        sub = _tables(depth - 1)
        children = children | sub | st.lists(sub, min_size=1, max_size=2)
    return st.dictionaries(_KEYS, children, max_size=4)


def _plain(item: Any) -> Any:
    if isinstance(item, dict):
        return {k: _plain(v) for k, v in item.items()}
    if isinstance(item, list):
        return [_plain(v) for v in item]
    return item


@settings(max_examples=300, deadline=None)
@given(_tables(3))
def test_reads_back_to_the_same_values(document: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(document)) == _plain(document)


_TEXT = st.text(min_size=1, max_size=16)
_ARTIFACTS = st.builds(
    Artifact,
    name=_TEXT,
    url=_TEXT,
    size=st.integers(min_value=0, max_value=2**40),
    sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
    upload_time=st.none()
    | st.datetimes(min_value=datetime.datetime(2000, 1, 1)).map(lambda d: d.isoformat() + "Z"),
    hash_from=st.none() | st.sampled_from(HASH_FROM),
)
_PACKAGES = st.builds(
    LockedPackage,
    name=_TEXT,
    version=_TEXT,
    index_name=_TEXT,
    index_url=_TEXT,
    wheels=st.lists(_ARTIFACTS, max_size=3).map(tuple),
    sdist=st.none() | _ARTIFACTS,
    marker=st.none() | _TEXT,
)


def _specs() -> list[Path]:
    return sorted([*(REPO / "specs").glob("*.toml"), *(REPO / "examples").glob("*.toml")])


@pytest.fixture(scope="module")
def demo() -> Lock:
    lock, _ = read_lock(REPO / "locks" / "pylock.demo.toml")
    return lock


@pytest.mark.parametrize("spec", _specs(), ids=lambda p: p.name)
@pytest.mark.parametrize("facts", [None, Facts()], ids=["demo-facts", "no-facts"])
def test_every_shipped_spec_renders_as_tomlkit_did(spec: Path, facts: Facts | None, demo: Lock) -> None:
    """The spec and facts tables of a lock: nested tables, arrays of tables, every spec section, and
    an empty ``[tool.envspec.facts]``."""
    loaded = load_spec(spec)
    lock = dataclasses.replace(demo, spec=loaded.spec, facts=facts or demo.facts)
    assert render_lock(lock) == render_lock_tomlkit(lock)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(packages=st.lists(_PACKAGES, min_size=1, max_size=4))
def test_any_packages_render_as_tomlkit_did(packages: list[LockedPackage], demo: Lock) -> None:
    """At least one package: tomlkit put an empty ``packages = []`` above the header comments."""
    lock = dataclasses.replace(demo, packages=tuple(packages))
    assert render_lock(lock) == render_lock_tomlkit(lock)


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("plain", '"plain"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("\x00\x1f\x7f\t\n", '"\\u0000\\u001f\\u007f\\t\\n"'),
        ("é\u2028", '"é\u2028"'),  # TOML allows these raw; tomllib reads them back
    ],
)
def test_strings_escape_what_toml_requires(text: str, spelled: str) -> None:
    assert string(text) == spelled
    assert tomllib.loads(f"k = {spelled}")["k"] == text


def test_keys_stay_bare_only_when_toml_allows() -> None:
    assert key("hashes-from") == "hashes-from"
    assert key("es_app-1.1-py3-none-any.whl") == '"es_app-1.1-py3-none-any.whl"'
    assert key("") == '""'


def test_refuses_what_it_cannot_spell() -> None:
    with pytest.raises(ValueError, match="time zone"):
        dumps({"t": datetime.datetime(2024, 1, 1)})
    with pytest.raises(ValueError, match="nan"):
        dumps({"f": float("nan")})
    with pytest.raises(TypeError, match="set"):
        dumps({"s": {1}})


def test_the_committed_lock_renders_to_its_own_bytes() -> None:
    path = REPO / "locks" / "pylock.demo.toml"
    lock, _ = read_lock(path)
    assert render_lock(lock) == path.read_text(encoding="utf-8")
