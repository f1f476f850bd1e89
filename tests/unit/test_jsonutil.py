"""The one bounded JSON loader: depth, encoding, top-level type, and no quadratic scan."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ConfigError, ManifestError, RegistryError
from ansible_collections.undock.oci.plugins.module_utils.common.jsonutil import MAX_DEPTH, load_json, nesting_depth
from ansible_collections.undock.oci.plugins.module_utils.model.manifest import parse_manifest
from ansible_collections.undock.oci.plugins.module_utils.registry.auth import token_from_answer
from ansible_collections.undock.oci.plugins.module_utils.registry.auth_files import AuthStore


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_at_the_limit_loads_and_one_more_is_refused():
    assert load_json(nested(MAX_DEPTH), "doc") == json.loads(nested(MAX_DEPTH))
    with pytest.raises(ManifestError, match="^doc is not valid JSON: nested more than 64 levels deep$"):
        load_json(nested(MAX_DEPTH + 1), "doc", error=ManifestError)


def test_deep_enough_for_the_recursion_limit_is_an_error_not_a_recursion_error():
    with pytest.raises(ManifestError, match="nested more than"):
        load_json(nested(200000).encode(), "doc", error=ManifestError)


@pytest.mark.parametrize("text, depth", [
    ('{"a": "[[[[[[[["}', 1),
    ('["\\"[[[", [1]]', 2),
    ('[{"k": [{"x": "]]]]"}]}]', 4),
])
def test_brackets_inside_strings_do_not_count(text, depth):
    assert nesting_depth(text, 0) == depth


@pytest.mark.parametrize("text", [
    "[" * 70 + '"' + '\\"' * 1000000,     # one unterminated string of escaped quotes
    "[" * 70 + '"a' * 1000000,             # many strings, the last unterminated
    "[" * 70 + '"abc\\',                    # a lone backslash at the end
])
def test_scan_is_linear_on_hostile_strings(text):
    start = time.monotonic()
    with pytest.raises(ManifestError):
        load_json(text, "doc", error=ManifestError)
    assert time.monotonic() - start < 2


def test_errors_name_the_document_and_never_quote_it():
    with pytest.raises(ConfigError) as err:
        load_json(b'{"auth": "c2VjcmV0"', "credentials file /x", error=ConfigError)
    assert str(err.value).startswith("credentials file /x is not valid JSON: ")
    assert "c2VjcmV0" not in str(err.value) and "line 1 column" in str(err.value)
    with pytest.raises(ConfigError, match=r"^f is not valid JSON: not UTF-8 \(byte 2\)$"):
        load_json(b'[\n\xff]', "f", error=ConfigError)
    with pytest.raises(ConfigError, match="^f is not a JSON object$"):
        load_json(b"[1]", "f", error=ConfigError, expect=dict)


def test_manifest_parser_uses_the_bound():
    with pytest.raises(ManifestError, match="manifest sha256:[0-9a-f]{64} is not valid JSON: nested more than"):
        parse_manifest(nested(5000).encode())


def test_token_answer_must_be_an_object_with_a_token():
    assert token_from_answer(b'{"token": "t", "expires_in": 300}', "h") == ("t", 300.0)
    assert token_from_answer(b'{"access_token": "t", "expires_in": true}', "h") == ("t", 60.0)
    for raw, says in ((b"[]", "is not a JSON object"), (b"nope", "is not valid JSON"), (b'{"token": 1}', "without")):
        with pytest.raises(RegistryError, match=says):
            token_from_answer(raw, "h")


def test_auth_file_nested_too_deep(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text('{"auths": %s}' % nested(3000))
    with pytest.raises(ConfigError, match="credentials file %s is not valid JSON: nested more than" % path):
        AuthStore(auth_file=str(path)).credentials_for("example.com/a/b")
