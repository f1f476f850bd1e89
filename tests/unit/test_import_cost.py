# -*- coding: utf-8 -*-
"""What a pull or a container start imports is part of its speed (docs/architecture.md, "Import
cost"): the engine has no dataclasses, and the paths that bench/ times import only what they use.

Each check runs in a fresh interpreter, without Ansible, as bench/undock_pull.py and
bench/engine_container.py do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import List, Set

import pytest

pytestmark = pytest.mark.unit

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
COLLECTIONS = os.path.join(REPO, ".venv", "collections")
PREFIX = "ansible_collections.undock.oci.plugins.module_utils."

# dataclasses brings inspect, ast, dis and tokenize; requests and jsonschema are the two heaviest
# libraries the engine uses, and a start from a present image needs neither.
HEAVY = {"dataclasses", "inspect", "requests", "jsonschema", "cryptography"}

START_PATH = ["image.ops", "registry.config", "registry.context", "runtime.service"]
PULL_PATH = ["image.copy", "image.local", "image.ops", "image.remote", "registry.config", "registry.context",
             "model.reference", "storage.store"]


def loaded_after(modules: List[str]) -> Set[str]:
    code = ("import importlib, json, sys\n"
            "for name in %r: importlib.import_module(%r + name)\n"
            "print(json.dumps(sorted(sys.modules)))\n" % (modules, PREFIX))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         stdout=subprocess.PIPE, timeout=120).stdout
    return set(json.loads(out))


def test_no_dataclasses_in_the_engine() -> None:
    users = []
    for root, _, files in os.walk(MODULE_UTILS):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as handle:
                    if "dataclass" in handle.read():
                        users.append(os.path.relpath(path, REPO))
    assert users == []


@pytest.mark.parametrize("modules", [START_PATH, PULL_PATH], ids=["start", "pull"])
def test_paths_import_nothing_heavy_at_import(modules: List[str]) -> None:
    loaded = loaded_after(modules)
    assert {name for name in loaded if name.split(".")[0] in HEAVY} == set()
