# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's Python lent to a working container, so that Ansible modules run in images
without one (busybox, distroless, scratch).

The interpreter does not run from the image's libraries: its prefix and the directories of
its shared libraries (those the host's dynamic loader resolves for it, the loader included)
are bound read-only under ``/.undock/host/<host path>``, and the interpreter is started
through that loader with ``--library-path`` pointing at those directories, by the script
``/.undock/bin/python`` (Ansible's ``ansible_python_interpreter`` is one path; the script
needs the image's ``/bin/sh``, as Ansible's commands do). The program
interpreter written in the ELF file (``/lib64/ld-linux-x86-64.so.2``) and the loader cache
are never used, so the image needs no libc of its own. Absolute symlinks of the host (such
as Debian's ``/lib64/ld-linux...`` -> ``/lib/...``) are resolved on the host first.

The binds exist only in each command's mount namespace; the mount-point stubs runc makes
for them in the upper directory are removed after each command (build.run), so neither the
host's files nor ``/.undock`` reach a layer.
"""

from __future__ import annotations

import os
import shlex
import struct
import subprocess

from .errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

LEND_ROOT = "/.undock"
HOST_DIR = LEND_ROOT + "/host"
TMP_DIR = LEND_ROOT + "/tmp"
BIN_DIR = LEND_ROOT + "/bin"
INTERPRETER = BIN_DIR + "/python"
PT_INTERP = 3


def elf_interpreter(path: str) -> Optional[str]:
    """The program interpreter (PT_INTERP) of an ELF executable; None for a static one."""
    with open(path, "rb") as handle:
        head = handle.read(64)
        if head[:4] != b"\x7fELF":
            raise BuildError("%s is not an ELF executable" % path)
        is64, little = head[4] == 2, head[5] == 1
        order = "<" if little else ">"
        if is64:
            phoff, = struct.unpack(order + "Q", head[32:40])
            phentsize, phnum = struct.unpack(order + "HH", head[54:58])
        else:
            phoff, = struct.unpack(order + "I", head[28:32])
            phentsize, phnum = struct.unpack(order + "HH", head[42:46])
        for index in range(min(phnum, 256)):
            handle.seek(phoff + index * phentsize)
            entry = handle.read(phentsize)
            if struct.unpack(order + "I", entry[:4])[0] != PT_INTERP:
                continue
            if is64:
                offset, = struct.unpack(order + "Q", entry[8:16])
                size, = struct.unpack(order + "Q", entry[32:40])
            else:
                offset, = struct.unpack(order + "I", entry[4:8])
                size, = struct.unpack(order + "I", entry[16:20])
            handle.seek(offset)
            return handle.read(min(size, 4096)).rstrip(b"\0").decode("utf-8", "replace")
    return None


def _libraries(loader: str, executable: str) -> List[str]:
    """Host paths of the shared libraries ``loader`` resolves for ``executable``."""
    try:
        proc = subprocess.run([loader, "--list", executable], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuildError("cannot list the libraries of %s with %s: %s" % (executable, loader, err))
    if proc.returncode != 0:
        error = proc.stderr.decode("utf-8", "replace").strip()
        raise BuildError("cannot list the libraries of %s with %s: %s" % (executable, loader, error))
    paths = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        words = line.split()
        if "=>" in words:
            target = words[words.index("=>") + 1]
            if target.startswith("/"):
                paths.append(target)
            elif target == "not":
                raise BuildError("%s needs %s, which the host's loader does not find" % (executable, words[0]))
    return paths


def _prefix(executable: str) -> str:
    try:
        proc = subprocess.run([executable, "-I", "-c", "import sys; print(sys.base_prefix)"], capture_output=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuildError("cannot run the Python %s: %s" % (executable, err))
    if proc.returncode != 0:
        raise BuildError("cannot run the Python %s: %s" % (executable, proc.stderr.decode("utf-8", "replace")))
    return os.path.realpath(proc.stdout.decode("utf-8", "replace").strip())


def _inside(path: str) -> str:
    return HOST_DIR + path


def _covering(paths: List[str]) -> List[str]:
    """The fewest of ``paths`` that contain all of them."""
    kept: List[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return sorted(kept)


def lend_python(executable: str) -> Dict[str, Any]:
    """What to bind and what to run to use the host's ``executable`` in a working container:
    ``{"executable", "binds": [[host dir, container dir]...], "interpreter": command line}``."""
    real = os.path.realpath(executable)
    if not os.path.isfile(real) or not os.access(real, os.X_OK):
        raise BuildError("python: %s is not an executable file on the host" % executable)
    prefix = _prefix(real)
    loader = elf_interpreter(real)
    dirs = [prefix, os.path.dirname(real)]
    library_dirs: List[str] = []
    if loader is not None:
        loader = os.path.realpath(loader)
        for library in [loader] + _libraries(loader, real):
            directory = os.path.dirname(os.path.realpath(library))
            if directory not in library_dirs:
                library_dirs.append(directory)
        dirs.extend(library_dirs)
    binds = [[directory, _inside(directory)] for directory in _covering(dirs)]
    if loader is None:
        command = [_inside(real)]
    else:
        command = [_inside(loader), "--library-path", ":".join(_inside(d) for d in library_dirs), _inside(real)]
    return {"executable": real, "binds": binds, "command": command, "interpreter": INTERPRETER}


def wrapper(command: List[str]) -> bytes:
    """The script at INTERPRETER: Ansible takes the interpreter as one path, not a command line."""
    return ("#!/bin/sh\nexec %s \"$@\"\n" % " ".join(shlex.quote(w) for w in command)).encode()
