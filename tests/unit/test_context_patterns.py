# -*- coding: utf-8 -*-
""".dockerignore patterns and COPY wildcards: the cases moby/patternmatcher documents, in our table."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.context.errors import ContextError
from ansible_collections.undock.oci.plugins.module_utils.build.context.ignore import IgnoreRules, parse_ignore_text
from ansible_collections.undock.oci.plugins.module_utils.build.context.patterns import (
    PathPattern, go_clean, has_wildcards)

pytestmark = pytest.mark.unit

EXACT, PARENT, NONE = "exact", "parent", "none"

# (pattern, path, how it matches): EXACT matches the path itself, PARENT only through a
# parent directory, NONE not at all. Written from patternmatcher's documented behaviour.
SINGLE = [
    ("**", "file", EXACT),
    ("**", "dir/file", EXACT),
    ("**/", "dir/file", EXACT),
    ("**/**", "dir/file", EXACT),
    ("dir/**", "dir/file", EXACT),
    ("dir/**", "dir/sub/file", EXACT),
    ("dir/**", "dir", NONE),                 # the directory itself is not matched
    ("dir/**", "dirx/file", NONE),
    ("**/dir", "dir", EXACT),
    ("**/dir", "a/b/dir", EXACT),
    ("**/dir", "dir/file", PARENT),
    ("**/dir", "xdir", NONE),
    ("**/sub/*", "a/sub/file", EXACT),
    ("**/sub/*", "a/sub/file/deeper", PARENT),
    ("**/sub/**", "a/sub/b/file", EXACT),
    ("**file", "file", EXACT),
    ("**file", "dir/file", EXACT),
    ("**file", "dir/myfile", EXACT),         # patternmatcher: "ends with file"
    ("**/file", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file.txt", EXACT),
    ("**/file*txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt*", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt2", "dir/dir/file.txt", NONE),
    ("**/*.txt", "file.txt", EXACT),
    ("**/**/*.txt", "file.txt", EXACT),
    ("a**/*.txt", "a/file.txt", EXACT),
    ("a**/*.txt", "a/dir/dir/file.txt", EXACT),
    ("a**b", "ab", EXACT),
    ("a**b", "ax/b", EXACT),
    ("a**b", "axb", NONE),                   # ** not followed by / is (.*/)?
    ("a/*.txt", "a/dir/file.txt", NONE),
    ("a/*.txt", "a/file.txt", EXACT),
    ("a/*.txt**", "a/file.txt", EXACT),
    ("*", "file", EXACT),
    ("*", "dir/file", PARENT),
    ("*.go", "main.go", EXACT),
    ("*.go", "pkg/main.go", NONE),           # * does not cross /
    ("*/*.go", "pkg/main.go", EXACT),
    ("a[b-d]e", "ae", NONE),
    ("a[b-d]e", "ace", EXACT),
    ("a[b-d]e", "aae", NONE),
    ("a[^b-d]e", "aze", EXACT),
    ("a[^b]c", "a/c", EXACT),                # a negated class matches / (Go regexp)
    (".*", ".foo", EXACT),
    (".*", "foo", NONE),
    ("abc.def", "abcdef", NONE),
    ("abc.def", "abc.def", EXACT),
    ("abc?def", "abcZdef", EXACT),
    ("abc?def", "abcdef", NONE),
    ("a?b", "a/b", NONE),
    ("a*b", "a/b", NONE),
    ("**/foo/bar", "foo/bar", EXACT),
    ("**/foo/bar", "dir/dir2/foo/bar", EXACT),
    ("abc/**", "abc/def/ghi", EXACT),
    ("**/.foo", ".foo", EXACT),
    ("**/.foo", "bar.foo", NONE),
    ("a(b)c/def", "a(b)c/def", EXACT),
    ("a(b)c/def", "a(b)c/xyz", NONE),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT),
    ("a\\*b", "a*b", EXACT),
    ("a\\*b", "axb", NONE),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", EXACT),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", NONE),
    ("a*b?c*x", "abxbbxdbxebxczzx", EXACT),
    ("a*b?c*x", "abxbbxdbxebxczzy", NONE),
    ("ab[^e-g]", "abc", EXACT),
    ("ab[^c]", "abc", NONE),
    ("a?b", "a\u263ab", EXACT),
    ("a???b", "a\u263ab", NONE),
    ("[a-\u03b6]*", "\u03b1", EXACT),
    ("*[a-\u03b6]", "A", NONE),
    ("[\\]a]", "]", EXACT),
    ("[\\-]", "-", EXACT),
    ("[x\\-]", "-", EXACT),
    ("[x\\-]", "z", NONE),
    ("*x", "xxx", EXACT),
    ("/abs/file", "abs/file", EXACT),         # cleaned: a leading / is the context root
    ("./rel/file", "rel/file", EXACT),
    ("dir/", "dir/file", PARENT),
    ("a//b/../c", "a/c", EXACT),
    ("a^b", "a^b", EXACT),                    # plain: compared as a string
    ("a^*", "a^b", NONE),                     # in a regexp, ^ is an anchor
]


@pytest.mark.parametrize("pattern,path,how", SINGLE)
def test_one_pattern(pattern, path, how):
    rules = IgnoreRules(parse_ignore_text(pattern))
    assert rules.patterns[0].matches(path) is (how == EXACT)
    assert rules.excluded(path) is (how != NONE)


# (patterns in order, path, excluded?): the last pattern that matches decides.
MULTI = [
    (["*.go", "!main.go"], "main.go", False),
    (["!main.go", "*.go"], "main.go", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!**/*.md", "secret/**"], "secret/a.md", True),
    (["**", "!**/*.md", "secret/**"], "doc/a.md", False),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
    ([], "anything", False),
]


@pytest.mark.parametrize("patterns,path,excluded", MULTI)
def test_patterns_in_order(patterns, path, excluded):
    assert IgnoreRules(patterns).excluded(path) is excluded


@pytest.mark.parametrize("pattern", ["[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]",
                                     "\\", "a\\", "[z-a]", "!", "[*]", "[?]", "[[:alpha:]]", "\\d", "[\\w]"])
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(ContextError) as caught:
        IgnoreRules([pattern], source="ctx/.dockerignore")
    assert "ctx/.dockerignore" in str(caught.value)


def test_ignore_file_lines():
    text = ("\ufefffirst\r\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
            "  # not a comment\n! /inverted/abs/path\n!\n! \n./dot/./x/\n  spaced  \n")
    assert parse_ignore_text(text) == ["first", "test2", "a/file/here", "lastfile", "# not a comment",
                                       "!inverted/abs/path", "!", "!", "dot/x", "spaced"]
    with pytest.raises(ContextError, match="illegal exclusion"):
        IgnoreRules(parse_ignore_text(text))


def test_may_include_below_excluded_directory():
    rules = IgnoreRules(["build", "!build/keep/me.txt"])
    assert rules.may_include_below("build")
    assert rules.may_include_below("build/keep")
    assert not rules.may_include_below("build/other")
    assert IgnoreRules(["build", "!**/*.txt"]).may_include_below("build/other")
    assert not IgnoreRules(["build"]).may_include_below("build")


@pytest.mark.parametrize("pattern,name,matches", [
    ("*.txt", "a.txt", True), ("*.txt", ".txt", True), ("*", ".hidden", True),
    ("a?c", "abc", True), ("a?c", "ac", False), ("[a-c]x", "bx", True), ("[^a-c]x", "bx", False),
    ("a\\*", "a*", True), ("a\\*", "ab", False), ("\\d", "d", True), ("**", "abc", True),
    ("[*]", "*", True), ("x[\\]]", "x]", True),
])
def test_copy_source_components(pattern, name, matches):
    assert PathPattern(pattern).matches(name) is matches


def test_copy_wildcard_detection_and_cleaning():
    assert has_wildcards("src/*.c") and has_wildcards("a?") and has_wildcards("[ab]")
    assert not has_wildcards("plain/path") and not has_wildcards("a\\*b")
    assert go_clean("//a/./b/../c/") == "/a/c"
    assert go_clean("../../x") == "../../x"
    assert go_clean("/../x") == "/x"
    assert go_clean("") == "."


def test_hostile_patterns_take_linear_time():
    # Each of these takes exponential (or high polynomial) time in a backtracking matcher.
    name = "a" * 3000
    hostile = ["*a" * 40 + "*b", "**/" * 40 + "b", "a**" * 40 + "b", "?*" * 60 + "b"]
    start = time.monotonic()
    for pattern in hostile:
        assert not IgnoreRules([pattern]).patterns[0].matches(name)
        assert not IgnoreRules([pattern]).patterns[0].matches("/".join([name[:50]] * 60))
    assert not PathPattern("*a" * 40 + "*b").matches(name)
    assert time.monotonic() - start < 20  # a backtracking matcher takes longer than the universe


def _go_regexp(pattern):
    """patternmatcher's regexp for a pattern made of a, /, *, ?, ** and [ab] (the oracle)."""
    out, pos = "^", 0
    while pos < len(pattern):
        ch = pattern[pos]
        pos += 1
        if pattern.startswith("**", pos - 1):
            pos += 1
            if pattern.startswith("/", pos):
                pos += 1
            out += ".*" if pos >= len(pattern) else "(.*/)?"
        elif ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            out += "[ab]"
            pos += 3
        else:
            out += re.escape(ch)
    return re.compile(out + "$")


PIECES = ["a", "/", "*", "?", "**", "[ab]"]
TEXTS = ["".join(t) for n in range(6) for t in itertools.product("ab/", repeat=n)]


def test_the_same_matches_as_the_regexp_patternmatcher_builds():
    checked = 0
    for size in range(1, 5):
        for pieces in itertools.product(PIECES, repeat=size):
            pattern = "".join(pieces)
            if "//" in pattern or pattern.endswith("/") or pattern.startswith("/") or "***" in pattern:
                continue  # cleaned away, or a different tokenisation of the stars
            compiled = IgnoreRules([pattern]).patterns[0]
            if compiled.kind != "regexp":
                continue  # string comparisons, covered by the table above
            oracle = _go_regexp(pattern)
            for text in TEXTS:
                assert compiled.matches(text) is bool(oracle.match(text)), (pattern, text)
                checked += 1
    assert checked > 100000


def test_the_automaton_cache_can_be_dropped_midway(monkeypatch):
    from ansible_collections.undock.oci.plugins.module_utils.build.context import patterns as patterns_module
    monkeypatch.setattr(patterns_module, "_MAX_DFA_STATES", 2)  # dropped on almost every step
    for pattern in ("**/a*b?/**", "a*[ab]*/**/b", "*a*a*a*b"):
        compiled = IgnoreRules([pattern]).patterns[0]
        oracle = _go_regexp(pattern)
        for text in TEXTS:
            assert compiled.matches(text) is bool(oracle.match(text)), (pattern, text)
