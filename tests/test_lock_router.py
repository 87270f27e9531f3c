"""The router's pages keep everything resolvers need: hashes, Requires-Python, metadata, yanking."""

from __future__ import annotations

from envspec.lock.router import render_page
from envspec.lock.simple import IndexFile, parse_simple_html


def test_rendered_page_parses_back_to_the_same_files() -> None:
    files = (
        IndexFile("b-1.0.tar.gz", "https://f.invalid/b-1.0.tar.gz", {"sha256": "ab" * 32}, None),
        IndexFile(
            "a-1.0-py3-none-any.whl",
            "https://f.invalid/a%2B1.whl",
            {"sha256": "cd" * 32},
            '>=3.8,<4; "quoted"',
            metadata=True,
            metadata_hash=("sha256", "ef" * 32),
            yanked=True,
        ),
    )
    page = render_page("demo", files)
    back = parse_simple_html(page, "http://127.0.0.1:1/simple/demo/")
    assert [f.filename for f in back] == ["a-1.0-py3-none-any.whl", "b-1.0.tar.gz"]
    a = back[0]
    assert a.url == "https://f.invalid/a%2B1.whl"
    assert a.sha256 == "cd" * 32
    assert a.requires_python == '>=3.8,<4; "quoted"'
    assert a.metadata
    assert a.metadata_hash == ("sha256", "ef" * 32)
    assert a.yanked
    assert not back[1].yanked
