"""Map key paths of a (valid) TOML document to the lines they are written on.

``tomllib`` returns values but not positions, so diagnostics need this second, light pass over the
text (a spec's or a lock's). It runs only after the TOML parser accepted the document, so it may be
lenient: it never raises on text that parsed, and for text it does not understand it records less.
"""

from __future__ import annotations

from collections.abc import Mapping

from envspec.errors import KeyPath

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self.aot_count: dict[KeyPath, int] = {}

    # -- low-level movement -------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.pos < len(self.text):
                if self.text[self.pos] == "\n":
                    self.line += 1
                self.pos += 1

    def skip_inline_space(self) -> None:
        while self.peek() in (" ", "\t", "\r") and self.peek():
            self.advance()

    def skip_comment(self) -> None:
        if self.peek() == "#":
            while self.peek() and self.peek() != "\n":
                self.advance()

    def skip_space_and_newlines(self) -> None:
        while True:
            self.skip_inline_space()
            self.skip_comment()
            if self.peek() == "\n":
                self.advance()
                continue
            return

    def skip_to_eol(self) -> None:
        while self.peek() and self.peek() != "\n":
            self.advance()

    # -- tokens --------------------------------------------------------------
    def read_string(self) -> str:
        quote = self.peek()
        if self.text.startswith(quote * 3, self.pos):
            self.advance(3)
            start = self.pos
            while self.peek():
                if quote == '"' and self.peek() == "\\":
                    self.advance(2)
                    continue
                if self.text.startswith(quote * 3, self.pos):
                    # a closing delimiter may be followed by up to two more quotes that belong to the value
                    extra = 0
                    while self.peek(3 + extra) == quote and extra < 2:
                        extra += 1
                    value = self.text[start : self.pos + extra]
                    self.advance(3 + extra)
                    return value
                self.advance()
            return self.text[start:]
        self.advance()
        chars: list[str] = []
        while self.peek() and self.peek() != "\n":
            ch = self.peek()
            if ch == quote:
                self.advance()
                break
            if quote == '"' and ch == "\\":
                chars.append(self.text[self.pos : self.pos + 2])
                self.advance(2)
                continue
            chars.append(ch)
            self.advance()
        raw = "".join(chars)
        if quote == '"' and "\\" in raw:
            try:
                return str(raw.encode("utf-8").decode("unicode_escape"))
            except UnicodeDecodeError:
                return raw
        return raw

    def read_key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self.skip_inline_space()
            ch = self.peek()
            if ch in ('"', "'"):
                parts.append(self.read_string())
            else:
                start = self.pos
                while self.peek() and self.peek() in _BARE:
                    self.advance()
                if self.pos == start:
                    break
                parts.append(self.text[start : self.pos])
            self.skip_inline_space()
            if self.peek() == ".":
                self.advance()
                continue
            break
        return tuple(parts)

    # -- structure -------------------------------------------------------------
    def resolve(self, key: tuple[str, ...]) -> KeyPath:
        """Insert the current index of every array of tables that a header path passes through."""
        path: list[str | int] = []
        for part in key:
            path.append(part)
            count = self.aot_count.get(tuple(path))
            if count is not None:
                path.append(count - 1)
        return tuple(path)

    def record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_space_and_newlines()
            ch = self.peek()
            if not ch:
                return
            line = self.line
            if ch == "[":
                is_array = self.peek(1) == "["
                self.advance(2 if is_array else 1)
                key = self.read_key()
                if is_array:
                    parent = self.resolve(key[:-1]) + key[-1:]
                    index = self.aot_count.get(parent, 0)
                    self.aot_count[parent] = index + 1
                    table = (*parent, index)
                    self.record(parent, line)
                else:
                    table = self.resolve(key)
                for depth in range(1, len(table) + 1):
                    self.record(table[:depth], line)
                self.skip_to_eol()
                continue
            key = self.read_key()
            if not key:
                self.skip_to_eol()
                continue
            self.skip_inline_space()
            if self.peek() == "=":
                self.advance()
            self.value((*table, *key), line)
            self.skip_to_eol()

    def value(self, path: KeyPath, line: int) -> None:
        for depth in range(1, len(path) + 1):
            self.record(path[:depth], line)
        self.skip_inline_space()
        ch = self.peek()
        if ch in ('"', "'"):
            self.read_string()
        elif ch == "[":
            self.array(path)
        elif ch == "{":
            self.inline_table(path)
        else:
            while self.peek() and self.peek() not in ",]}\n#":
                self.advance()

    def array(self, path: KeyPath) -> None:
        self.advance()
        index = 0
        while True:
            self.skip_space_and_newlines()
            if self.peek() in ("]", ""):
                self.advance()
                return
            self.value((*path, index), self.line)
            index += 1
            self.skip_space_and_newlines()
            if self.peek() == ",":
                self.advance()

    def inline_table(self, path: KeyPath) -> None:
        self.advance()
        while True:
            self.skip_inline_space()
            if self.peek() in ("}", "", "\n"):
                self.advance()
                return
            key_line = self.line
            key = self.read_key()
            if not key:
                self.advance()
                continue
            self.skip_inline_space()
            if self.peek() == "=":
                self.advance()
            self.value((*path, *key), key_line)
            self.skip_inline_space()
            if self.peek() == ",":
                self.advance()


def key_lines(text: str) -> Mapping[KeyPath, int]:
    """Return the 1-based line of every key path written in ``text`` (tables, keys, array items)."""
    scanner = _Scanner(text)
    scanner.document()
    return scanner.lines


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its nearest written ancestor (a default has no line of its own)."""
    for end in range(len(path), 0, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return None
