# -*- coding: utf-8 -*-
"""The shell patterns of ${VAR#pat}, ${VAR%pat} and ${VAR/pat/r}: Go's matches, in linear time."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.glob import Pattern
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.shell import Lex

pytestmark = pytest.mark.unit


def _regex(pattern, greedy, anchored):
    # buildkit's translation into a Go regexp; Python's re picks the same leftmost-first
    # match for these (no newline in the values), so it serves as the oracle on small cases.
    star = ".*" if greedy else ".*?"
    body = "".join(star if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(("^" if anchored else "") + body)


PATTERNS = ["".join(p) for n in range(5) for p in itertools.product("a*?", repeat=n)]
VALUES = ["".join(v) for n in range(6) for v in itertools.product("ab", repeat=n)]


def test_the_same_matches_as_the_regexp_buildkit_builds():
    checked = 0
    for pattern in PATTERNS:
        compiled = Pattern(pattern)
        for value in VALUES:
            for greedy in (False, True):
                match = _regex(pattern, greedy, True).match(value)
                assert compiled.prefix(value, greedy) == (match.end() if match else None), (pattern, value, greedy)
            match = _regex(pattern, True, False).search(value)
            assert compiled.search(value) == (match.span() if match else None), (pattern, value)
            checked += 1
    assert checked > 5000


def test_no_exponential_time():
    started = time.monotonic()
    assert Lex("\\").process_word("${X#" + "*a" * 12 + "*b}", {"X": "a" * 3000}) == "a" * 3000
    assert Lex("\\").process_word("${X//" + "*a" * 12 + "*b/y}", {"X": "a" * 300}) == "a" * 300
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("word,value,expected", [
    ("${X//*/y}", "abc", "y"),  # Go: the empty match right after a match is not replaced
    ("${X///y}", "abc", "yaybycy"),
    ("${X##*}", "a\nb", "\nb"),  # Go's . does not match a newline
    ("${X%%?}", "ab\n", "ab\n"),
    ("${X/b?/-}", "abcbd", "a-bd"),
    ("${X//b?/-}", "abcbd", "a--"),
])
def test_go_regexp_details(word, value, expected):
    assert Lex("\\").process_word(word, {"X": value}) == expected
