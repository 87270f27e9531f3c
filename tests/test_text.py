"""The control-character rule: one definition, checked code point by code point."""

from __future__ import annotations

import sys

from envspec.text import first_control, is_control


def test_the_fast_search_agrees_with_the_definition_on_every_code_point() -> None:
    disagree = [
        cp
        for cp in range(sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and (first_control(chr(cp)) is not None) != is_control(chr(cp))
    ]
    assert disagree == []


def test_the_first_control_character_is_named() -> None:
    assert first_control("plain text, ünïcode") is None
    assert first_control("a\tb\nc") == "\t"
    assert first_control("x\u2028y") == "\u2028"
    assert first_control("left \u202e right") == "\u202e"
    assert first_control("nel\u0085") == "\u0085"
