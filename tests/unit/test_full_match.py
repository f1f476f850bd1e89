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
from ansible_collections.undock.oci.plugins.module_utils.registry.registries_conf import RegistriesConfig
from ansible_collections.undock.oci.plugins.module_utils.runtime.network import lifecycle
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


def test_a_trailing_newline_is_not_a_container_id():
    """A container id becomes a file name under run_root/netns."""
    lifecycle._check_id("web-1")
    with pytest.raises(lifecycle.NetworkError, match="container id"):
        lifecycle._check_id("web-1\n")


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


def test_unanchored_patterns_are_only_fullmatched():
    """A pattern compiled without anchors (to be used with fullmatch) must never be used
    with .match, which would accept any string that merely starts with a valid one.
    Tokenizers, which consume a prefix on purpose, are named here."""
    tokenizers = {"_PARAM_RE"}   # registry/auth.py: one WWW-Authenticate parameter at a time
    found = []
    for path in sorted(PLUGINS.rglob("*.py")):
        tree = ast.parse(path.read_text())
        unanchored = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                call = node.value
                if isinstance(call.func, ast.Attribute) and call.func.attr == "compile" and call.args:
                    pattern = call.args[0].left if isinstance(call.args[0], ast.BinOp) else call.args[0]
                    text = pattern.value if isinstance(pattern, ast.Constant) else None
                    if isinstance(text, str) and not text.startswith(("^", "\\A")):
                        unanchored.add(node.targets[0].id)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "match" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in unanchored - tokenizers:
                found.append("%s:%d: %s.match" % (path.relative_to(PLUGINS), node.lineno, node.func.value.id))
    assert found == []
