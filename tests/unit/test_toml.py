# -*- coding: utf-8 -*-
"""common/toml.py, checked differentially against Python 3.11's tomllib (test-only dependency)."""

from __future__ import annotations

import datetime
import math
import random

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common import toml
from ansible_collections.undock.oci.plugins.module_utils.common.errors import ConfigError

tomllib = pytest.importorskip("tomllib")


VALID = [
    "",
    "# only a comment",
    "\n\n   \n# c\n",
    'a = 1',
    'a = 1\n',
    'a = 1\r\nb = 2\r\n',
    'a=1\nb="x"',
    'bare_key-1 = true\n"quoted key" = false\n\'literal key\' = 1\n"" = 2',
    '1234 = "digits are bare keys"\ntrue = 1\ninf = 2',
    'a.b.c = 1\na.b.d = 2\na.e = 3',
    'a . b = 1\n"x.y" . \'z\' = 2',
    '[t]\n"key with spaces".x = 1',
    # strings
    r'''s = "tab\there\nnewline \"quoted\" back\\slash \b \f \r"''',
    r'''s = "\u00e9\u4e2d\U0001F600"''',
    "s = 'C:\\Users\\nodejs\\templates'",
    "s = '<\\i\\c*\\s*>'",
    's = "unicode é 中文 😀"',
    's = """\nfirst line\nsecond line"""',
    's = """no newline trim"""',
    's = """\\\n    The quick brown \\\n\n\n      fox jumps."""',
    's = """Line ending backslash with trailing spaces \\   \n   continues"""',
    's = """Here are two quotation marks: "". Simple enough."""',
    's = """Here are three quotation marks: ""\\"."""',
    's = """""This," she said, "is just a pointless statement."""""',
    's = """a"""\nt = """b\'c"""',
    "s = '''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''",
    "s = '''Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''",
    "s = ''''That,' she said, 'is still pointless.''''",
    "s = '''a''\n'''",
    's = """tab\tinside"""',
    's = ""\nt = \'\'\nu = """"""\nv = \'\'\'\'\'\'',
    's = """\r\nCRLF multi\r\nline"""',
    # integers
    'a = +99\nb = 42\nc = 0\nd = -17\ne = 1_000\nf = 5_349_221\ng = 53_49_221\nh = 1_2_3_4_5',
    'a = 0xDEADBEEF\nb = 0xdeadbeef\nc = 0xdead_beef\nd = 0o01234567\ne = 0o755\nf = 0b11010110\ng = 0x0',
    'a = -0\nb = +0\nc = 9223372036854775807\nd = -9223372036854775808\ne = 123456789012345678901234567890',
    # floats
    'a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\ng = 6.626e-34\nh = 224_617.445_991_228',
    'a = inf\nb = +inf\nc = -inf\nd = 0.0\ne = -0.0\nf = +0.0\ng = 1e1_0\nh = 0e0',
    'n = nan\nm = +nan\no = -nan',
    # booleans
    'a = true\nb = false',
    # dates and times
    'a = 1979-05-27T07:32:00Z\nb = 1979-05-27T00:32:00-07:00\nc = 1979-05-27T00:32:00.999999-07:00',
    'a = 1979-05-27 07:32:00Z\nb = 1979-05-27t07:32:00z\nc = 1979-05-27T07:32:00',
    'a = 1979-05-27T00:32:00.999999\nb = 1979-05-27\nc = 07:32:00\nd = 00:32:00.999999',
    'a = 1979-05-27T00:32:00.1234567891\nb = 00:00:00.5\nc = 2000-02-29',
    'a = [1979-05-27, 07:32:00, 1979-05-27 07:32:00]',
    'a = 1979-05-27 # a date and a comment',
    # arrays
    'a = []\nb = [ ]\nc = [1, 2, 3]\nd = ["a", \'b\', """c"""]\ne = [[1, 2], ["a", "b"]]',
    'a = [1, 2, 3,]\nb = [\n  1,\n  2, # comment\n  # another\n]\n',
    'a = [\n\n]\nb = [ # comment\n]\nc = [[[]]]',
    'a = [ 0.1, 0.2, 0.5, 1, 2, 5 ]\nb = ["mixed", 1, 2.0, true, [], {}]',
    'a = [ { x = 1, y = 2 }, { x = 3 } ]',
    'a = [\n  "x",\n  "y"\n  ,\n  "z"]',
    # inline tables
    'name = { first = "Tom", last = "Preston-Werner" }\npoint = { x = 1, y = 2 }',
    'animal = { type.name = "pug" }\nt = {a.b.c = 1, a.b.d = 2, a.e = {}}',
    'a = {}\nb = { }\nc = { x = [ 1,\n 2 ] }',
    'a = {x = {y = {z = 1}}}',
    # tables
    '[table]\n[table-1]\nkey1 = "some string"\nkey2 = 123\n\n[table-2]\nkey1 = "another string"',
    '[dog."tater.man"]\ntype.name = "pug"',
    '[a.b.c]\n[ d.e.f ]\n[ g .  h  . i ]\n[ j . "ʞ" . \'l\' ]',
    '[x.y.z.w]\n[x]',
    '[fruit]\napple.color = "red"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true',
    '[a.b]\nc = 1\n[a]\nd = 2',
    'a.b.c = 1\n[a.b.d]\ne = 1',
    '[a.b.c]\n[a]\nb.d = 1',
    '[product]\ntype = { name = "Nail" }',
    '[x]\n[y]\n[x.z]',
    # arrays of tables
    '[[products]]\nname = "Hammer"\nsku = 738594937\n\n[[products]]\n\n[[products]]\nname = "Nail"\ncolor = "gray"',
    '[[fruits]]\nname = "apple"\n[fruits.physical]\ncolor = "red"\n[[fruits.varieties]]\nname = "red delicious"'
    '\n[[fruits.varieties]]\nname = "granny smith"\n[[fruits]]\nname = "banana"\n[[fruits.varieties]]\nname = "plantain"',
    '[[a]]\n[a.b]\nx = 1\n[[a]]\n[a.b]\nx = 2',
    '[[ a . b ]]\nx = 1\n[[a.b]]\nx = 2',
    '[a]\n[[a.b]]\n[[a.b]]\n[a.c]',
    '[[registry]]\nprefix = "example.com"\n[[registry.mirror]]\nlocation = "m1"\n[[registry.mirror]]\nlocation = "m2"'
    '\n[[registry]]\nlocation = "other"\n[[registry.mirror]]\nlocation = "m3"',
    '[[a]]\nb.c = 1\nb.d = 2',
    # registries.conf-like documents
    'unqualified-search-registries = ["registry.fedoraproject.org", "registry.access.redhat.com", "docker.io"]\n'
    'short-name-mode = "enforcing"\n\n[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\n'
    '"ubi8" = "registry.access.redhat.com/ubi8"\n',
    '[registries.search]\nregistries = [\'registry1.com\', \'registry2.com\']\n\n[registries.insecure]\n'
    'registries = [\'registry3.com\']\n\n[registries.block]\nregistries = []\n',
    '# policy-ish\n[transports.docker."registry.example.com/ns"]\ntype = "signedBy"\nkeyPath = "/k.gpg"\n',
    # whitespace and comments everywhere
    '  a = 1  # trailing\n\t[t]\t# c\n\tb = 2\n[[u]] # c\n',
    '#\ta comment with a tab\n',
    'a = "# not a comment"  # a comment',
    '\ufeffa = 1',
]

INVALID = [
    # keys
    '= 1',
    'a',
    'a =',
    'a = \nb = 1',
    'a b = 1',
    'a. = 1',
    '.a = 1',
    'a..b = 1',
    'a = 1\na = 2',
    'a = 1\n"a" = 2',
    'a.b = 1\na.b = 2',
    'a.b = 1\na = 2',
    'a = 1\na.b = 2',
    'ä = 1',
    '"""key""" = 1',
    "'''key''' = 1",
    'a = 1 b = 2',
    'a = 1 2',
    # strings
    's = "unterminated',
    's = "line\nbreak"',
    "s = 'unterminated",
    's = """unterminated',
    "s = '''unterminated",
    r's = "\x"',
    r's = "\u12"',
    r's = "\uD800"',
    r's = "\U00110000"',
    r's = "\ "',
    's = "a\x01b"',
    's = "a\x7fb"',
    "s = 'a\x00b'",
    's = """a\x08b"""',
    's = "a"b"',
    's = """a""""""',
    'a = "x"\rb = 1',
    '# comment \x01 with control',
    's = """\\ x"""',
    # numbers
    'a = 01',
    'a = 00',
    'a = 1__0',
    'a = _1',
    'a = 1_',
    'a = +0x1',
    'a = 0X1',
    'a = 0x',
    'a = 0o8',
    'a = 0b2',
    'a = 1.',
    'a = .5',
    'a = 1.e5',
    'a = 1e',
    'a = 1e_5',
    'a = 01.5',
    'a = infinity',
    'a = Inf',
    'a = NaN',
    'a = 1_000_',
    'a = 0.1_',
    'a = ++1',
    'a = -',
    'a = 1x',
    # booleans
    'a = True',
    'a = tru',
    'a = falsey',
    # dates
    'a = 1979-13-27',
    'a = 1979-02-30',
    'a = 1979-05-27T25:00:00',
    'a = 1979-05-27T07:32',
    'a = 1979-05-27T',
    'a = 07:32',
    'a = 07:60:00',
    'a = 1979-05-27T07:32:00+25:00',
    'a = 1979-5-27',
    # arrays
    'a = [1 2]',
    'a = [1,,2]',
    'a = [,]',
    'a = [1',
    'a = [1,\n',
    'a = ]',
    # inline tables
    'a = {x = 1,}',
    'a = {x = 1\n}',
    'a = {\nx = 1}',
    'a = {x = 1, x = 2}',
    'a = {x = {}, x.y = 1}',
    'a = {x = 1}\na.y = 2',
    'a = {x = 1}\n[a]',
    'a = {x = {y = 1}}\n[a.x]',
    'a = {x = 1}\n[a.b]',
    'a = {b = [1]}\n[[a.b]]',
    'a = {x = 1 y = 2}',
    'a = {, }',
    # tables
    '[a]\n[a]',
    '[a.b]\n[a]\n[a]',
    '[a]\nb = 1\n[a.b]',
    '[a]\nb.c = 1\n[a.b]',
    'a.b = 1\n[a]',
    '[fruit]\napple.color = "red"\n[fruit.apple]',
    '[a.b]\n[a]\nb.c = 1',
    '[]',
    '[a',
    '[a]]',
    '[a] b = 1',
    '[a.]',
    '[ [a] ]',
    '[[a] ]',
    '[[a]',
    'a = 1\n[a]',
    'a = 1\n[a.b]',
    # arrays of tables
    'a = []\n[[a]]',
    'a = [{}]\n[[a]]',
    '[a]\n[[a]]',
    '[[a]]\n[a]',
    '[[a]]\nb = 1\n[[a.b]]',
    '[[a]]\nb.c = 1\n[a.b]',
    'a = [1]\n[a.b]',
    '[[a]]\n[[a]]\na.b = 1\n[a]',
]


def _normalise(value):
    """NaN never equals itself: replace it by a marker so documents compare."""
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _typed(value):
    """Compare types as well as values (1 == 1.0 == True in Python)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, datetime.datetime):
        return ("datetime", value.isoformat(), str(value.utcoffset()))
    return (type(value).__name__, value)


def _expected(doc):
    try:
        return tomllib.loads(doc)
    except tomllib.TOMLDecodeError:
        return None


@pytest.mark.parametrize("doc", [d for d in VALID if not d.startswith("\ufeff")])
def test_valid_documents_match_tomllib(doc):
    expected = tomllib.loads(doc)
    assert _typed(_normalise(toml.loads(doc))) == _typed(_normalise(expected))


@pytest.mark.parametrize("doc", INVALID)
def test_invalid_documents_rejected_like_tomllib(doc):
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(doc)
    with pytest.raises(ConfigError):
        toml.loads(doc)


def test_byte_order_mark_is_ignored():
    assert toml.loads("\ufeffa = 1") == {"a": 1}


def test_error_message_has_line_and_column_and_source():
    with pytest.raises(ConfigError) as err:
        toml.loads('a = 1\nb = 2\n\n[t]\nc = "x\n', source="reg.conf")
    assert str(err.value).startswith("reg.conf: line 5, column 5:")
    with pytest.raises(ConfigError) as err:
        toml.loads("[a]\nx = 1\n[a]\n")
    assert "line 3" in str(err.value) and "already declared" in str(err.value)
    with pytest.raises(ConfigError) as err:
        toml.loads("a = 1\na = 2\n")
    assert "line 2" in str(err.value) and "defined twice" in str(err.value)


def test_nested_registry_mirror_goes_under_last_registry():
    doc = toml.loads(
        '[[registry]]\nprefix = "a"\n[[registry.mirror]]\nlocation = "m1"\n'
        '[[registry]]\nprefix = "b"\n[[registry.mirror]]\nlocation = "m2"\n[[registry.mirror]]\nlocation = "m3"\n')
    assert doc == {"registry": [
        {"prefix": "a", "mirror": [{"location": "m1"}]},
        {"prefix": "b", "mirror": [{"location": "m2"}, {"location": "m3"}]},
    ]}


def test_load_reads_a_file_and_names_it(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('k = "é"\n', encoding="utf-8")
    assert toml.load(str(path)) == {"k": "é"}
    path.write_bytes(b'k = "\xff"\n')
    with pytest.raises(ConfigError, match="x.toml: not valid UTF-8"):
        toml.load(str(path))
    path.write_text("k = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="x.toml: line 1"):
        toml.load(str(path))
    with pytest.raises(ConfigError, match="cannot read"):
        toml.load(str(tmp_path / "missing.toml"))


def test_non_text_input_is_a_config_error():
    with pytest.raises(ConfigError):
        toml.loads(b"a = 1")  # type: ignore[arg-type]


# -- Differential fuzzing: mutate the corpus, both parsers must agree --------------------

_SNIPPETS = ["\n", " ", "=", ".", ",", "[", "]", "[[", "]]", "{", "}", '"', "'", '"""', "'''", "#",
             "\\", "\\u00e9", "\\n", "1", "0x1", "1.5", "1e5", "_", "-", "+", "inf", "nan", "true",
             "a", "a.b", "1979-05-27", "T07:32:00", "Z", ":", "\t", "\r", "\x00", "é", "a = 1\n",
             "[t]\n", "[[t]]\n", "x = {}\n", "x = []\n"]


def _mutate(rng, doc):
    doc = doc or "a = 1"
    for _step in range(rng.randint(1, 3)):
        pos = rng.randint(0, len(doc))
        action = rng.random()
        if action < 0.4:
            doc = doc[:pos] + rng.choice(_SNIPPETS) + doc[pos:]
        elif action < 0.7:
            doc = doc[:pos] + doc[pos + rng.randint(1, 3):]
        else:
            end = min(len(doc), pos + rng.randint(1, 4))
            doc = doc[:pos] + rng.choice(_SNIPPETS) + doc[end:]
    return doc


def test_fuzzed_documents_agree_with_tomllib():
    rng = random.Random(20240229)
    corpus = [d for d in VALID + INVALID if not d.startswith("\ufeff")]
    disagreements = []
    for _round in range(6000):
        doc = _mutate(rng, rng.choice(corpus))
        if doc.startswith("\ufeff"):
            continue
        expected = _expected(doc)
        try:
            got = toml.loads(doc)
        except ConfigError:
            got = None
        except Exception as err:  # noqa: BLE001 - any other exception is a bug
            disagreements.append((doc, "crash %r" % err))
            continue
        if expected is None or got is None:
            if (expected is None) != (got is None):
                disagreements.append((doc, "tomllib %s, ours %s" % (
                    "rejects" if expected is None else "accepts", "rejects" if got is None else "accepts")))
        elif _typed(_normalise(got)) != _typed(_normalise(expected)):
            disagreements.append((doc, "different values"))
    assert disagreements == []
