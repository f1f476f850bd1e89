# -*- coding: utf-8 -*-
"""A minimal Debian root with Python (``debootstrap --variant=minbase --include=python3 bookworm``),
built once and cached under the repository's ``.cache/`` (a lock makes parallel sessions wait for
one build), and its layer as tar bytes: the test image for tasks run inside a container."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time

import filelock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("UNDOCK_TEST_CACHE") or os.path.join(REPO, ".cache")
SUITE = "bookworm"
NAME = "debootstrap-%s-minbase-python3" % SUITE
BUILD_TIMEOUT = 900
#: left out of the layer: the runtime makes /dev, /proc, /sys; apt's caches are only weight
SKIP = ("dev/", "proc/", "sys/", "var/cache/apt/", "var/lib/apt/lists/")


def debootstrap_root() -> str:
    """The cached root (built now if it is not there yet)."""
    root = os.path.join(CACHE, NAME)
    done = root + ".complete"
    os.makedirs(CACHE, exist_ok=True)
    with filelock.FileLock(root + ".lock", timeout=BUILD_TIMEOUT + 60):
        if os.path.exists(done):
            return root
        tool = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
        if tool is None:
            raise AssertionError("debootstrap is not installed: the container-connection tests need a Debian root "
                                 "with Python (apt-get install debootstrap; hack/apt-packages.txt lists it)")
        work = root + ".tmp"
        shutil.rmtree(work, ignore_errors=True)
        if os.path.lexists(root):
            shutil.rmtree(root)
        started = time.monotonic()
        proc = subprocess.run([tool, "--variant=minbase", "--include=python3", SUITE, work,
                               "http://deb.debian.org/debian"], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        if proc.returncode != 0:
            raise AssertionError("debootstrap of %s failed (rc %d):\n%s\n%s" % (SUITE, proc.returncode,
                                                                                proc.stdout[-3000:], proc.stderr[-3000:]))
        os.rename(work, root)
        with open(done, "w") as handle:
            handle.write("built in %.0f s\n" % (time.monotonic() - started))
    return root


def write_layer(root: str, path: str) -> None:
    """Stream ``root`` into ``path`` as one uncompressed tar layer (the content of SKIP left out,
    the directories kept; nothing held in memory)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for top, dirs, files in os.walk(root):
            rel = os.path.relpath(top, root)
            rel = "" if rel == "." else rel + "/"
            if rel:
                tar.add(top, rel, recursive=False)
            if any(rel.startswith(s) for s in SKIP):
                dirs[:] = []
                continue
            for name in sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(top, d))):
                tar.add(os.path.join(top, name), rel + name, recursive=False)
            dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(top, d)))


def layer_of(root: str) -> bytes:
    """The root as one uncompressed tar layer (cached beside it)."""
    path = root + ".tar"
    with filelock.FileLock(root + ".lock", timeout=BUILD_TIMEOUT):
        if not os.path.exists(path):
            write_layer(root, path + ".tmp")
            os.rename(path + ".tmp", path)
    with open(path, "rb") as handle:
        return handle.read()
