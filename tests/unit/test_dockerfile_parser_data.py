# -*- coding: utf-8 -*-
"""The Dockerfile parser agrees with buildkit on its public parser test files.

Each positive case is a Dockerfile and the dump buildkit's parser makes of it (``result``);
each negative case is a Dockerfile buildkit refuses.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.document import parse_dockerfile
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.errors import DockerfileError
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.parser import parse
from harness.buildkit_data import parser_case_path, parser_cases

pytestmark = pytest.mark.unit

# Cases of the data that do not pass, with the reason (strict: one that starts passing fails).
EXPECTED_FAILURES = {}  # type: dict


def _params(names, prefix):
    out = []
    for name in names:
        ident = "%s-%s" % (prefix, name)
        marks = [pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[ident])] if ident in EXPECTED_FAILURES else []
        out.append(pytest.param(name, id=ident, marks=marks))
    return out


POSITIVE = parser_cases()
NEGATIVE = parser_cases(negative=True)


def test_all_the_data_is_there():
    # buildkit's commit 73ed6825 has 33 positive and 4 negative cases.
    assert len(POSITIVE) >= 33 and len(NEGATIVE) >= 4


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("name", _params(POSITIVE, "testfiles"))
def test_parser_case(name):
    path = parser_case_path(name)
    expected = _read(os.path.join(path, "result")).decode("utf-8")
    assert parse(_read(os.path.join(path, "Dockerfile"))).dump() == expected


@pytest.mark.parametrize("name", _params(NEGATIVE, "testfiles-negative"))
def test_parser_negative_case(name):
    with pytest.raises(DockerfileError):
        parse(_read(os.path.join(parser_case_path(name, negative=True), "Dockerfile")))


# The parser cases are about parsing: some are not buildable Dockerfiles, and buildkit's
# instruction parser refuses them too, for these reasons.
NOT_BUILDABLE = {
    "flags": "line 3: unknown flag: --user",
    "health": "line 4: HEALTHCHECK requires at least one argument",
    "jeztah-invalid-json-json-inside-string": "line 1: CMD before the first FROM",
    "jeztah-invalid-json-json-inside-string-double": "line 1: CMD before the first FROM",
    "jeztah-invalid-json-single-quotes": "line 1: CMD before the first FROM",
    "jeztah-invalid-json-unterminated-bracket": "line 1: CMD before the first FROM",
    "jeztah-invalid-json-unterminated-string": "line 1: CMD before the first FROM",
    "json": "line 1: CMD before the first FROM",
}


@pytest.mark.parametrize("name", POSITIVE)
def test_parser_case_as_instructions(name):
    text = _read(os.path.join(parser_case_path(name), "Dockerfile"))
    if name in NOT_BUILDABLE:
        with pytest.raises(DockerfileError, match=NOT_BUILDABLE[name]):
            parse_dockerfile(text)
    else:
        assert parse_dockerfile(text).stages


def test_missing_data_is_an_error_not_a_skip(monkeypatch, tmp_path):
    from harness import buildkit_data
    monkeypatch.setenv("UNDOCK_BUILDKIT_TESTDATA", str(tmp_path))
    with pytest.raises(RuntimeError, match="test data is missing"):
        buildkit_data.parser_cases()
