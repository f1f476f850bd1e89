# -*- coding: utf-8 -*-
"""What `ansible-galaxy collection build` ships: the collection, not the workshop.

The collection's files (tracked, plus untracked ones git does not ignore) are copied
into a scratch directory together with the debris a developer's checkout really has
(virtualenvs, caches, test outputs, bytecode, earlier tarballs); the real
ansible-galaxy builds the tarball, and its members are checked against what a user
of the collection needs and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from typing import Dict, List

import pytest
import yaml
from packaging.specifiers import SpecifierSet

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
TIMEOUT = 300

#: Top-level entries a user of the collection gets. Anything else in the tarball is a
#: piece of the workshop that galaxy.yml's build_ignore lets through.
SHIPPED_TOP_LEVEL = {"FILES.json", "MANIFEST.json", "LICENSE", "README.md", "CHANGELOG.md", "bindep.txt",
                     "requirements.txt", "changelogs", "docs", "meta", "plugins", "playbooks", "roles", "tests"}
#: Of tests/, only what ansible-test reads when someone runs sanity on the installed collection.
SHIPPED_TESTS = re.compile(r"tests/(config\.yml|sanity(/.*)?)$")
#: What a developer's checkout holds beyond git's files: none of it may ship.
DEBRIS = [
    ".venv/bin/python",
    ".venv/collections/ansible_collections/undock/oci/README.md",
    ".cache/bench-venv/pyvenv.cfg",
    ".cache/bootstrap/apt-update.stamp",
    ".ansible/collections/x",
    ".pytest_cache/v/cache/lastfailed",
    "tests/output/junit.xml",
    "tests/unit/__pycache__/test_x.cpython-311-pytest-9.pyc",
    "plugins/modules/__pycache__/oci_image.cpython-311.pyc",
    "plugins/module_utils/common/errors.pyc",
    "bench/results/noop.json",
    "build/undock-oci-0.0.9.tar.gz",
    "undock-oci-0.0.9.tar.gz",
    "changelogs/.plugin-cache.yaml",
]
PLACEHOLDER_HOST = re.compile(r"(^|\.)(example\.(com|net|org)|[^.]+\.(invalid|example|test))$|^localhost$")


def _collection_files() -> List[str]:
    out = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True, timeout=60).stdout.decode()
    return [path for path in out.split("\0") if path and os.path.isfile(os.path.join(REPO, path))]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Dict[str, object]:
    """The tarball built from a copy of the checkout plus DEBRIS: member names, MANIFEST.json, LICENSE."""
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    for path in _collection_files():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO, path), src / path)
    for path in DEBRIS:
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(b"debris\n")
    out = work / "out"
    proc = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out),
                           str(src)], capture_output=True, text=True, timeout=TIMEOUT, cwd=str(work))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tarball,) = list(out.iterdir())
    with tarfile.open(str(tarball)) as tar:
        members = [m.name for m in tar.getmembers()]
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        license_text = tar.extractfile("LICENSE").read().decode() if "LICENSE" in members else ""
    return {"members": members, "manifest": manifest, "license": license_text, "name": tarball.name}


def test_tarball_holds_no_workshop(built):
    members = built["members"]
    strays = sorted(m for m in members if m.split("/", 1)[0] not in SHIPPED_TOP_LEVEL)
    assert not strays, "not part of the collection, add to build_ignore in galaxy.yml: %s" % strays
    tests = sorted(m for m in members if m.startswith("tests/") and not SHIPPED_TESTS.match(m))
    assert not tests, "the pytest suite must not ship: %s" % tests
    bytecode = sorted(m for m in members if "__pycache__" in m or m.endswith(".pyc"))
    assert not bytecode, bytecode
    assert not [m for m in members if m.startswith("changelogs/.")], "antsibull-changelog's cache ships"


def test_tarball_holds_the_collection(built):
    members = set(built["members"])
    wanted = {"LICENSE", "README.md", "meta/runtime.yml", "changelogs/changelog.yaml", "changelogs/config.yaml",
              "docs/modules/README.md"}
    for path in _collection_files():
        if path.startswith("plugins/") or path.startswith("docs/"):
            wanted.add(path)
    modules = [n[:-3] for n in os.listdir(os.path.join(REPO, "plugins", "modules")) if n.endswith(".py")]
    wanted.update("docs/modules/%s.md" % module for module in modules)
    assert sorted(wanted - members) == []
    assert built["name"] == "undock-oci-%s.tar.gz" % built["manifest"]["collection_info"]["version"]


def test_license_is_the_gpl_the_headers_name(built):
    info = built["manifest"]["collection_info"]
    assert info["license"] == ["GPL-3.0-or-later"]
    assert "GNU GENERAL PUBLIC LICENSE" in built["license"] and "Version 3, 29 June 2007" in built["license"]
    header = "GNU General Public License v3.0+"
    with open(os.path.join(REPO, "plugins", "modules", "oci_image.py")) as handle:
        assert header in handle.read()


def test_no_placeholder_urls(built):
    """The collection's own links point somewhere real. Example hosts (RFC 2606) stay
    welcome in text and code that illustrate a setting, but not as the target of a link,
    and a `.invalid` host (a stand-in for a URL nobody filled in) nowhere."""
    info = built["manifest"]["collection_info"]
    for key in ("repository", "documentation", "homepage", "issues"):
        url = info.get(key)
        assert url is None or not PLACEHOLDER_HOST.search(re.sub(r"^\w+://([^/:]+).*$", r"\1", url)), (key, url)
    texts = ["galaxy.yml", "README.md"] + [p for p in _collection_files() if p.startswith("docs/") and p.endswith(".md")]
    for path in texts:
        with open(os.path.join(REPO, path), encoding="utf-8") as handle:
            text = handle.read()
        anywhere = re.findall(r"\bhttps?://([^/\s:)\"'`>\]]+)", text)
        assert [h for h in anywhere if h.endswith(".invalid")] == [], path
        linked = re.findall(r"(?:\]\(|<)https?://([^/\s:)\"'`>\]]+)", text)
        assert [h for h in linked if PLACEHOLDER_HOST.search(h)] == [], path


def test_requires_ansible_claims_what_ci_runs():
    with open(os.path.join(REPO, "meta", "runtime.yml")) as handle:
        spec = yaml.safe_load(handle)["requires_ansible"]
    versions = re.findall(r"[<>=!~]+\s*([0-9][0-9.]*)", spec)
    assert versions and all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in versions), spec
    with open(os.path.join(REPO, "hack", "requirements-dev.txt")) as handle:
        pin = re.search(r"^ansible-core\s*>=\s*(\d+)\.(\d+)", handle.read(), re.M)
    assert pin, "hack/requirements-dev.txt pins no ansible-core"
    import ansible
    assert ansible.__version__ in SpecifierSet(spec), (ansible.__version__, spec)
    # the oldest ansible-core the spec admits is the oldest CI installs
    assert "%s.%s.0" % pin.groups() in SpecifierSet(spec)
    assert "%s.%s.0" % (pin.group(1), int(pin.group(2)) - 1) not in SpecifierSet(spec)


def test_changelog_is_kept_with_antsibull_changelog():
    antsibull = os.path.join(BIN, "antsibull-changelog")
    for command in ([antsibull, "lint"], [antsibull, "lint-changelog-yaml", "changelogs/changelog.yaml"]):
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
        assert proc.returncode == 0 and not proc.stdout.strip(), (command, proc.stdout, proc.stderr)
