# -*- coding: utf-8 -*-
"""Make the collection importable as ``ansible_collections.undock.oci`` and mark tests by layer.

The repository root is the collection root. If it does not already sit at
``.../ansible_collections/undock/oci``, a symlink under ``.venv/collections`` makes it so.
"""

from __future__ import annotations

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collection_path() -> str:
    parts = REPO.split(os.sep)
    if parts[-3:] == ["ansible_collections", "undock", "oci"]:
        return os.sep.join(parts[:-3])
    base = os.path.join(REPO, ".venv", "collections")
    link = os.path.join(base, "ansible_collections", "undock", "oci")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(REPO, link)
        except FileExistsError:
            pass
    return base


COLLECTIONS_PATH = _collection_path()
TESTS = os.path.join(REPO, "tests")
for _path in (COLLECTIONS_PATH, TESTS):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# One set of session registries for the whole run (tests/harness/fixtures.py).
pytest_plugins = ["harness.fixtures"]
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS_PATH)

_LAYERS = ("unit", "integration", "interop", "security", "node")


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = os.path.relpath(str(item.fspath), os.path.join(REPO, "tests"))
        layer = rel.split(os.sep, 1)[0]
        if layer in _LAYERS:
            item.add_marker(getattr(pytest.mark, layer))
