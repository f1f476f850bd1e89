# -*- coding: utf-8 -*-
"""The root of a test node: Debian bookworm (minbase) with systemd as init, dbus, python3,
runc, busybox, iproute2 and procps, plus the Python libraries the collection imports
(requests, jsonschema, cryptography), the CNI plugins and iptables (for containers on the
bridge network inside a node) installed afterwards in a chroot (debootstrap cannot order
python3-cryptography's configuration in ``--include``: ../shared/MACHINE.md).

Built once per machine under the repository's ``.cache/`` (``UNDOCK_TEST_CACHE``), reused
while its stamp file says it is complete; a file lock makes concurrent builders wait for
one build, and a root left half-built by a killed build is discarded and built again."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from typing import Iterator, List

from .debian import SUITE, cached_debootstrap

NAME = "node-%s" % SUITE
BUILD_TIMEOUT = 1200
INCLUDE = ("systemd", "systemd-sysv", "dbus", "python3", "runc", "busybox-static", "iproute2", "procps")
#: installed in a chroot after debootstrap
EXTRA = ("python3-requests", "python3-jsonschema", "python3-cryptography", "containernetworking-plugins", "iptables")


def _run(argv: List[str], what: str, timeout: float = BUILD_TIMEOUT) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError("%s failed (rc %d): %s\n%s\n%s" % (what, proc.returncode, " ".join(argv),
                                                                 proc.stdout[-3000:], proc.stderr[-3000:]))


@contextlib.contextmanager
def _proc_mounted(root: str) -> Iterator[None]:
    target = os.path.join(root, "proc")
    _run(["mount", "-t", "proc", "proc", target], "mounting /proc in the node root")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", target], check=False)


def _install_extra(root: str) -> None:
    shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
    env = "DEBIAN_FRONTEND=noninteractive"
    with _proc_mounted(root):
        _run(["chroot", root, "env", env, "apt-get", "install", "-y", "--no-install-recommends"] + list(EXTRA),
             "apt-get install in the node root")
        _run(["chroot", root, "apt-get", "clean"], "apt-get clean in the node root")
    # a node is a container: no getty on a console it does not have, and its own hostname
    for unit in ("getty@tty1.service", "console-getty.service"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(root, "etc", "systemd", "system", "getty.target.wants", unit))
    with open(os.path.join(root, "etc", "resolv.conf"), "w") as handle:
        handle.write("")


def node_root() -> str:
    """The cached root, built now if it is not complete yet."""
    return cached_debootstrap(NAME, INCLUDE, "test nodes need a Debian root", finish=_install_extra,
                              timeout=BUILD_TIMEOUT, extra=EXTRA)
