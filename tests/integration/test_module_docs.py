# -*- coding: utf-8 -*-
"""The module reference in docs/modules/ is what hack/module_docs.py makes of the
modules' DOCUMENTATION today, and the hand-written guides link to it."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(REPO, "docs", "modules")
TIMEOUT = 300


def _modules():
    return sorted(n[:-3] for n in os.listdir(os.path.join(REPO, "plugins", "modules"))
                  if n.endswith(".py") and n != "__init__.py")


def _pages(directory: str):
    if not os.path.isdir(directory):
        return {}
    pages = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".md"):
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                pages[name] = handle.read()
    return pages


def test_reference_matches_the_modules_documentation(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "hack", "module_docs.py"), "--output", str(tmp_path)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fresh, checked_in = _pages(str(tmp_path)), _pages(REFERENCE)
    assert sorted(fresh) == sorted(["README.md"] + ["%s.md" % m for m in _modules()])
    stale = []
    for name in sorted(set(fresh) | set(checked_in)):
        if fresh.get(name) != checked_in.get(name):
            stale.append("".join(difflib.unified_diff(
                checked_in.get(name, "").splitlines(True), fresh.get(name, "").splitlines(True),
                "docs/modules/%s (checked in)" % name, "docs/modules/%s (from the module)" % name, n=1))[:2000])
    assert not stale, "docs/modules/ is out of date: run `make docs` and commit\n" + "\n".join(stale)


def test_every_page_documents_its_module():
    for module in _modules():
        with open(os.path.join(REFERENCE, "%s.md" % module), encoding="utf-8") as handle:
            page = handle.read()
        assert page.startswith("# undock.oci.%s - " % module)
        for section in ("## Synopsis", "## Parameters", "## Examples", "## Return values"):
            assert section in page, (module, section)


def test_guides_link_to_the_reference():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    assert "(docs/modules/README.md)" in readme
    for module in _modules():
        assert "(docs/modules/%s.md)" % module in readme, module
    for guide in ("architecture.md",):
        with open(os.path.join(REPO, "docs", guide), encoding="utf-8") as handle:
            assert "(modules/README.md)" in handle.read(), guide
