"""Schema: the JSON Schema of the spec language, for editors (Taplo / Even Better TOML)."""

from __future__ import annotations

import json
from typing import Any

from envspec import __version__
from envspec.spec import Spec

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def spec_schema() -> dict[str, Any]:
    """The spec's JSON Schema (draft 2020-12), derived from the pydantic models."""
    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": DIALECT,
        "title": "envspec spec",
        "description": f"An envspec environment spec (envspec {__version__}).",
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
    }


def render_schema() -> str:
    """The schema as stable, indented JSON text ending in a newline."""
    return json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"
