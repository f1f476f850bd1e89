# -*- coding: utf-8 -*-
"""common/tools.find_tool: PATH first, then the system directories a module's PATH may lack."""

from __future__ import annotations

import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.tools import find_tool

pytestmark = pytest.mark.unit


def test_a_program_on_path_is_found_absolute(tmp_path, monkeypatch):
    program = tmp_path / "mytool"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    (tmp_path / "notexec").write_text("")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_tool("mytool") == str(program)
    assert find_tool("notexec") is None  # not executable: not a program


def test_sbin_is_searched_when_path_lacks_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    found = find_tool("iptables")
    assert found is not None and os.path.dirname(found) in ("/usr/sbin", "/sbin", "/usr/local/sbin")
    assert find_tool("no-such-program-undock") is None
