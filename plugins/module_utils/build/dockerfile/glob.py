# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shell patterns of ``${VAR#pat}``, ``${VAR%pat}`` and ``${VAR/pat/repl}``: ``*``, ``?``, ``\\``.

buildkit turns them into Go regular expressions, which run in linear time. Python's
backtracking ``re`` takes exponential time on patterns like ``*a*a*a*b`` against a long
value, so they are matched here by simulating the pattern's automaton: time proportional
to the value's length times the pattern's, whatever the pattern. The match chosen is the
one Go's leftmost-first regexp chooses (shortest or longest, as asked), and as there,
``*`` and ``?`` do not match a newline.
"""

from __future__ import annotations

from .errors import ExpansionError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import FrozenSet, List, Optional, Tuple

# A token is a literal character, ANY (one character) or STAR (any run of characters).
ANY = object()
STAR = object()


class Pattern:
    """A compiled pattern: tokens, and the state sets reachable without reading."""

    def __init__(self, text: str):
        self.text = text
        self.tokens: List[object] = _tokens(text)
        self.accept = len(self.tokens)

    def _closure(self, states: set) -> FrozenSet[int]:
        # a STAR may match nothing: from its state, the next one is reachable too
        out = set(states)
        todo = list(states)
        while todo:
            state = todo.pop()
            if state < self.accept and self.tokens[state] is STAR and state + 1 not in out:
                out.add(state + 1)
                todo.append(state + 1)
        return frozenset(out)

    def _step(self, states: FrozenSet[int], ch: str) -> FrozenSet[int]:
        following = set()
        for state in states:
            if state == self.accept:
                continue
            token = self.tokens[state]
            if token is STAR and ch != "\n":  # Go's . does not match a newline
                following.add(state)
            elif (token is ANY and ch != "\n") or token == ch:
                following.add(state + 1)
        return self._closure(following)

    def prefix(self, value: str, greedy: bool) -> Optional[int]:
        """The end of the shortest (or longest) prefix of value that the pattern matches."""
        states = self._closure({0})
        found = 0 if self.accept in states else None
        if found is not None and not greedy:
            return 0
        for index, ch in enumerate(value, 1):
            states = self._step(states, ch)
            if not states:
                break
            if self.accept in states:
                if not greedy:
                    return index
                found = index
        return found

    def search(self, value: str, start: int = 0) -> Optional[Tuple[int, int]]:
        """The leftmost match at or after start, and the longest one from there (greedy ``*``)."""
        # One pass; each state remembers the smallest start that reached it: a thread of a
        # later start in the same state can only do what the earlier one does.
        threads = {}  # state -> start
        best: Optional[Tuple[int, int]] = None
        for index in range(start, len(value) + 1):
            if best is None:
                for state in self._closure({0}):
                    threads.setdefault(state, index)
            if self.accept in threads:
                begin = threads[self.accept]
                if best is None or begin < best[0] or (begin == best[0] and index > best[1]):
                    best = (begin, index)
            if index == len(value):
                break
            moved = {}
            for state, begin in sorted(threads.items(), key=lambda item: item[1]):
                for target in self._step(frozenset([state]), value[index]):
                    if target not in moved:
                        moved[target] = begin
            threads = moved if best is None else {s: b for s, b in moved.items() if b == best[0]}
            if not threads and best is not None:
                break
        return best


def _tokens(pattern: str) -> List[object]:
    tokens: List[object] = []
    pos = 0
    while pos < len(pattern):
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            if not tokens or tokens[-1] is not STAR:  # ** is *
                tokens.append(STAR)
        elif ch == "?":
            tokens.append(ANY)
        elif ch == "\\":
            following = pattern[pos] if pos < len(pattern) else ""
            if following in ("}", "/"):
                continue  # needed to write } or / inside ${}, not part of the pattern
            if following not in ("*", "?", "\\"):  # also a \ at the end
                raise ExpansionError("invalid pattern (%s) in substitution: invalid escape '\\%s'"
                                     % (pattern, following))
            pos += 1
            tokens.append(following)
        else:
            tokens.append(ch)
    return tokens


def trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    """``${VAR#pat}`` (shortest) and ``${VAR##pat}`` (longest)."""
    end = Pattern(pattern).prefix(value, greedy)
    return value if end is None else value[end:]


def _reverse(pattern: str) -> str:
    # Reverse, but keep each escape before the character it escapes: a\*c -> c\*a.
    units = []
    pos = 0
    while pos < len(pattern):
        if pattern[pos] == "\\" and pos + 1 < len(pattern):
            units.append(pattern[pos:pos + 2])
            pos += 2
        else:
            units.append(pattern[pos])
            pos += 1
    return "".join(reversed(units))


def trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    """``${VAR%pat}`` and ``${VAR%%pat}``: a prefix trim of the reversed strings."""
    return trim_prefix(_reverse(pattern), value[::-1], greedy)[::-1]
