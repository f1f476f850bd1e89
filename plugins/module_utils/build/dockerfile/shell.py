# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shell-word expansion of Dockerfile arguments, as buildkit does it.

Not a shell: quotes, the escape character and ``$`` substitutions only, no command
substitution, no globbing. Supported: ``$VAR``, ``${VAR}``, ``${VAR:-w}`` ``${VAR-w}``,
``${VAR:+w}`` ``${VAR+w}``, ``${VAR:?msg}`` ``${VAR?msg}``, ``${VAR#pat}`` ``${VAR##pat}``,
``${VAR%pat}`` ``${VAR%%pat}``, ``${VAR/pat/repl}`` ``${VAR//pat/repl}``. Positional and
special parameters (``$1``, ``$@``, ``$?``...) are never set.

One deliberate difference: buildkit's word splitting shares one buffer between a word and
the nested word of a ``${VAR:-...}`` inside it, so ``a${X:-b}`` splits to ``["b"]`` there;
here it is ``["ab"]``, as a shell gives. The expanded string is the same in both.
"""

from __future__ import annotations

import re

from .errors import ExpansionError
from .glob import Pattern, trim_prefix, trim_suffix
from .gotext import go_quote, is_digit, is_letter, is_space

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Mapping, Set, Tuple

_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class _Words:
    """Splits expanded text into words on unquoted space, keeping quoted space."""

    def __init__(self) -> None:
        self.words: List[str] = []
        self.buf: List[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> List[str]:
        if self.buf and "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class Lex:
    """Expands and splits words; one instance per escape character and set of options.

    ``raw_quotes`` keeps the quote characters in the result, ``raw_escapes`` keeps the
    escape characters, ``skip_unset_env`` leaves references to unset variables as written
    (buildkit's options of the same names, used to find heredoc words).
    """

    def __init__(self, escape: str = "\\", raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_process_quotes: bool = False, skip_unset_env: bool = False):
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """The word with every substitution done and quotes removed; spaces are kept."""
        return _Scan(self, word, env).run()[0]

    def process_word_with_matches(self, word: str, env: Mapping[str, str]) -> Tuple[str, Set[str], Set[str]]:
        """Like process_word, also returning the variable names found set and not set."""
        scan = _Scan(self, word, env)
        result = scan.run()[0]
        return result, scan.matched, scan.unmatched

    def process_words(self, word: str, env: Mapping[str, str]) -> List[str]:
        """The expanded text split into words; quoted or escaped space does not split."""
        return _Scan(self, word, env).run()[1]


class _Scan:
    def __init__(self, lex: Lex, text: str, env: Mapping[str, str]):
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: Set[str] = set()
        self.unmatched: Set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def run(self) -> Tuple[str, List[str]]:
        try:
            return self.until(_EOF, self.raw_escapes)
        except ExpansionError as err:
            raise ExpansionError("failed to process %s: %s" % (go_quote(self.text), err)) from None
        except RecursionError:
            raise ExpansionError("failed to process %s: substitutions nested too deeply"
                                 % go_quote(self.text[:80] + ("..." if len(self.text) > 80 else ""))) from None

    def until(self, stop: str, raw_escapes: bool) -> Tuple[str, List[str]]:
        """Scan up to ``stop`` (consumed) or the end; returns the text and its words."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str) -> Tuple[str, List[str]]:
        result: List[str] = []
        words = _Words()
        escape = self.lex.escape
        while self.peek() != _EOF:
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.result()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                words.add_string(value)
            elif ch == "<":
                value = self.possible_heredoc()
                result.append(value)
                words.add_raw(value)
            elif ch in "'\"" and not self.lex.skip_process_quotes:
                value = self.single_quoted() if ch == "'" else self.double_quoted()
                result.append(value)
                words.add_raw(value)
            else:
                ch = self.next()
                if ch == escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()  # the escape escapes anything, but is dropped at the end
                    if ch == _EOF:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise ExpansionError("unexpected end of statement while looking for matching %s" % stop)
        return "".join(result), words.result()

    def single_quoted(self) -> str:
        # Everything up to the next ' is literal; a ' cannot be escaped inside.
        out = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ExpansionError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quoted(self) -> str:
        # $ is expanded; the escape character escapes only ", $ and itself, else it stays.
        out = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        escape = self.lex.escape
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", escape):
                    ch = self.next()
            out.append(ch)

    def possible_heredoc(self) -> str:
        # "<<" and the blanks after it stay with the word that follows, so that
        # "<< EOF" is one word to the heredoc detection.
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        start = self.pos
        while self.peek() in ("\t", "\r", " "):
            self.next()
        return "<<" + self.text[start:self.pos]

    def name(self) -> str:
        start = self.pos
        ch = self.peek()
        if ch != _EOF and is_digit(ch):
            while self.peek() != _EOF and is_digit(self.peek()):
                self.next()
            return self.text[start:self.pos]
        if ch != _EOF and ch in _SPECIAL_PARAMS:
            return self.next()
        while self.peek() != _EOF and (is_letter(self.peek()) or is_digit(self.peek()) or self.peek() == "_"):
            self.next()
        return self.text[start:self.pos]

    def get(self, name: str) -> Tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.get(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        self.next()
        ch = self.peek()
        if ch == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        if ch in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        modifier = ch
        if ch == "}":
            value, found = self.get(name)
            if not found and self.lex.skip_unset_env:
                return "${%s}" % name
            return value
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        elif ch == "/":
            return self.replace(name)
        elif ch not in ("+", "-", "?", "#", "%"):  # also the end of the text
            raise ExpansionError("unsupported modifier (%s) in substitution" % modifier)
        pattern_word = ch in ("#", "%")
        if null_is_unset and pattern_word:
            raise ExpansionError("unsupported modifier (%s) in substitution" % modifier)
        word = self.closing_word("}", pattern_word)
        value, found = self.get(name)
        if self.lex.skip_unset_env and not found:
            return "${%s%s%s}" % (name, modifier, word)
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise ExpansionError("%s: %s" % (name, word or "is not allowed to be unset"))
            if null_is_unset and value == "":
                raise ExpansionError("%s: %s" % (name, word or "is not allowed to be empty"))
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            if ch == "%":
                return trim_suffix(word, value, greedy)
            return trim_prefix(word, value, greedy)
        raise ExpansionError("unsupported modifier (%s) in substitution" % modifier)

    def closing_word(self, stop: str, raw_escapes: bool) -> str:
        try:
            return self.until(stop, raw_escapes)[0]
        except ExpansionError:
            if self.peek() == _EOF:
                missing = "'/' in ${}" if stop == "/" else "'}'"
                raise ExpansionError("syntax error: missing %s" % missing) from None
            raise

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self.closing_word("/", True)
        replacement = self.closing_word("}", True)
        value, found = self.get(name)
        if self.lex.skip_unset_env and not found:
            return "${%s/%s/%s}" % (name, pattern, replacement)
        compiled = Pattern(pattern)
        if replace_all:
            return _replace_all(compiled, value, replacement)
        match = compiled.search(value)
        if match:
            value = value[:match[0]] + replacement + value[match[1]:]
        return value


def _replace_all(pattern: Pattern, value: str, template: str) -> str:
    """Go's Regexp.ReplaceAllString: an empty match right after a match is not replaced."""
    out: List[str] = []
    last_end = 0
    search_at = 0
    while search_at <= len(value):
        match = pattern.search(value, search_at)
        if match is None:
            break
        begin, end = match
        out.append(value[last_end:begin])
        if end > last_end or begin == 0:
            out.append(_go_expand(template, value[begin:end]))
        last_end = end
        search_at = search_at + 1 if end <= search_at else end
    out.append(value[last_end:])
    return "".join(out)


_GO_TEMPLATE = re.compile(r"\$(\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")


def _go_expand(template: str, matched: str) -> str:
    """Go's Regexp.Expand for a pattern without groups: ``$$`` is ``$``, ``$0`` the match."""
    def one(ref: "re.Match[str]") -> str:
        if ref.group(1) == "$":
            return "$"
        name = ref.group(2) if ref.group(2) is not None else ref.group(3)
        return matched if name == "0" else ""
    return _GO_TEMPLATE.sub(one, template)
