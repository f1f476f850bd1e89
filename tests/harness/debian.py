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
from typing import Callable, Optional, Sequence

import filelock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("UNDOCK_TEST_CACHE") or os.path.join(REPO, ".cache")
SUITE = "bookworm"
NAME = "debootstrap-%s-minbase-python3" % SUITE
BUILD_TIMEOUT = 900
MIRROR = os.environ.get("UNDOCK_DEBIAN_MIRROR", "http://deb.debian.org/debian")
#: left out of the layer: the runtime makes /dev, /proc, /sys; apt's caches are only weight
SKIP = ("dev/", "proc/", "sys/", "var/cache/apt/", "var/lib/apt/lists/")


def stamp_line(include: Sequence[str], extra: Sequence[str] = ()) -> str:
    """The first line of a root's stamp: what it was built with. A root whose stamp says
    something else (an older package list) is built again."""
    return "packages: %s; extra: %s" % (",".join(sorted(include)), ",".join(sorted(extra)))


def _stamp_matches(done: str, wanted: str) -> bool:
    try:
        with open(done) as handle:
            return handle.readline().rstrip("\n") == wanted
    except OSError:
        return False


def cached_debootstrap(name: str, include: Sequence[str], needed_by: str,
                       finish: Optional[Callable[[str], None]] = None, timeout: float = BUILD_TIMEOUT,
                       extra: Sequence[str] = ()) -> str:
    """``.cache/NAME``: ``debootstrap --variant=minbase --include=INCLUDE`` of SUITE, then
    ``finish(work)`` (installing ``extra``, say), built once per machine. A file lock makes
    concurrent builders wait for one build; the stamp ``NAME.complete`` is written last and
    names the packages (stamp_line), so a root left by a build that was cut short (or a
    half-renamed one), or built from another package list, is discarded and built again."""
    root = os.path.join(CACHE, name)
    done = root + ".complete"
    wanted = stamp_line(include, extra)
    os.makedirs(CACHE, exist_ok=True)
    with filelock.FileLock(root + ".lock", timeout=timeout + 60):
        if _stamp_matches(done, wanted):
            return root
        if os.path.exists(done):  # the rebuild's stamp is new, so whatever imported the old root imports again
            os.unlink(done)
        tool = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
        if tool is None:
            raise AssertionError("debootstrap is not installed: %s (hack/apt-packages.txt lists it; "
                                 "make bootstrap installs it)" % needed_by)
        work = root + ".tmp"
        for stale in (work, root):
            if os.path.lexists(stale):  # a chroot step cut short may have left /proc mounted
                subprocess.run(["umount", "-l", os.path.join(stale, "proc")], check=False, capture_output=True)
                shutil.rmtree(stale)
        started = time.monotonic()
        argv = [tool, "--variant=minbase", "--include=" + ",".join(include), SUITE, work, MIRROR]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError("debootstrap of %s failed (rc %d): %s\n%s\n%s" % (
                name, proc.returncode, " ".join(argv), proc.stdout[-3000:], proc.stderr[-3000:]))
        if finish is not None:
            finish(work)
        os.rename(work, root)
        with open(done, "w") as handle:
            handle.write("%s\nbuilt in %.0f s\n" % (wanted, time.monotonic() - started))
    return root


def debootstrap_root() -> str:
    """The cached root with Python (built now if it is not there yet)."""
    return cached_debootstrap(NAME, ["python3"], "the container-connection tests need a Debian root with Python")


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
