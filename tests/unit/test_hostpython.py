# -*- coding: utf-8 -*-
"""What the host lends a working container to run Ansible modules: the ELF program
interpreter read from the file, the fewest directories to bind, and a command line that
really starts the interpreter through the host's loader with only the bound directories."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError
from ansible_collections.undock.oci.plugins.module_utils.build.hostpython import (HOST_DIR, INTERPRETER, _covering,
                                                                                  elf_interpreter, lend_python,
                                                                                  wrapper)


def test_elf_interpreter_of_dynamic_and_static_programs():
    loader = elf_interpreter(os.path.realpath(sys.executable))
    assert loader is not None and os.path.basename(loader).startswith("ld-")
    if os.path.exists("/bin/busybox"):  # busybox-static (hack/apt-packages.txt)
        assert elf_interpreter("/bin/busybox") is None


def test_elf_interpreter_rejects_a_script(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(BuildError, match="not an ELF"):
        elf_interpreter(str(script))


def test_covering_keeps_the_fewest_directories():
    assert _covering(["/usr/lib/x86_64-linux-gnu", "/usr", "/opt/py", "/opt/py/lib", "/usr"]) == ["/opt/py", "/usr"]
    assert _covering(["/usr/lib", "/usr/lib64"]) == ["/usr/lib", "/usr/lib64"]  # a prefix of the name is not a parent


@pytest.mark.parametrize("python", ["/usr/bin/python3", sys.executable], ids=["debian", "venv"])
def test_lent_command_runs_with_only_the_bound_directories(python):
    if not os.path.exists(python):
        pytest.skip("%s is not installed" % python)
    lent = lend_python(python)
    assert lent["interpreter"] == INTERPRETER
    sources = [src for src, dest in lent["binds"]]
    assert all(dest == HOST_DIR + src for src, dest in lent["binds"])
    assert any(lent["executable"].startswith(src + "/") for src in sources)
    # the same command with the host paths: it must start Python with the standard library
    command = [word.replace(HOST_DIR, "") for word in lent["command"]]
    for directory in command[2].split(":"):
        assert any(directory == src or directory.startswith(src + "/") for src in sources), directory
    proc = subprocess.run(command + ["-c", "import json, zlib, sys; print(sys.version_info[0])"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "3", proc.stderr
    assert wrapper(lent["command"]).startswith(b"#!/bin/sh\nexec /.undock/host/")


def test_lend_python_names_a_bad_path(tmp_path):
    with pytest.raises(BuildError, match="not an executable file"):
        lend_python(str(tmp_path / "none"))
