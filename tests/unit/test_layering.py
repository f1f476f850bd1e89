# -*- coding: utf-8 -*-
"""The engine's packages import only downwards (docs/architecture.md): a test, so it stays so."""

from __future__ import annotations

import ast
import os
from typing import Dict, Set

import pytest

pytestmark = pytest.mark.unit

MODULE_UTILS = os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "module_utils")

# What each package may import from the others (itself always allowed).
ALLOWED: Dict[str, Set[str]] = {
    "common": set(),
    "model": {"common"},
    "registry": {"common", "model"},
    "storage": {"common", "model"},
    "scan": {"common", "model", "storage"},
    "signing": {"common", "model", "registry", "storage"},
    "image": {"common", "model", "registry", "storage", "scan", "signing"},
    "runtime": {"common", "model", "registry", "storage", "image", "signing"},
    # beside runtime: a build runs steps in containers and commits images to the store
    "build": {"common", "model", "storage", "image", "runtime", "signing", "registry"},
    # a service beside runtime/: system containers run the runtime's config under systemd
    "system": {"common", "model", "storage", "image", "runtime"},
}


def imported_packages(path: str) -> Set[str]:
    """Top-level engine packages that one file imports, relative or absolute."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    here = os.path.relpath(os.path.dirname(os.path.abspath(path)), os.path.abspath(MODULE_UTILS)).split(os.sep)
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = (node.module or "").split(".") if node.module else []
        if node.level:
            if node.level > len(here) + 1:
                continue  # above module_utils: not an engine package
            resolved = here[:len(here) - (node.level - 1)] + module
        elif node.module and "plugins.module_utils." in node.module:
            resolved = node.module.split("plugins.module_utils.", 1)[1].split(".")
        else:
            continue
        if resolved:
            found.add(resolved[0])
    return found


def engine_files():
    for package in sorted(os.listdir(MODULE_UTILS)):
        root = os.path.join(MODULE_UTILS, package)
        if not os.path.isdir(root) or package.startswith("__"):
            continue
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                if name.endswith(".py"):
                    yield package, os.path.join(dirpath, name)


def test_every_package_has_a_rule():
    packages = {package for package, _path in engine_files()}
    assert packages <= set(ALLOWED), "add the new package to ALLOWED: %s" % sorted(packages - set(ALLOWED))


def test_imports_point_only_down():
    wrong = []
    checked = 0
    for package, path in engine_files():
        checked += 1
        for target in imported_packages(path) - {package}:
            if target not in ALLOWED.get(package, set()) and target in ALLOWED:
                wrong.append("%s imports %s" % (os.path.relpath(path, MODULE_UTILS), target))
    assert checked > 50
    assert not wrong, "\n".join(sorted(wrong))


def test_the_checker_sees_relative_imports():
    # so that the rule above cannot pass on nothing: storage/store.py imports common/ and model/
    assert {"common", "model", "storage"} <= imported_packages(os.path.join(MODULE_UTILS, "storage", "store.py"))
