# -*- coding: utf-8 -*-
"""Shell-word expansion agrees with buildkit on its public case files (envVarTest, wordsTest)."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.errors import ExpansionError
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.shell import Lex
from harness.buildkit_data import env_var_cases, words_cases

pytestmark = pytest.mark.unit

# The environment buildkit's envVarTest runs with (its README).
ENV_VAR_TEST_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}

# Cases of the data that do not pass, with the reason (strict: one that starts passing fails).
EXPECTED_FAILURES = {}  # type: dict


def _unix(cases):
    # Run the A(ll) and U(nix) lines; W(indows) lines compare $pwd case-insensitively.
    return [case for case in cases if case.platform in ("A", "U")]


ENV_VAR_CASES = _unix(env_var_cases())


def _param(case, prefix):
    ident = "%s-line%d" % (prefix, case.line)
    marks = [pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[ident])] if ident in EXPECTED_FAILURES else []
    return pytest.param(case, id=ident, marks=marks)


def test_env_var_data_is_all_there():
    # 238 lines in the data, of which the comments, blanks and W lines are not cases here.
    assert len(ENV_VAR_CASES) > 200


@pytest.mark.parametrize("case", [_param(c, "envVarTest") for c in ENV_VAR_CASES])
def test_env_var_case(case):
    lex = Lex("\\")
    if case.expected == "error":
        with pytest.raises(ExpansionError):
            lex.process_word(case.source, ENV_VAR_TEST_ENV)
    else:
        assert lex.process_word(case.source, ENV_VAR_TEST_ENV) == case.expected


WORDS_CASES = words_cases()


def test_words_data_is_all_there():
    assert len(WORDS_CASES) > 20 and any(case.env for case in WORDS_CASES)


@pytest.mark.parametrize("case", [_param(c, "wordsTest") for c in WORDS_CASES])
def test_words_case(case):
    lex = Lex("\\")
    try:
        words = lex.process_words(case.source, dict(case.env))
    except ExpansionError:
        words = ["error"]
    assert tuple(words) == case.expected


# Beyond the data files: the modifiers buildkit supports that envVarTest does not cover.
@pytest.mark.parametrize("word,env,expected", [
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc"),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc"),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb "),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  "),
    ("${VAR?message}", {"VAR": ""}, ""),
    ("${VAR:?message}", {"VAR": "plain"}, "plain"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO%y}", {"FOO": "xxyy"}, "xxy"),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO/$N/.} - ${FOO//$N/.}", {"FOO": "/foo*/*/*.txt", "N": "\\*/"}, "/foo.*/*.txt - /foo..*.txt"),
    ("${FOO/$N/$R} - ${FOO//$N/$R}", {"FOO": "/a/foo/b/c.txt", "N": "/?/", "R": "/"}, "/foo/b/c.txt - /foo/c.txt"),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO//y/$$-$0}", {"FOO": "xy"}, "x-"),  # $$ and $0 are special parameters, never set
    # what survives expansion is a Go regexp template for // (not for /): $0 is the match
    ("${FOO//y/\\$0}", {"FOO": "xy"}, "x\\y"),
    ("${FOO/y/\\$0}", {"FOO": "xy"}, "x\\$0"),
])
def test_modifiers(word, env, expected):
    assert Lex("\\").process_word(word, env) == expected


@pytest.mark.parametrize("word,env,message", [
    ("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"}, "VAR: message herex"),
    ("${VAR?message here$ARG}", {"ARG": "x"}, "VAR: message herex"),
    ("${VAR:?}", {"VAR": ""}, "VAR: is not allowed to be empty"),
    ("${VAR?}", {}, "VAR: is not allowed to be unset"),
    ("${FOO=aaa}", {"FOO": "x"}, "unsupported modifier (=) in substitution"),
    ("${FOO:#x}", {}, "unsupported modifier (:#) in substitution"),
    ("${FOO:%%x}", {}, "unsupported modifier (:%) in substitution"),
    ("${FOO//ww}", {"FOO": "x"}, "syntax error: missing '/' in ${}"),
    ("${FOO#\\x}", {"FOO": "x"}, "invalid escape '\\x'"),
    ("${FOO", {}, "unsupported modifier"),
    ("${FOO:-x", {}, "syntax error: missing '}'"),
])
def test_expansion_errors_say_why(word, env, message):
    with pytest.raises(ExpansionError) as caught:
        Lex("\\").process_word(word, env)
    assert message in str(caught.value) and str(caught.value).startswith("failed to process \"${")


def test_backtick_escape():
    lex = Lex("`")
    assert lex.process_word("C:\\path `$HOME \"a`\"b\" `\\", {"HOME": "/h"}) == "C:\\path $HOME a\"b \\"
    assert lex.process_words("a` b c", {}) == ["a b", "c"]


def test_matched_and_unmatched_names():
    result, matched, unmatched = Lex("\\").process_word_with_matches("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
                                                                     {"FOO": "xxx", "BAR": ""})
    assert (result, matched, unmatched) == ("xxx bbb ccc", {"FOO", "BAR"}, {"BAZ"})


def test_raw_quotes_and_unset_variables_left_as_written():
    lex = Lex("\\", raw_quotes=True, skip_unset_env=True)
    assert lex.process_word("'a b' \"$X${Y}${Z:-d}\" $W", {"W": "w"}) == "'a b' \"$X${Y}${Z:-d}\" w"


def test_a_nested_default_does_not_cut_the_word_it_is_in():
    # buildkit gives ["b"] here (a buffer shared with the nested word); a shell gives "ab".
    assert Lex("\\").process_words("a${X:-b} c", {}) == ["ab", "c"]


def test_deep_nesting_is_an_expansion_error():
    word = "${X:-" * 5000 + "a" + "}" * 5000
    with pytest.raises(ExpansionError, match="nested too deeply"):
        Lex("\\").process_word(word, {})
    assert Lex("\\").process_word("${X:-" * 50 + "a" + "}" * 50, {}) == "a"
