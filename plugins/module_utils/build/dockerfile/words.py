# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Splitting an instruction line into command, ``--flags`` and words, quotes kept.

Quotes and escapes stay in the words here: they are removed later, by expansion
(shell.py), when the build knows the environment.
"""

from __future__ import annotations

from .gotext import WHITESPACE, is_space, trim_space

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Tuple


def split_command(line: str, escape: str) -> Tuple[str, List[str], str]:
    """(command, flags, rest of the line) of one logical instruction line."""
    parts = WHITESPACE.split(trim_space(line), 1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = extract_flags(parts[1], escape)
    return parts[0], flags, trim_space(rest)


def extract_flags(line: str, escape: str) -> Tuple[str, List[str]]:
    """The leading ``--name[=value]`` words and what follows them; ``--`` ends the flags.

    Inside a flag, quotes group and are removed, and the escape character escapes the
    next character, so ``--label="a b"`` is the one flag ``--label=a b``.
    """
    flags: List[str] = []
    word: List[str] = []
    blank_ok = False
    quote = ""
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    pos = 0
    end = len(line)
    while pos <= end:
        ch = line[pos] if pos < end else ""
        if phase == in_spaces:
            if pos == end:
                break
            if is_space(ch):
                pos += 1
                continue
            if not line.startswith("--", pos):
                return line[pos:], flags
            phase = in_word
        if pos == end:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                flags.append(text)
            break
        if phase == in_word:
            if is_space(ch):
                text = "".join(word)
                phase = in_spaces
                if text == "--":
                    return line[pos:], flags
                if blank_ok or text:
                    flags.append(text)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, in_quote
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == end:
                    pos += 1
                    continue  # an escape at the very end is dropped
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote:
            phase = in_word
            pos += 1
            continue
        if ch == escape:
            if pos + 1 == end:
                phase = in_word
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", flags


def parse_words(rest: str, escape: str) -> List[str]:
    """Words separated by unquoted space, with their quotes and escapes kept (ENV, LABEL, ARG)."""
    words: List[str] = []
    word: List[str] = []
    blank_ok = False
    quote = ""
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    pos = 0
    end = len(rest)
    while pos <= end:
        ch = rest[pos] if pos < end else ""
        if phase == in_spaces:
            if pos == end:
                break
            if is_space(ch):
                pos += 1
                continue
            phase = in_word
        if pos == end:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == in_word:
            if is_space(ch):
                phase = in_spaces
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, in_quote
            if ch == escape:
                if pos + 1 == end:
                    pos += 1
                    continue  # an escape at the very end is dropped
                # Outside quotes the escape and the character after it are both kept,
                # even if that character is a quote.
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote:
            phase = in_word
        if ch == escape and quote != "'":  # nothing escapes inside '...'
            if pos + 1 == end:
                phase = in_word
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words
