"""What counts as a control character, wherever text from a spec or a lock may reach a file we write.

A newline in a value would start a new shell command, a new Dockerfile instruction or a new YAML key.
So would the characters other tools treat as line breaks (U+0085 NEL, U+2028 LINE SEPARATOR,
U+2029 PARAGRAPH SEPARATOR), and the bidirectional overrides make a reviewer read text in an order
the machine does not ("Trojan Source"). All of them are refused in every key and value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping

from envspec.errors import Diagnostic, KeyPath, Severity

# Bidirectional embedding, override and isolate controls (category Cf, so listed by hand).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The same set as one character class, for whole strings: Cc is U+0000-U+001F and U+007F-U+009F,
# Zl is U+2028 and Zp is U+2029 (tests/test_text.py checks it against unicodedata, code point by
# code point). A lock holds tens of thousands of strings: this is what keeps reading one fast.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def is_control(ch: str) -> bool:
    """Whether ``ch`` may not appear in text that envspec writes into a script, a Dockerfile or YAML."""
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI


def first_control(text: str) -> str | None:
    """The first control character of ``text``, or None."""
    found = _CONTROL.search(text)
    return found.group() if found else None


def describe(ch: str) -> str:
    """``U+2028 (LINE SEPARATOR)``: a control character as a message names it."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def walk(value: object, path: KeyPath = ()) -> Iterator[tuple[KeyPath, object]]:
    """Every (key path, value) of a parsed TOML document, depth first, the document itself first."""
    yield path, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))


def control_characters(document: Mapping[str, object]) -> Iterator[Diagnostic]:
    """A diagnostic for each key or text value that holds a control character (the first one found)."""
    for path, value in walk(document):
        texts = [("value", value)] if isinstance(value, str) else []
        if path and isinstance(path[-1], str):
            texts.append(("key", path[-1]))
        for what, text in texts:
            bad = first_control(text) if isinstance(text, str) else None
            if bad is not None:
                yield Diagnostic(
                    "control-character",
                    Severity.ERROR,
                    f"the {what} holds the control character {describe(bad)}",
                    path=path,
                    expected="text without newlines, tabs, line separators or other control characters",
                    hint="values reach shell scripts and Dockerfiles, where a newline starts a new command",
                )
                break
