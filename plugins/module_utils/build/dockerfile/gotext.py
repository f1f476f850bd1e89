# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Go's notions of space, letter, digit and quoting, which buildkit's parser is defined by.

Python's ``str.isspace`` counts the ASCII separators 0x1c-0x1f as space and Go does not;
``str.isdigit`` counts superscripts as digits and Go does not. Agreeing with buildkit on the
edges means using Go's definitions, kept here in one place.
"""

from __future__ import annotations

import re
import unicodedata

# Go's unicode.IsSpace for Latin-1; beyond it, the Unicode White_Space property.
_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")

# buildkit's reWhitespace: the separators between words of an instruction (no newline).
WHITESPACE = re.compile(r"[\t\v\f\r ]+")


def is_space(ch: str) -> bool:
    """Go's unicode.IsSpace."""
    if not ch:
        return False
    if ord(ch) < 0x100:
        return ch in _LATIN1_SPACE
    return ch.isspace()


def is_letter(ch: str) -> bool:
    """Go's unicode.IsLetter."""
    return unicodedata.category(ch).startswith("L")


def is_digit(ch: str) -> bool:
    """Go's unicode.IsDigit (decimal digits only)."""
    return unicodedata.category(ch) == "Nd"


def trim_space(text: str) -> str:
    """Go's strings.TrimSpace."""
    start, end = 0, len(text)
    while start < end and is_space(text[start]):
        start += 1
    while end > start and is_space(text[end - 1]):
        end -= 1
    return text[start:end]


def trim_left_space(text: str) -> str:
    """Go's strings.TrimLeftFunc(text, unicode.IsSpace)."""
    start = 0
    while start < len(text) and is_space(text[start]):
        start += 1
    return text[start:]


def _is_print(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def go_quote(text: str) -> str:
    """Go's strconv.Quote, the quoting of buildkit's parse dumps."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append("\\x%02x" % (code - 0xDC00))  # a byte that was not UTF-8 (surrogateescape)
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif _is_print(ch):
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append("\\x%02x" % code)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)
