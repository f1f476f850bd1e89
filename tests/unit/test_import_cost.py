# -*- coding: utf-8 -*-
"""What a pull or a container start imports is part of its speed (docs/architecture.md, "Import
cost"): the engine has no dataclasses, and the paths that bench/ times import only what they use.
A module compiles every file it imports from the AnsiballZ zip, which has no bytecode, on every
run: what oci_container imports to start a container from a stored image is held to a budget.

Each check runs in a fresh interpreter, as bench/undock_pull.py, bench/engine_container.py and
Ansible's module runs do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Set, Tuple

import pytest

from ansible_collections.undock.oci.plugins.module_utils.model import manifest as m
from ansible_collections.undock.oci.plugins.module_utils.model.digest import sha256_digest
from ansible_collections.undock.oci.plugins.module_utils.storage.peek import layer_dir
from ansible_collections.undock.oci.plugins.module_utils.storage.store import Store

pytestmark = pytest.mark.unit

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
COLLECTIONS = os.path.join(REPO, ".venv", "collections")
PREFIX = "ansible_collections.undock.oci.plugins.module_utils."

# dataclasses brings inspect, ast, dis and tokenize; requests and jsonschema are the two heaviest
# libraries the engine uses, and a start from a present image needs neither.
HEAVY = {"dataclasses", "inspect", "requests", "jsonschema", "cryptography"}

START_PATH = ["image.ops", "registry.config", "registry.context", "runtime.service"]
# what oci_container's start imports when its image is stored under a name in full (no pull,
# no unpack, no registries.conf) on a host network, checked through the module itself: none of these
NOT_FOR_A_STORED_IMAGE = ["image.ops", "image.copy", "image.local", "image.interfaces", "storage.layers",
                          "storage.layout", "storage.flat", "storage.merge", "runtime.systemd_units", "runtime.network.cni",
                          "runtime.network.conflist", "runtime.network.firewall", "runtime.network.masquerade",
                          "runtime.network.ports"]
# Measured: oci_container's check-mode start below loaded 317,001 bytes of our source (Dec 2026),
# the sum of the sizes of the files of ansible_collections.undock.* in sys.modules after main();
# a real host start of the same image through ansible-playbook loads the same files (it was
# 416,926 bytes before image/instore.py and the lazy imports). A module compiles them all on
# every run (~0.5 ms per KB): the budget has some headroom, and catches growth.
CHECK_START_BUDGET = 340 * 1024
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


def test_a_host_start_imports_no_hashlib_base64_threading_or_signal() -> None:
    """What a start on the host network imports (those modules, and what ensure() imports on
    the way: the containers, the monitor, the network's lifecycle, runc) loads none of these:
    OpenSSL's start-up (hashlib) ~5 ms, base64 with struct and binascii ~2 ms, threading
    ~2 ms, signal's enum ~1.5 ms; names are hashed by model.digest.name_digest."""
    loaded = loaded_after(START_PATH + ["runtime.containers", "runtime.monitoring", "image.store_images",
                                        "runtime.network.lifecycle", "runtime.network.netns", "runtime.runc"])
    assert sorted({"hashlib", "_hashlib", "base64", "threading", "signal", "_socket", "select"} & loaded) == []


def test_a_host_start_compiles_no_code_at_import() -> None:
    """Nothing on a host start's import path compiles code (typing.NamedTuple's ForwardRef of
    each field, a program compiled at import): the first compile() of a process costs ~2.6 ms.
    Compiles of a module's own source (no bytecode at hand) name a file and are not counted."""
    modules = START_PATH + ["runtime.containers", "runtime.monitoring", "image.store_images",
                            "runtime.network.lifecycle", "runtime.network.netns", "runtime.runc"]
    code = ("import builtins, importlib, json\n"
            "real, made = builtins.compile, []\n"
            "def counting(source, filename, *args, **kwargs):\n"
            "    if str(filename).startswith('<'):\n"
            "        made.append(str(filename))\n"
            "    return real(source, filename, *args, **kwargs)\n"
            "builtins.compile = counting\n"
            "for name in %r: importlib.import_module(%r + name)\n"
            "print(json.dumps(made))\n" % (modules, PREFIX))
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=COLLECTIONS), check=True,
                         stdout=subprocess.PIPE, timeout=120).stdout
    assert json.loads(out) == []


def stored_image(root: str, name: str) -> None:
    """A one-layer image stored under ``name``, its layer unpacked (an empty directory: a
    check-mode start reads the store and mounts nothing)."""
    store = Store.open(root)
    diff_id = sha256_digest(b"layer")
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    store.write_blob(config)
    doc = {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST,
           "config": {"mediaType": m.OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
           "layers": [{"mediaType": m.OCI_LAYER, "digest": sha256_digest(b"blob"), "size": 4}]}
    raw = json.dumps(doc).encode()
    store.write_blob(raw)
    assert store.tag(name, {"mediaType": m.OCI_MANIFEST, "digest": sha256_digest(raw), "size": len(raw),
                            "platform": {"os": "linux", "architecture": "amd64"}})
    os.makedirs(os.path.join(layer_dir(root, diff_id), "diff"))


def module_run(tmp_path: Any, module: str, args: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, int]]:
    """The result of ``module`` run as Ansible runs it (its arguments in a file), in a fresh
    interpreter, and the size of each of our files it had loaded when it exited."""
    path = str(tmp_path / "args.json")
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    report = str(tmp_path / "loaded.json")
    code = ("import json, os, runpy, sys\n"
            "sys.argv = [sys.argv[0], %r]\n"
            "try:\n"
            "    runpy.run_module('ansible_collections.undock.oci.plugins.modules.%s', run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            "files = {name: os.path.getsize(mod.__file__) for name, mod in list(sys.modules.items())\n"
            "         if name.startswith('ansible_collections.undock.') and getattr(mod, '__file__', None)}\n"
            "with open(%r, 'w') as handle:\n"
            "    json.dump(files, handle)\n" % (path, module, report))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120, check=True, text=True)
    with open(report) as handle:
        return json.loads(proc.stdout), json.load(handle)


def test_a_start_from_a_stored_image_imports_no_image_service(tmp_path):
    store, name = str(tmp_path / "store"), "registry.example/app:1"
    stored_image(store, name)
    result, loaded = module_run(tmp_path, "oci_container", {
        "name": "web", "image": name, "network": "host", "command": ["sleep", "60"], "storage_root": store,
        "run_root": str(tmp_path / "run"), "_ansible_check_mode": True})
    assert not result.get("failed"), result
    assert result["changed"] and result["image"]["name"] == name
    assert "would create container web from %s" % name in result["actions"]
    assert sorted(PREFIX + name for name in NOT_FOR_A_STORED_IMAGE if PREFIX + name in loaded) == []
    # registry.defaults: the constants every module's argument spec takes its defaults from
    assert sorted(name for name in loaded if name.startswith(PREFIX + "registry.")) == [PREFIX + "registry.defaults"]
    size = sum(loaded.values())
    assert size < CHECK_START_BUDGET, "%d bytes of our source for a check-mode start: %s" % (
        size, sorted(loaded.items(), key=lambda item: -item[1])[:10])


def test_the_engine_does_not_compile_the_monitor_script() -> None:
    """monitor.py is a script the engine copies out and runs (monitoring.monitor_script), not a
    module it needs: importing it would cost every start through a module its 20 KB of source."""
    loaded = loaded_after(["runtime.service", "runtime.containers", "runtime.monitoring"])
    assert PREFIX + "runtime.monitoring" in loaded
    assert PREFIX + "runtime.monitor" not in loaded


def test_the_start_path_does_not_import_typing() -> None:
    """typing costs ~5 ms a process: the engine imports it only for type checkers (under
    ``TYPE_CHECKING = False``), and a container start loads nothing else that imports it."""
    loaded = loaded_after(START_PATH + ["runtime.containers", "runtime.monitoring", "image.store_images"])
    assert PREFIX + "runtime.containers" in loaded
    assert "typing" not in loaded


def typing_at_runtime(path: str) -> List[str]:
    """The lines of ``path`` that import typing outside an ``if TYPE_CHECKING:`` block or
    subclass typing.NamedTuple (which compiles each field's annotation when the class is made)."""
    import ast

    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = []

    def visit(node: ast.AST, checked: bool) -> None:
        is_check = isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for child in ast.iter_child_nodes(node):
            # only the body of ``if TYPE_CHECKING:`` is for type checkers, not its else branch
            child_checked = checked or (is_check and any(child is stmt for stmt in node.body))
            imports_typing = (isinstance(child, ast.Import) and any(a.name.split(".")[0] == "typing" for a in child.names)
                              or isinstance(child, ast.ImportFrom) and (child.module or "").split(".")[0] == "typing")
            if imports_typing and not child_checked:
                found.append("%d: imports typing" % child.lineno)
            if isinstance(child, ast.ClassDef):
                for base in child.bases:
                    if (isinstance(base, ast.Name) and base.id == "NamedTuple"
                            or isinstance(base, ast.Attribute) and base.attr == "NamedTuple"):
                        found.append("%d: class %s subclasses typing.NamedTuple" % (child.lineno, child.name))
            visit(child, child_checked)

    visit(tree, False)
    return found


def test_typing_is_imported_only_for_type_checkers() -> None:
    offenders = {}
    for root, _, files in os.walk(MODULE_UTILS):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                lines = typing_at_runtime(path)
                if lines:
                    offenders[os.path.relpath(path, REPO)] = lines
    assert offenders == {}
