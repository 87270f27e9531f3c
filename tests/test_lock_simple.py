"""Simple-repository pages parse into files with absolute URLs, hashes and PEP 658 markers."""

from __future__ import annotations

import json

import pytest

from envspec.lock.simple import (
    SIMPLE_JSON,
    IndexPageError,
    parse_index_page,
    parse_simple_html,
    parse_simple_json,
)


def test_parse_simple_html_resolves_links_and_metadata_markers() -> None:
    page = """<html><head><base href="https://files.invalid/base/"></head><body>
    <a href="../whl/cu118/torch-2.1.2%2Bcu118-cp311-cp311-linux_x86_64.whl#sha256=ab">
      torch-2.1.2+cu118-cp311-cp311-linux_x86_64.whl
    </a>
    <a href="tv-1.whl" data-dist-info-metadata="sha256=CAFE">tv-1.whl</a>
    <a href="tv-2.whl" data-core-metadata data-yanked="">tv-2.whl</a>
    <a href="tv-3.whl" data-core-metadata="false">tv-3.whl</a>
    </body></html>"""
    files = parse_simple_html(page, "https://index.invalid/simple/torch/")
    assert [(f.filename, f.url, f.metadata, f.metadata_hash, f.yanked) for f in files] == [
        (
            "torch-2.1.2+cu118-cp311-cp311-linux_x86_64.whl",
            "https://files.invalid/whl/cu118/torch-2.1.2%2Bcu118-cp311-cp311-linux_x86_64.whl",
            False,
            None,
            False,
        ),
        ("tv-1.whl", "https://files.invalid/base/tv-1.whl", True, ("sha256", "cafe"), False),
        ("tv-2.whl", "https://files.invalid/base/tv-2.whl", True, None, True),
        ("tv-3.whl", "https://files.invalid/base/tv-3.whl", False, None, False),
    ]
    assert files[1].metadata_url == "https://files.invalid/base/tv-1.whl.metadata"


def test_parse_simple_json() -> None:
    document = {
        "files": [
            {"filename": "a-1.0-cp311-cp311-linux_x86_64.whl", "url": "../../f/a.whl", "core-metadata": True},
            {"filename": "a-1.1.tar.gz", "url": "/f/a.tgz", "dist-info-metadata": {"sha256": "AA"}},
            {"filename": "a-1.2.tar.gz", "url": "/f/b.tgz", "yanked": "broken"},
        ]
    }
    page = parse_index_page(json.dumps(document).encode(), SIMPLE_JSON, "http://h.invalid/s/a/")
    assert [(f.url, f.metadata, f.metadata_hash, f.yanked) for f in page] == [
        ("http://h.invalid/f/a.whl", True, None, False),
        ("http://h.invalid/f/a.tgz", True, ("sha256", "aa"), False),
        ("http://h.invalid/f/b.tgz", False, None, True),
    ]
    assert parse_simple_json(document, "http://h.invalid/s/a/") == page
    with pytest.raises(IndexPageError, match="no 'files' list"):
        parse_simple_json({"meta": {}}, "http://h.invalid/s/a/")


def test_hashes_sizes_and_requires_python_are_kept() -> None:
    html_page = (
        '<a href="/f/a-1.0-py3-none-any.whl#sha256=ABCD" data-requires-python="&gt;=3.9">'
        "a-1.0-py3-none-any.whl</a>"
        '<a href="/f/a-1.0.tar.gz#md5=1234">a-1.0.tar.gz</a>'
    )
    wheel, sdist = parse_simple_html(html_page, "http://h.invalid/simple/a/")
    assert wheel.sha256 == "abcd"
    assert wheel.requires_python == ">=3.9"
    assert sdist.hashes == {"md5": "1234"}
    assert sdist.sha256 is None
    document = {
        "files": [
            {
                "filename": "a-1.0-py3-none-any.whl",
                "url": "https://f.invalid/a.whl",
                "hashes": {"sha256": "EF"},
                "size": 12,
                "upload-time": "2024-01-01T00:00:00Z",
                "requires-python": ">=3.8",
            }
        ]
    }
    (entry,) = parse_simple_json(document, "http://h.invalid/simple/a/")
    assert (entry.sha256, entry.size, entry.upload_time, entry.requires_python) == (
        "ef",
        12,
        "2024-01-01T00:00:00Z",
        ">=3.8",
    )
    assert parse_index_page(
        json.dumps(document).encode(), SIMPLE_JSON + "; charset=utf-8", "http://x.invalid/"
    )
    with pytest.raises(IndexPageError, match="invalid JSON"):
        parse_index_page(b"{", SIMPLE_JSON, "http://x.invalid/")
