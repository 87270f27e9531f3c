"""The JSON Schema is valid, accepts every shipped spec and rejects what the models reject."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from envspec.schema import render_schema, spec_schema

from .conftest import SHIPPED_SPECS


def validator() -> Draft202012Validator:
    schema = spec_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = spec_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_text_is_stable() -> None:
    assert render_schema() == render_schema()
    assert json.loads(render_schema()) == spec_schema()


@pytest.mark.parametrize("path", SHIPPED_SPECS, ids=lambda p: p.name)
def test_shipped_specs_match_the_schema(path: Path) -> None:
    errors = list(validator().iter_errors(tomllib.loads(path.read_text())))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(
    "doc",
    [
        {"env": {"name": "x"}},
        {"env": {"name": "x", "python": 3.1}},
        {"env": {"name": "Bad Name", "python": "3.11"}},
        {"env": {"name": "x", "python": "3.11", "extra": 1}},
        {"env": {"name": "x", "python": "3.11"}, "network": {"timeout": -1}},
        {"env": {"name": "x", "python": "3.11"}, "torch": {"version": "2.1.2", "with": ["tv"]}},
        {"env": {"name": "x", "python": "3.11"}, "runtime": {"env": {"1BAD": "x"}}},
    ],
)
def test_schema_rejects_structural_mistakes(doc: dict[str, object]) -> None:
    assert list(validator().iter_errors(doc))


def test_schema_keeps_the_user_facing_key_names() -> None:
    props = spec_schema()["$defs"]["TorchSection"]["properties"]
    assert "with" in props
    assert "with_" not in props
