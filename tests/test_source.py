"""Key paths map to the lines they are written on, whatever TOML layout the user chose."""

from __future__ import annotations

import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from envspec.source import key_lines, line_of

DOC = """\
# comment with [brackets] and key = "value"
[env]
name = "x"   # trailing
python = "3.11"
"quoted.key" = 1
dotted.inner = 2

[[mirrors]]
name = "a"
url = \"\"\"https://a
[not] = "a table"\"\"\"

[[mirrors]]
name = 'b'

[runtime.env]
LIST = [
  "one",  # first
  { a = 1, b = [2,
    3] },
]

[[x.y]]
z = 1
[[x.y]]
z = 2
"""


def test_tables_keys_and_array_items_have_lines() -> None:
    lines = key_lines(DOC)
    assert lines[("env",)] == 2
    assert lines[("env", "name")] == 3
    assert lines[("env", "python")] == 4
    assert lines[("env", "quoted.key")] == 5
    assert lines[("env", "dotted", "inner")] == 6
    assert lines[("mirrors", 0)] == 8
    assert lines[("mirrors", 0, "url")] == 10
    assert lines[("mirrors", 1, "name")] == 14
    assert ("not",) not in lines  # inside a multi-line string
    assert lines[("runtime", "env")] == 16
    assert lines[("runtime",)] == 16
    assert lines[("runtime", "env", "LIST", 0)] == 18
    assert lines[("runtime", "env", "LIST", 1, "b", 1)] == 20
    assert lines[("x", "y", 1, "z")] == 26


def test_line_of_falls_back_to_the_nearest_written_ancestor() -> None:
    lines = key_lines(DOC)
    assert line_of(lines, ("env", "platforms")) == 2  # a default: the table's line
    assert line_of(lines, ("mirrors", 1, "trusted")) == 13
    assert line_of(lines, ("nowhere",)) is None


keys = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
values = st.one_of(st.integers(), st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=3))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys, st.dictionaries(keys, values, max_size=4), min_size=1, max_size=4))
def test_every_key_of_a_generated_document_is_found_on_its_line(tables: dict[str, dict[str, object]]) -> None:
    import tomlkit

    text = tomlkit.dumps(tables)
    assert tomllib.loads(text) == tables
    lines = key_lines(text)
    source = text.split("\n")
    for table, items in tables.items():
        for key in items:
            line = lines[(table, key)]
            assert source[line - 1].lstrip().startswith(key), (table, key, line)
