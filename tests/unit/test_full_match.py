# -*- coding: utf-8 -*-
"""Validation by regular expression matches the whole string: in Python ``$`` also matches
before a trailing newline, so ``^...$`` lets ``"sha256:<hex>\\n"`` through as a digest."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ConfigError, InvalidReferenceError
from ansible_collections.undock.oci.plugins.module_utils.image.transports import parse_transport
from ansible_collections.undock.oci.plugins.module_utils.image.layout import LayoutRefError, validate_ref_name
from ansible_collections.undock.oci.plugins.module_utils.model.digest import InvalidDigestError, is_digest, parse_digest
from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistriesConfig
from ansible_collections.undock.oci.plugins.module_utils.registry.cred_helpers import check_helper_name

PLUGINS = pathlib.Path(__file__).resolve().parents[2] / "plugins"
SHA256 = "sha256:" + "a" * 64
SHA512 = "sha512:" + "b" * 128


@pytest.mark.parametrize("digest", [SHA256, SHA512])
def test_a_trailing_newline_is_not_a_digest(digest):
    assert parse_digest(digest)[1] == digest.partition(":")[2]
    for bad in (digest + "\n", digest + "\r\n", "\n" + digest):
        assert not is_digest(bad)
        with pytest.raises(InvalidDigestError):
            parse_digest(bad)


def test_a_trailing_newline_is_not_a_ref_name():
    assert validate_ref_name("busybox:1.36") == "busybox:1.36"
    with pytest.raises(LayoutRefError):
        validate_ref_name("busybox:1.36\n")


def test_a_trailing_newline_is_not_a_registry_host():
    assert RegistriesConfig.from_toml('[[registry]]\nlocation = "localhost:5000"\n')
    with pytest.raises(ConfigError, match="host"):
        RegistriesConfig.from_toml('[[registry]]\nlocation = "localhost:5000\\n"\n')
    with pytest.raises(ConfigError, match="host"):
        RegistriesConfig.from_toml('unqualified-search-registries = ["localhost:5000\\n"]\n')


def test_a_trailing_newline_is_not_a_credential_helper_name():
    assert check_helper_name("pass", "auth.json") == "pass"
    with pytest.raises(ConfigError, match="credential helper name"):
        check_helper_name("pass\n", "auth.json")


def test_an_archive_image_index_is_ascii_digits():
    assert parse_transport("docker-archive:/a.tar:@12").ref == "@12"
    for bad in ("@\u00b2", "@1\n", "@-1", "@"):
        with pytest.raises(InvalidReferenceError, match="image index"):
            parse_transport("docker-archive:/a.tar:" + bad)


def _patterns(tree: ast.AST):
    """Every string constant given as the pattern of a re function."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" and node.args:
            pattern = node.args[0]
            if isinstance(pattern, ast.BinOp):   # r"^%s$" % (...)
                pattern = pattern.left
            if isinstance(pattern, ast.Constant) and isinstance(pattern.value, (str, bytes)):
                yield node.lineno, node.func.attr, pattern.value


def test_no_validation_pattern_in_plugins_ends_with_dollar():
    """A guard for the next pattern: anchor with re.fullmatch (or \\Z), never with ``$``."""
    found = []
    checked = 0
    for path in sorted(PLUGINS.rglob("*.py")):
        for line, function, pattern in _patterns(ast.parse(path.read_text())):
            checked += 1
            text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
            if re.search(r"(?<!\\)\$$", text) and "(?m)" not in text:
                found.append("%s:%d: re.%s(%r)" % (path.relative_to(PLUGINS), line, function, text))
    assert checked > 10
    assert found == []
