# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small, strict TOML 1.0 reader for registries.conf and similar files.

Python 3.9 and 3.10 have no ``tomllib`` and the engine must not need a third
party package, so this module reads TOML itself. It returns what ``tomllib``
would: ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` and the
``datetime`` types. Anything TOML 1.0 forbids (a key defined twice, a table
declared twice, a value added to an inline table, a bad escape, a control
character, a missing newline between statements...) raises ``ConfigError``
with the line and column, e.g. ``registries.conf: line 3, column 9: ...``.

Only reading is provided; nothing in the engine writes TOML.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Optional

from .errors import ConfigError

__all__ = ["loads", "load"]

# Kinds of tables, which decide what may still be added to them.
_IMPLICIT = 0   # created as the parent of a [header]; may be declared later, once
_HEADER = 1     # declared by [header] or as an element of [[array]]
_DOTTED = 2     # created by a dotted key (a.b = 1); extendable only by dotted keys
_FROZEN = 3     # an inline table, or a table inside one: immutable

_WS = " \t"
_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}

_DEC = r"[0-9](?:_?[0-9])*"
_INT_PART = r"[+-]?(?:0|[1-9](?:_?[0-9])*)"
_NUMBER_RE = re.compile(
    r"0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*"
    r"|0o[0-7](?:_?[0-7])*"
    r"|0b[01](?:_?[01])*"
    r"|(?P<int>%s)(?P<frac>\.%s)?(?P<exp>[eE][+-]?%s)?" % (_INT_PART, _DEC, _DEC))
_SPECIAL_FLOAT_RE = re.compile(r"[+-]?(?:inf|nan)")
_TIME = r"(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9]):(?P<second>[0-5][0-9])(?:\.(?P<frac>[0-9]+))?"
_DATETIME_RE = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"(?:[Tt ]%s(?:(?P<z>[Zz])|(?P<osign>[+-])(?P<ohour>[01][0-9]|2[0-3]):(?P<ominute>[0-5][0-9]))?)?"
    % _TIME)
_LOCAL_TIME_RE = re.compile(_TIME)
# What may legitimately follow a scalar value.
_VALUE_END = frozenset(" \t\n#,]}")


def _is_illegal_char(char: str, multiline: bool = False) -> bool:
    """Control characters other than tab (and newline in multi-line strings) are forbidden."""
    code = ord(char)
    if char == "\t" or (multiline and char == "\n"):
        return False
    return code < 0x20 or code == 0x7F


class _Parser:
    def __init__(self, text: str, source: str):
        if not isinstance(text, str):
            raise ConfigError("%s: TOML input must be text, not %s" % (source, type(text).__name__))
        if text.startswith("\ufeff"):
            text = text[1:]
        # TOML newlines are LF or CRLF; a lone CR is an error (caught as a control character).
        self.src = text.replace("\r\n", "\n")
        self.source = source
        self.pos = 0
        self.root: dict = {}
        self.kinds: dict[int, int] = {id(self.root): _HEADER}
        self.arrays_of_tables: set[int] = set()
        self.current: dict = self.root

    # -- errors and low-level scanning -------------------------------------------------

    def error(self, message: str, pos: Optional[int] = None) -> ConfigError:
        if pos is None:
            pos = self.pos
        pos = min(pos, len(self.src))
        line = self.src.count("\n", 0, pos) + 1
        column = pos - (self.src.rfind("\n", 0, pos) + 1) + 1
        return ConfigError("%s: line %d, column %d: %s" % (self.source, line, column, message))

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.src[index] if index < len(self.src) else ""

    def startswith(self, text: str) -> bool:
        return self.src.startswith(text, self.pos)

    def skip_ws(self) -> None:
        src, pos = self.src, self.pos
        while pos < len(src) and src[pos] in _WS:
            pos += 1
        self.pos = pos

    def skip_comment(self) -> None:
        if self.peek() != "#":
            return
        end = self.src.find("\n", self.pos)
        if end == -1:
            end = len(self.src)
        for index in range(self.pos + 1, end):
            if _is_illegal_char(self.src[index]):
                raise self.error("control character %r is not allowed in a comment" % self.src[index], index)
        self.pos = end

    def skip_ws_comments_newlines(self) -> None:
        """Between array elements: white space, newlines and comments."""
        while True:
            self.skip_ws()
            char = self.peek()
            if char == "\n":
                self.pos += 1
            elif char == "#":
                self.skip_comment()
            else:
                return

    def expect_line_end(self) -> None:
        self.skip_ws()
        self.skip_comment()
        char = self.peek()
        if char == "\n":
            self.pos += 1
        elif char:
            raise self.error("expected a newline or the end of the document after a statement, found %r" % char)

    # -- document ----------------------------------------------------------------------

    def parse(self) -> dict:
        while True:
            self.skip_ws()
            char = self.peek()
            if not char:
                return self.root
            if char == "\n":
                self.pos += 1
            elif char == "#":
                self.skip_comment()
            elif char == "[":
                if self.startswith("[["):
                    self.parse_array_table_header()
                else:
                    self.parse_table_header()
                self.expect_line_end()
            else:
                if _is_illegal_char(char):
                    raise self.error("control character %r is not allowed here" % char)
                self.parse_key_value(self.current)
                self.expect_line_end()

    # -- keys --------------------------------------------------------------------------

    def parse_key(self) -> list:
        parts = [self.parse_simple_key()]
        while True:
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.pos += 1
            self.skip_ws()
            parts.append(self.parse_simple_key())

    def parse_simple_key(self) -> str:
        char = self.peek()
        if char == '"':
            if self.startswith('"""'):
                raise self.error("a multi-line string cannot be a key")
            return self.parse_basic_string()
        if char == "'":
            if self.startswith("'''"):
                raise self.error("a multi-line string cannot be a key")
            return self.parse_literal_string()
        start = self.pos
        src = self.src
        pos = start
        while pos < len(src) and src[pos] in _BARE_KEY_CHARS:
            pos += 1
        if pos == start:
            if not char or char == "\n":
                raise self.error("expected a key, found the end of the line")
            raise self.error("invalid character %r in a key (bare keys are A-Z a-z 0-9 _ -)" % char)
        self.pos = pos
        return src[start:pos]

    # -- tables ------------------------------------------------------------------------

    def descend(self, table: dict, key: str, path: list, header_pos: int) -> dict:
        """Step into ``table[key]`` on the way to a [header], creating implicit tables."""
        if key not in table:
            child: dict = {}
            table[key] = child
            self.kinds[id(child)] = _IMPLICIT
            return child
        value = table[key]
        if isinstance(value, list):
            if id(value) not in self.arrays_of_tables:
                raise self.error("cannot extend %s: it is a static array" % _dotted(path), header_pos)
            value = value[-1]
        elif not isinstance(value, dict):
            raise self.error("cannot define a table under %s: it is a %s value"
                             % (_dotted(path), _type_name(value)), header_pos)
        if self.kinds.get(id(value)) == _FROZEN:
            raise self.error("cannot extend %s: inline tables are immutable" % _dotted(path), header_pos)
        return value

    def parse_table_header(self) -> None:
        header_pos = self.pos
        self.pos += 1
        self.skip_ws()
        path = self.parse_key()
        self.skip_ws()
        if self.peek() != "]":
            raise self.error("expected ']' at the end of the table header")
        self.pos += 1
        table = self.root
        for index, key in enumerate(path[:-1]):
            table = self.descend(table, key, path[:index + 1], header_pos)
        last = path[-1]
        if last in table:
            value = table[last]
            if not isinstance(value, dict):
                if isinstance(value, list) and id(value) in self.arrays_of_tables:
                    raise self.error("table [%s] is already an array of tables" % _dotted(path), header_pos)
                raise self.error("cannot define table [%s]: the key already holds a %s value"
                                 % (_dotted(path), _type_name(value)), header_pos)
            kind = self.kinds.get(id(value))
            if kind != _IMPLICIT:
                what = {_HEADER: "declared", _DOTTED: "defined by dotted keys",
                        _FROZEN: "defined as an inline table"}.get(kind, "defined")
                raise self.error("table [%s] is already %s" % (_dotted(path), what), header_pos)
            self.kinds[id(value)] = _HEADER
        else:
            value = {}
            table[last] = value
            self.kinds[id(value)] = _HEADER
        self.current = value

    def parse_array_table_header(self) -> None:
        header_pos = self.pos
        self.pos += 2
        self.skip_ws()
        path = self.parse_key()
        self.skip_ws()
        if not self.startswith("]]"):
            raise self.error("expected ']]' at the end of the array-of-tables header")
        self.pos += 2
        table = self.root
        for index, key in enumerate(path[:-1]):
            table = self.descend(table, key, path[:index + 1], header_pos)
        last = path[-1]
        element: dict = {}
        self.kinds[id(element)] = _HEADER
        if last in table:
            array = table[last]
            if not isinstance(array, list) or id(array) not in self.arrays_of_tables:
                raise self.error("cannot define [[%s]]: the key already holds a %s"
                                 % (_dotted(path), "static array" if isinstance(array, list)
                                    else _type_name(array) + " value"), header_pos)
            array.append(element)
        else:
            array = [element]
            table[last] = array
            self.arrays_of_tables.add(id(array))
        self.current = element

    # -- key/value pairs ---------------------------------------------------------------

    def parse_key_value(self, table: dict) -> None:
        key_pos = self.pos
        path = self.parse_key()
        self.skip_ws()
        if self.peek() != "=":
            raise self.error("expected '=' after the key %s" % _dotted(path))
        self.pos += 1
        self.skip_ws()
        value = self.parse_value()
        for index, key in enumerate(path[:-1]):
            if key not in table:
                child: dict = {}
                table[key] = child
                self.kinds[id(child)] = _DOTTED
                table = child
                continue
            child = table[key]
            if not isinstance(child, dict):
                raise self.error("cannot set %s: %s is a %s value"
                                 % (_dotted(path), _dotted(path[:index + 1]),
                                    "array" if isinstance(child, list) else _type_name(child)), key_pos)
            kind = self.kinds.get(id(child))
            if kind == _FROZEN:
                raise self.error("cannot set %s: %s is an inline table, which is immutable"
                                 % (_dotted(path), _dotted(path[:index + 1])), key_pos)
            if kind == _HEADER:
                raise self.error("cannot set %s: table %s is already declared by a header"
                                 % (_dotted(path), _dotted(path[:index + 1])), key_pos)
            self.kinds[id(child)] = _DOTTED
            table = child
        last = path[-1]
        if last in table:
            raise self.error("key %s is defined twice" % _dotted(path), key_pos)
        table[last] = value

    # -- values ------------------------------------------------------------------------

    def parse_value(self) -> Any:
        char = self.peek()
        if not char or char == "\n":
            raise self.error("expected a value, found the end of the line")
        if char == '"':
            if self.startswith('"""'):
                return self.parse_multiline_basic_string()
            return self.parse_basic_string()
        if char == "'":
            if self.startswith("'''"):
                return self.parse_multiline_literal_string()
            return self.parse_literal_string()
        if char == "[":
            return self.parse_array()
        if char == "{":
            return self.parse_inline_table()
        if char == "t" and self.startswith("true"):
            self.pos += 4
            self.check_value_end("true")
            return True
        if char == "f" and self.startswith("false"):
            self.pos += 5
            self.check_value_end("false")
            return False
        return self.parse_number_or_date()

    def check_value_end(self, what: str) -> None:
        char = self.peek()
        if char and char not in _VALUE_END:
            raise self.error("invalid value: unexpected %r after %s" % (char, what))

    def parse_number_or_date(self) -> Any:
        start = self.pos
        src = self.src
        match = _DATETIME_RE.match(src, start)
        if match:
            value = self.make_datetime(match)
            self.pos = match.end()
            self.check_value_end("a date")
            return value
        match = _LOCAL_TIME_RE.match(src, start)
        if match:
            value = self.make_time(match)
            self.pos = match.end()
            self.check_value_end("a time")
            return value
        match = _SPECIAL_FLOAT_RE.match(src, start)
        if match:
            self.pos = match.end()
            self.check_value_end("a float")
            return float(match.group(0))
        match = _NUMBER_RE.match(src, start)
        if match:
            self.pos = match.end()
            text = match.group(0)
            self.check_value_end("a number")
            if match.group("int") is None:
                return int(text[2:].replace("_", ""), {"x": 16, "o": 8, "b": 2}[text[1]])
            if match.group("frac") is None and match.group("exp") is None:
                return int(text.replace("_", ""))
            return float(text.replace("_", ""))
        end = start
        while end < len(src) and src[end] not in _VALUE_END:
            end += 1
        raise self.error("invalid value %r" % src[start:end], start)

    def make_datetime(self, match: "re.Match[str]") -> Any:
        try:
            date = datetime.date(int(match.group("year")), int(match.group("month")), int(match.group("day")))
        except ValueError as err:
            raise self.error("invalid date %r: %s" % (match.group(0), err))
        if match.group("hour") is None:
            return date
        time = self.make_time(match)
        tzinfo = None
        if match.group("z"):
            tzinfo = datetime.timezone.utc
        elif match.group("osign"):
            offset = datetime.timedelta(hours=int(match.group("ohour")), minutes=int(match.group("ominute")))
            if match.group("osign") == "-":
                offset = -offset
            tzinfo = datetime.timezone(offset)
        return datetime.datetime.combine(date, time, tzinfo)

    def make_time(self, match: "re.Match[str]") -> datetime.time:
        frac = match.group("frac") or ""
        micro = int(frac[:6].ljust(6, "0")) if frac else 0
        try:
            return datetime.time(int(match.group("hour")), int(match.group("minute")),
                                 int(match.group("second")), micro)
        except ValueError as err:
            raise self.error("invalid time %r: %s" % (match.group(0), err))

    def parse_array(self) -> list:
        self.pos += 1
        array: list = []
        while True:
            self.skip_ws_comments_newlines()
            if self.peek() == "]":
                self.pos += 1
                return array
            array.append(self.parse_value())
            self.skip_ws_comments_newlines()
            char = self.peek()
            if char == ",":
                self.pos += 1
            elif char == "]":
                self.pos += 1
                return array
            elif not char:
                raise self.error("unterminated array: expected ']'")
            else:
                raise self.error("expected ',' or ']' in an array, found %r" % char)

    def parse_inline_table(self) -> dict:
        self.pos += 1
        table: dict = {}
        self.skip_ws()
        if self.peek() == "}":
            self.pos += 1
            self.freeze(table)
            return table
        while True:
            self.skip_ws()
            if self.peek() in ("\n", "#"):
                raise self.error("inline tables must stay on one line")
            self.parse_key_value(table)
            self.skip_ws()
            char = self.peek()
            if char == ",":
                self.pos += 1
                self.skip_ws()
                if self.peek() == "}":
                    raise self.error("trailing comma is not allowed in an inline table")
            elif char == "}":
                self.pos += 1
                self.freeze(table)
                return table
            elif not char or char == "\n":
                raise self.error("inline tables must stay on one line: expected '}'")
            else:
                raise self.error("expected ',' or '}' in an inline table, found %r" % char)

    def freeze(self, value: Any) -> None:
        if isinstance(value, dict):
            self.kinds[id(value)] = _FROZEN
            for item in value.values():
                self.freeze(item)
        elif isinstance(value, list):
            for item in value:
                self.freeze(item)

    # -- strings -----------------------------------------------------------------------

    def parse_literal_string(self) -> str:
        start = self.pos + 1
        src = self.src
        pos = start
        while True:
            if pos >= len(src) or src[pos] == "\n":
                raise self.error("unterminated literal string", start - 1)
            char = src[pos]
            if char == "'":
                self.pos = pos + 1
                return src[start:pos]
            if _is_illegal_char(char):
                raise self.error("control character %r is not allowed in a string" % char, pos)
            pos += 1

    def parse_multiline_literal_string(self) -> str:
        opening = self.pos
        start = self.pos + 3
        if self.src.startswith("\n", start):
            start += 1
        end = self.src.find("'''", start)
        if end == -1:
            raise self.error("unterminated multi-line literal string", opening)
        for index in range(start, end):
            if _is_illegal_char(self.src[index], multiline=True):
                raise self.error("control character %r is not allowed in a string" % self.src[index], index)
        text = self.src[start:end]
        self.pos = end + 3
        # Up to two quotes right before the closing delimiter belong to the content.
        for _quote in range(2):
            if self.peek() == "'":
                text += "'"
                self.pos += 1
        return text

    def parse_escape(self, pos: int) -> "tuple[str, int]":
        """Decode the escape at ``src[pos] == '\\'``; return (text, next position)."""
        src = self.src
        code = src[pos + 1] if pos + 1 < len(src) else ""
        if code in _ESCAPES:
            return _ESCAPES[code], pos + 2
        if code in ("u", "U"):
            width = 4 if code == "u" else 8
            digits = src[pos + 2:pos + 2 + width]
            if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise self.error("\\%s needs %d hexadecimal digits" % (code, width), pos)
            value = int(digits, 16)
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise self.error("\\%s%s is not a Unicode scalar value" % (code, digits), pos)
            return chr(value), pos + 2 + width
        if not code or code == "\n":
            raise self.error("unterminated string after '\\'", pos)
        raise self.error("invalid escape sequence \\%s" % code, pos)

    def parse_basic_string(self) -> str:
        opening = self.pos
        src = self.src
        pos = self.pos + 1
        parts = []
        chunk = pos
        while True:
            if pos >= len(src) or src[pos] == "\n":
                raise self.error("unterminated string", opening)
            char = src[pos]
            if char == '"':
                parts.append(src[chunk:pos])
                self.pos = pos + 1
                return "".join(parts)
            if char == "\\":
                parts.append(src[chunk:pos])
                text, pos = self.parse_escape(pos)
                parts.append(text)
                chunk = pos
                continue
            if _is_illegal_char(char):
                raise self.error("control character %r is not allowed in a string" % char, pos)
            pos += 1

    def parse_multiline_basic_string(self) -> str:
        opening = self.pos
        src = self.src
        pos = self.pos + 3
        if src.startswith("\n", pos):
            pos += 1
        parts = []
        chunk = pos
        while True:
            if pos >= len(src):
                raise self.error("unterminated multi-line string", opening)
            char = src[pos]
            if char == '"' and src.startswith('"""', pos):
                parts.append(src[chunk:pos])
                pos += 3
                for _quote in range(2):
                    if pos < len(src) and src[pos] == '"':
                        parts.append('"')
                        pos += 1
                self.pos = pos
                return "".join(parts)
            if char == "\\":
                parts.append(src[chunk:pos])
                after = pos + 1
                while after < len(src) and src[after] in _WS:
                    after += 1
                if after < len(src) and src[after] == "\n":
                    # Line-ending backslash: drop it and all white space and newlines after it.
                    while after < len(src) and src[after] in " \t\n":
                        after += 1
                    pos = chunk = after
                    continue
                text, pos = self.parse_escape(pos)
                parts.append(text)
                chunk = pos
                continue
            if _is_illegal_char(char, multiline=True):
                raise self.error("control character %r is not allowed in a string" % char, pos)
            pos += 1


def _dotted(path: list) -> str:
    out = []
    for key in path:
        if key and all(c in _BARE_KEY_CHARS for c in key):
            out.append(key)
        else:
            out.append('"%s"' % key.replace("\\", "\\\\").replace('"', '\\"'))
    return ".".join(out)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return "date/time"


def loads(text: str, source: str = "<toml>") -> dict:
    """Parse a TOML document. ``source`` names it in error messages (e.g. the file path)."""
    return _Parser(text, source).parse()


def load(path: str) -> dict:
    """Read and parse the UTF-8 TOML file at ``path``; ConfigError names the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ConfigError("cannot read %s: %s" % (path, err.strerror or err))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError("%s: not valid UTF-8 (byte %d)" % (path, err.start))
    return loads(text, source=path)
