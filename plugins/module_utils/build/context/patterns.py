# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two pattern languages of a build context, matched in linear time.

``IgnorePattern``: one .dockerignore line as moby/patternmatcher reads it. Its syntax is
Go's ``filepath.Match`` (checked first, as patternmatcher does: an unclosed ``[``, an empty
class, a lone ``-`` or ``]`` in a class, a trailing ``\\`` are errors); its meaning is the
Go regexp patternmatcher translates it to: ``*`` is ``[^/]*``, ``?`` is ``[^/]``, ``**``
is ``(.*/)?`` (``**/`` the same; ``**`` at the end ``.*``), ``[...]`` a class (a negated
class also matches ``/``), ``\\c`` the character c. Patterns made of plain characters are
compared as strings, with patternmatcher's shortcuts kept, quirks included: ``dir/**``
is "starts with ``dir/``", and a pattern that starts with ``**`` and is otherwise plain is
"ends with the rest" (``**/foo`` also matches ``foo``; ``**file`` matches ``dir/myfile``).
A ``^`` outside a class is a regexp anchor there (so ``a^*`` matches nothing).

Where patternmatcher's translation gives a meaning nobody could intend, the pattern is
refused with an error instead of being matched differently: ``*`` or ``?`` inside a class
(the translation puts a class inside the class), ``[:`` inside a class (a POSIX class in
the regexp, characters in filepath.Match), and ``\\`` before a letter or digit (``\\d`` is
a digit class in the regexp, ``d`` in filepath.Match).

``PathPattern``: one component of a COPY/ADD source as buildkit matches it, with Go's
``filepath.Match``: ``*``, ``?``, ``[...]`` and ``\\c`` (any character, a letter too).

Both are matched by a lazily built DFA over the pattern's NFA: time proportional to the
text's length (times the pattern's, the first time a state is met), never the backtracking
of Python's ``re``, whatever the pattern (``*a*a*a*a*b`` against a long name included).
"""

from __future__ import annotations

from .errors import ContextError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, FrozenSet, List, Optional, Tuple

MAX_PATTERN_LENGTH = 4096   # PATH_MAX: no longer pattern can mean anything in a path
_MAX_DFA_STATES = 4096      # the cache of DFA states is dropped beyond that, and rebuilt

# token kinds
LIT = 0      # one literal character
ANY = 1      # ?: one character but /
STAR = 2     # *: a run of characters without /
CLASS = 3    # [...]
DSTAR = 4    # ** before more pattern: (.*/)?
DOTSTAR = 5  # ** at the end of a regexp pattern: .*
ANCHOR = 6   # ^ outside a class: matches only at the start

_REGEXP_ESCAPED = frozenset(".+()|{}$")  # literal in the regexp patternmatcher builds


class CharClass:
    """A ``[...]`` class: ranges of characters, maybe negated."""

    def __init__(self, negated: bool, ranges: List[Tuple[str, str]]):
        self.negated = negated
        self.ranges = tuple(ranges)

    def matches(self, ch: str) -> bool:
        inside = any(lo <= ch <= hi for lo, hi in self.ranges)
        return inside != self.negated


def _bad(pattern: str, why: str) -> ContextError:
    return ContextError("invalid pattern %r: %s" % (pattern, why))


def _class_char(pattern: str, pos: int, plain_match: bool) -> Tuple[str, int]:
    """One character of a class, as Go's getEsc reads it: the character and the next position."""
    if pos >= len(pattern) or pattern[pos] in "-]":
        raise _bad(pattern, "malformed character class")
    ch = pattern[pos]
    if ch == "\\":
        pos += 1
        if pos >= len(pattern):
            raise _bad(pattern, "malformed character class")
        ch = pattern[pos]
        if not plain_match and ch.isascii() and ch.isalnum():
            raise _bad(pattern, "\\%s has no defined meaning (docker reads it as a regexp escape)" % ch)
    elif not plain_match and ch in "*?":
        raise _bad(pattern, "%s inside a character class is not supported" % ch)
    elif not plain_match and ch == "[" and pattern.startswith("[:", pos):
        raise _bad(pattern, "POSIX classes ([:name:]) are not supported")
    if pos + 1 >= len(pattern):
        raise _bad(pattern, "unclosed character class")
    return ch, pos + 1


def _parse_class(pattern: str, pos: int, plain_match: bool) -> Tuple[CharClass, int]:
    """The class whose ``[`` is just before ``pos``; Go's filepath.Match syntax."""
    negated = False
    if pos < len(pattern) and pattern[pos] == "^":
        negated = True
        pos += 1
    ranges: List[Tuple[str, str]] = []
    while True:
        if pos < len(pattern) and pattern[pos] == "]" and ranges:
            return CharClass(negated, ranges), pos + 1
        lo, pos = _class_char(pattern, pos, plain_match)
        hi = lo
        if pattern[pos] == "-":
            hi, pos = _class_char(pattern, pos + 1, plain_match)
        if hi < lo:
            raise _bad(pattern, "character class range %s-%s is reversed" % (lo, hi))
        ranges.append((lo, hi))


def _check_length(pattern: str) -> None:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ContextError("pattern of %d characters is too long (at most %d): %s..."
                           % (len(pattern), MAX_PATTERN_LENGTH, pattern[:60]))


def _leading_literals(tokens: List[tuple]) -> List[tuple]:
    out = []
    for token in tokens:
        if token[0] != LIT:
            break
        out.append(token)
    return out


def _longest_literal_run(tokens: List[tuple]) -> str:
    best = run = ""
    for token in tokens:
        run = run + token[1] if token[0] == LIT else ""
        if len(run) > len(best):
            best = run
    return best


class _Automaton:
    """The NFA of a token list, run as a DFA built on demand.

    NFA state ``2k`` is "before token k"; ``2k+1`` is "inside the ``.*`` of the DSTAR
    token k". The accepting state is ``2 * len(tokens)``.
    """

    def __init__(self, tokens: List[tuple]):
        self.tokens = tokens
        self.accept = 2 * len(tokens)
        # literal characters every match starts and ends with: a cheap test that rules out
        # most paths before the automaton runs
        self.head = "".join(t[1] for t in _leading_literals(tokens))
        self.tail = "".join(t[1] for t in reversed(_leading_literals(tokens[::-1])))
        self.needle = _longest_literal_run(tokens)
        self._sets: List[FrozenSet[int]] = []
        self._ids: Dict[FrozenSet[int], int] = {}
        self._moves: Dict[Tuple[int, str], int] = {}
        self.start = self._intern(self._closure({0}, True))

    def _closure(self, states, at_start: bool) -> FrozenSet[int]:
        out = set(states)
        todo = list(states)
        while todo:
            state = todo.pop()
            if state % 2 or state == self.accept:
                continue
            kind = self.tokens[state // 2][0]
            if kind in (STAR, DSTAR, DOTSTAR) or (kind == ANCHOR and at_start):
                if state + 2 not in out:
                    out.add(state + 2)
                    todo.append(state + 2)
        return frozenset(out)

    def _intern(self, states: FrozenSet[int]) -> int:
        found = self._ids.get(states)
        if found is None:
            found = len(self._sets)
            self._sets.append(states)
            self._ids[states] = found
        return found

    def _next(self, states: FrozenSet[int], ch: str) -> FrozenSet[int]:
        following = set()
        for state in states:
            if state == self.accept:
                continue
            token = self.tokens[state // 2]
            kind = token[0]
            if state % 2:  # inside the .* of (.*/)?
                if ch != "\n":
                    following.add(state)
                if ch == "/":
                    following.add(state + 1)
            elif kind == LIT:
                if ch == token[1]:
                    following.add(state + 2)
            elif kind == ANY:
                if ch != "/":
                    following.add(state + 2)
            elif kind == STAR:
                if ch != "/":
                    following.add(state)
            elif kind == CLASS:
                if token[1].matches(ch):
                    following.add(state + 2)
            elif kind == DOTSTAR:
                if ch != "\n":
                    following.add(state)
            elif kind == DSTAR:
                if ch != "\n":
                    following.add(state + 1)
                if ch == "/":
                    following.add(state + 2)
        return self._closure(following, False)

    def matches(self, text: str) -> bool:
        if not (text.startswith(self.head) and text.endswith(self.tail) and self.needle in text):
            return False
        state = self.start
        for ch in text:
            found = self._moves.get((state, ch))
            if found is None:
                current = self._sets[state]
                if len(self._sets) > _MAX_DFA_STATES:
                    self._reset()
                    state = self._intern(current)
                found = self._intern(self._next(current, ch))
                self._moves[(state, ch)] = found
            state = found
            if not self._sets[state]:
                return False
        return self.accept in self._sets[state]

    def _reset(self) -> None:
        start = self._sets[self.start]
        self._sets, self._ids, self._moves = [], {}, {}
        self.start = self._intern(start)


class IgnorePattern:
    """One cleaned .dockerignore pattern (without its ``!``), matched as patternmatcher does."""

    def __init__(self, pattern: str):
        _check_length(pattern)
        self.text = pattern
        self.kind, tokens = _ignore_tokens(pattern)
        self._automaton = _Automaton(tokens) if self.kind == "regexp" else None

    def matches(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self._automaton.matches(path)

    @property
    def literal_prefix(self) -> Optional[str]:
        """The whole pattern when it has no wildcard at all (exact or ``dir/**``), else None."""
        if self.kind == "exact":
            return self.text
        if self.kind == "prefix":
            return self.text[:-2]
        return None


def _ignore_tokens(pattern: str) -> Tuple[str, List[tuple]]:
    """patternmatcher's compile: the match kind and, for a regexp, its tokens."""
    kind = "exact"
    tokens: List[tuple] = []
    pos = 0
    index = 0
    while pos < len(pattern):
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            if pos < len(pattern) and pattern[pos] == "*":
                pos += 1
                if pos < len(pattern) and pattern[pos] == "/":
                    pos += 1
                if pos >= len(pattern):
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        tokens.append((DOTSTAR,))
                        kind = "regexp"
                else:
                    tokens.append((DSTAR,))
                    kind = "regexp"
                if index == 0:
                    kind = "suffix"
            else:
                tokens.append((STAR,))
                kind = "regexp"
        elif ch == "?":
            tokens.append((ANY,))
            kind = "regexp"
        elif ch in _REGEXP_ESCAPED:
            tokens.append((LIT, ch))
        elif ch == "\\":
            if pos >= len(pattern):
                raise _bad(pattern, "a \\ at the end escapes nothing")
            following = pattern[pos]
            if following.isascii() and following.isalnum():
                raise _bad(pattern, "\\%s has no defined meaning (docker reads it as a regexp escape)" % following)
            tokens.append((LIT, following))
            pos += 1
            kind = "regexp"
        elif ch == "[":
            klass, pos = _parse_class(pattern, pos, False)
            tokens.append((CLASS, klass))
            kind = "regexp"
        elif ch == "]":
            tokens.append((LIT, ch))
            kind = "regexp"
        elif ch == "^":
            tokens.append((ANCHOR,))
        else:
            tokens.append((LIT, ch))
        index += 1
    return kind, tokens


class PathPattern:
    """One component of a COPY/ADD source, matched as Go's filepath.Match does."""

    def __init__(self, pattern: str):
        _check_length(pattern)
        self.text = pattern
        self._automaton = _Automaton(_path_tokens(pattern))

    def matches(self, name: str) -> bool:
        return self._automaton.matches(name)


def _path_tokens(pattern: str) -> List[tuple]:
    tokens: List[tuple] = []
    pos = 0
    while pos < len(pattern):
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            if not tokens or tokens[-1][0] != STAR:
                tokens.append((STAR,))
        elif ch == "?":
            tokens.append((ANY,))
        elif ch == "\\":
            if pos >= len(pattern):
                raise _bad(pattern, "a \\ at the end escapes nothing")
            tokens.append((LIT, pattern[pos]))
            pos += 1
        elif ch == "[":
            klass, pos = _parse_class(pattern, pos, True)
            tokens.append((CLASS, klass))
        else:
            tokens.append((LIT, ch))
    return tokens


def has_wildcards(path: str) -> bool:
    """buildkit's test of a COPY source: an unescaped ``*``, ``?`` or ``[``."""
    pos = 0
    while pos < len(path):
        ch = path[pos]
        if ch == "\\":
            pos += 2
            continue
        if ch in "*?[":
            return True
        pos += 1
    return False


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash-separated path."""
    if not path:
        return "."
    rooted = path.startswith("/")
    out: List[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."
