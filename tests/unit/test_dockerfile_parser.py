# -*- coding: utf-8 -*-
"""Dockerfile parsing beyond buildkit's data files: directives, heredocs, errors with lines."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.errors import DockerfileError
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.heredoc import heredocs_in_line, parse_heredoc
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.parser import parse
from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError
from ansible_collections.undock.oci.plugins.module_utils.common.errors import UndockError

pytestmark = pytest.mark.unit


def heredocs(text):
    return [[(d.name, d.content, d.expand, d.chomp, d.fd) for d in node.heredocs] for node in parse(text).instructions]


def test_directives_only_before_anything_else():
    result = parse("# syntax=docker/dockerfile:1\n#escape=`\nFROM a\n# escape=\\\nRUN x `\n  y\n")
    assert result.escape == "`"
    assert result.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert result.dump() == '(from "a")\n(run "x   y")\n'


def test_an_unknown_directive_ends_the_directives():
    result = parse("# foo=bar\n# escape=`\nFROM a\n")
    assert result.escape == "\\" and result.directives == {}


def test_directive_errors_name_the_line():
    with pytest.raises(DockerfileError, match=r"line 2: only one escape parser directive"):
        parse("# escape=`\n# escape=\\\nFROM a\n")
    with pytest.raises(DockerfileError, match=r"line 1: invalid escape token 'x'"):
        parse("# escape=x\nFROM a\n")


def test_byte_order_mark_and_crlf():
    assert parse(b"\xef\xbb\xbfFROM a\r\nRUN b \\\r\n c\r\n").dump() == '(from "a")\n(run "b  c")\n'


def test_comments_and_empty_lines_inside_a_continuation():
    result = parse("FROM a\nRUN one \\\n# a comment\n\n    # indented comment\n  two\n")
    assert result.dump() == '(from "a")\n(run "one   two")\n'
    assert [w.line for w in result.warnings] == [6] and "Empty continuation line" in result.warnings[0].message
    assert result.instructions[1].line == 2 and result.instructions[1].end_line == 6


def test_hash_inside_an_instruction_is_text():
    assert parse("FROM a\nRUN echo # not a comment\n").dump() == '(from "a")\n(run "echo # not a comment")\n'


def test_heredoc_bodies():
    text = "\n".join([
        "FROM a",
        "RUN <<EOF",
        "echo $HOME",
        "  # a comment inside stays",
        "EOF",
        "RUN <<-'END' python3",
        "\tprint('x')",
        "\t\tEND",
        "COPY <<one <<\"two\" /dest/",
        "1",
        "one",
        "2",
        "two",
        "RUN 3<<x cat <&3",
        "x",
        "RUN [\"<<EOF\"]",
        "USER <<NOTHERE",
        "",
    ])
    assert heredocs(text) == [
        [],
        [("EOF", "echo $HOME\n  # a comment inside stays\n", True, False, 0)],
        [("END", "\tprint('x')\n", False, True, 0)],
        [("one", "1\n", True, False, 0), ("two", "2\n", False, False, 0)],
        [("x", "", True, False, 3)],
        [],
        [],
    ]
    nodes = parse(text).instructions
    assert nodes[2].end_line == 8 and nodes[3].line == 9


def test_heredoc_in_onbuild():
    nodes = parse("FROM a\nONBUILD RUN <<EOF\nhi\nEOF\n").instructions
    assert nodes[1].dump() == 'onbuild (run "<<EOF")'
    assert [(d.name, d.content) for d in nodes[1].heredocs] == [("EOF", "hi\n")]


@pytest.mark.parametrize("word,name,expand", [
    ("<<EOF", "EOF", True), ("<<'EOF'", "EOF", False), ('<<"EOF"', "EOF", False), ("<<-EOF", "EOF", True),
    ('<<EO"F"', "EOF", False), ("<< EOF", "EOF", True), ("<<- EOF", "EOF", True), ("<<eo\\'f", "eo'f", True),
    ("<<'e'o\\'f", "eo'f", False), ("<<'one two'", "one two", False), ("<<$EOF", "$EOF", True),
])
def test_heredoc_words(word, name, expand):
    doc = parse_heredoc(word)
    assert (doc.name, doc.expand) == (name, expand)


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_not_heredoc_words(word):
    assert parse_heredoc(word) is None


@pytest.mark.parametrize("word", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
def test_heredoc_words_with_open_quotes_are_errors(word):
    with pytest.raises(BuildError):
        parse_heredoc(word)


@pytest.mark.parametrize("line,names", [
    ("RUN <<EOF <<EOF2", ["EOF", "EOF2"]), ("RUN << -EOF", ["-EOF"]), ("RUN 4<<EOF", ["EOF"]),
    ("RUN '<<EOF'", []), ('RUN "<<EOF"', []), ("RUN <<  EOF  > foo", ["EOF"]),
])
def test_heredocs_of_a_line(line, names):
    assert [doc.name for doc in heredocs_in_line(line)] == names


def test_unterminated_heredoc_names_the_lines():
    with pytest.raises(DockerfileError, match=r"lines 2-3: unterminated heredoc EOF") as caught:
        parse("FROM a\nRUN <<EOF\necho\n")
    assert (caught.value.line, caught.value.end_line) == (2, 3)


def test_a_line_with_an_open_quote_opens_no_heredoc():
    # as in buildkit: the line's words cannot be read, so there are no heredoc words
    nodes = parse("FROM a\nRUN <<'EOF <<x\nx\n").instructions
    assert nodes[1].heredocs == [] and nodes[2].dump() == 'x ""'


@pytest.mark.parametrize("text,problem,line", [
    ("", "file with no instructions", None),
    ("# only\n\n", "file with no instructions", 2),
    ("FROM a\n\nENV PATH\n", "ENV must have two arguments", 3),
    ("FROM a\nLABEL a=b c\n", "can't find = in \"c\"", 2),
    ("FROM a\nCMD [\"a\", 1]\n", "arrays must be comprised of strings only", 2),
    ("FROM a\nCMD [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     + "[" * 2000 + "\"x\"" + "]" * 2200 + "\n", "arrays must be comprised of strings only", 2),
])
def test_malformed_files_raise_a_dockerfile_error_with_the_line(text, problem, line):
    with pytest.raises(DockerfileError) as caught:
        parse(text)
    assert problem in str(caught.value) and caught.value.line == line
    assert isinstance(caught.value, BuildError) and isinstance(caught.value, UndockError)
    if line:
        assert str(caught.value).startswith("Dockerfile line %d: " % line)


def test_json_that_python_reads_and_go_does_not_is_shell_form():
    assert parse("FROM a\nCMD [NaN]\n").dump() == '(from "a")\n(cmd "[NaN]")\n'


def test_unknown_instruction_keeps_no_arguments_like_buildkit():
    assert parse("FROM a\nFOO bar baz\n").dump() == '(from "a")\n(foo "")\n'


def test_dump_quotes_like_go():
    assert parse('FROM a\nCMD ["\\u00a0", "\\u0007", "\\u007f", "\\ud83d\\ude00", "\\u0085"]\n').dump() == \
        '(from "a")\n(cmd "\\u00a0" "\\a" "\\x7f" "\U0001F600" "\\u0085")\n'


def test_flags_keep_quoted_space_and_stop_at_double_dash():
    node = parse('FROM a\nCOPY --chown="a b" --link -- --notaflag /x\n').instructions[1]
    assert node.flags == ["--chown=a b", "--link"]
    assert node.arg_values() == ["--notaflag", "/x"]


def test_the_escape_character_variant_in_words():
    node = parse("# escape=`\nFROM a\nENV A=x`\"y B=c:\\d\n").instructions[1]
    assert node.arg_values() == ["A", "x`\"y", "=", "B", "c:\\d", "="]
