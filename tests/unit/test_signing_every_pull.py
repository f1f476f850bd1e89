# -*- coding: utf-8 -*-
"""Every pull goes through the trust policy: an image enters the store only through a
StoreImageDestination, and the one place that makes one (ImageService.present) hands the policy
to the copy. oci_mount and oci_scan pull nothing (they call present with pull: never); the
runtime (oci_container) calls present; oci_build and system_container must do the same rather
than copy into the store themselves: a new StoreImageDestination elsewhere fails here."""

from __future__ import annotations

import ast
import os

import pytest

pytestmark = pytest.mark.unit

MODULE_UTILS = os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "module_utils")


def _calls(name: str):
    """(file, enclosing function, call node) of every call of ``name`` in the engine."""
    for dirpath, dummy, files in os.walk(MODULE_UTILS):
        for file_name in files:
            if not file_name.endswith(".py"):
                continue
            path = os.path.join(dirpath, file_name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            for func in ast.walk(tree):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func):
                    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
                        yield os.path.relpath(path, MODULE_UTILS), func.name, node


def test_only_present_writes_images_into_the_store_and_it_passes_the_policy():
    writers = {(path, func) for path, func, dummy in _calls("StoreImageDestination")}
    assert writers == {(os.path.join("image", "ops.py"), "present")}, writers
    copies = [node for path, func, node in _calls("copy_image") if (path, func) in writers]
    assert copies and all(any(k.arg == "policy" for k in node.keywords) for node in copies)


def test_mount_and_scan_never_pull():
    calls = [(func, node) for path, func, node in _calls("present") if path == os.path.join("image", "mounting.py")]
    assert {func for func, dummy in calls} == {"ensure_mount", "scan_image"}
    for dummy, node in calls:
        pull = [k.value for k in node.keywords if k.arg == "pull"]
        assert pull and isinstance(pull[0], ast.Constant) and pull[0].value == "never"
