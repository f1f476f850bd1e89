"""The files a ``COPY . /ctx`` takes from a build context: buildah's build and our selection.

``buildah build --runtime runc`` builds ``FROM scratch`` + ``COPY . /ctx`` over a context
with an ignore file (``**``, ``!`` exceptions, comments, a leading ``/``, an excluded
directory with an exception below it, symlinks out of the context); the image is mounted
and its ``/ctx`` compared with what ``select_sources(snapshot, ["."])`` gives: the same
paths, types, file contents and modes, symlink targets. Each difference is one we chose,
listed in KNOWN and checked to be exactly that:

- a FIFO: buildah copies it; we skip it (``snapshot.skipped`` gives the reason) since
  nothing a build needs is a FIFO and opening one can hang;
- ``vendor/**`` then ``!vendor/**/*.go``: by moby/patternmatcher's rules (docker's
  buildkit walks into the excluded directories because the exception has a wildcard)
  ``vendor/a/b/x.go`` is re-included; buildah 1.28's copier does not enter the excluded
  ``vendor/a`` at all;
- directories that are excluded but kept for what an exception re-includes below them:
  buildah creates them 0755, we record their own mode (only their modes are not compared);
- buildah 1.28's COPY drops the setuid/setgid bits of what it copies; the selection keeps
  the source's bits (what the copy step does with them is the executor's business), so file
  modes are compared without them.

buildah 1.28 does not read ``<Dockerfile>.dockerignore`` yet (later versions do, preferring
it as we do), so only the ``.containerignore`` over ``.dockerignore`` precedence is checked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from typing import Callable, Dict, Iterator, Sequence, Tuple

import pytest

from harness import treediff as T

from ansible_collections.undock.oci.plugins.module_utils.build.context.ignore import load_ignore_rules
from ansible_collections.undock.oci.plugins.module_utils.build.context.snapshot import FILE, SYMLINK, take_snapshot
from ansible_collections.undock.oci.plugins.module_utils.build.context.sources import select_sources

pytestmark = pytest.mark.skipif(shutil.which("buildah") is None, reason="buildah is not installed")

TIMEOUT = 300
IMAGE = "localhost/undock-context-interop:latest"

DOCKERIGNORE = """# a comment line
**/*.log
build
!build/keep
*.tmp
!important.tmp
docs/**/draft*
/secret.txt
vendor/**
!vendor/**/*.go
"""

KNOWN = {"pipe", "vendor/a", "vendor/a/b", "vendor/a/b/x.go"}


def _run(command: Sequence[str]) -> str:
    proc = subprocess.run(list(command), capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, "%s failed (%d):\n%s\n%s" % (" ".join(command), proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout.strip()


@contextlib.contextmanager
def buildah(tmp_path) -> Iterator[Callable[..., str]]:
    """``buildah`` with a storage of its own; its image, containers and mounts removed at the end."""
    root = str(tmp_path / "buildah-root")
    runroot = tempfile.mkdtemp(prefix="ubc-", dir="/tmp")
    base = ["buildah", "--root", root, "--runroot", runroot, "--storage-driver", "overlay"]
    try:
        yield lambda *args: _run(base + list(args))
    finally:
        subprocess.run(base + ["rm", "--all"], capture_output=True, timeout=TIMEOUT)
        subprocess.run(base + ["rmi", "--force", IMAGE], capture_output=True, timeout=TIMEOUT)
        try:
            T.unmount_all_below(root)
            T.unmount_all_below(runroot)
        finally:
            shutil.rmtree(runroot, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)


def _write(base, rel: str, data: bytes, mode: int = 0o644) -> None:
    path = os.path.join(str(base), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def _context(base) -> None:
    _write(base, "Dockerfile", b"FROM scratch\nCOPY . /ctx\n")
    _write(base, ".dockerignore", DOCKERIGNORE.encode())
    for rel in ("app/main.py", "app/debug.log", "app/sub/deep.log", "build/out.o", "build/keep/me.txt",
                "build/other/x", "a.tmp", "important.tmp", "docs/a/draft1.md", "docs/final.md", "secret.txt",
                "sub/secret.txt", "vendor/top.go", "vendor/README", "vendor/a/b/x.go", "vendor/a/b/x.c"):
        _write(base, rel, rel.encode() + b"\n")
    _write(base, "app/run.sh", b"#!/bin/sh\n", 0o4755)
    _write(base, "private", b"p\n", 0o600)
    os.chmod(os.path.join(str(base), "build"), 0o750)
    os.symlink("app/main.py", os.path.join(str(base), "link"))
    os.symlink("/etc/passwd", os.path.join(str(base), "outlink"))
    os.symlink("../../outside", os.path.join(str(base), "app", "uplink"))
    os.mkfifo(os.path.join(str(base), "pipe"))


Record = Tuple[str, int, str]


def _theirs(b, context: str) -> Tuple[Dict[str, Record], str]:
    b("build", "--runtime", "runc", "--layers", "-f", os.path.join(context, "Dockerfile"), "-t", IMAGE, context)
    container = b("from", "--pull=never", IMAGE)
    mounted = b("mount", container)
    try:
        tree = T.snapshot(os.path.join(mounted, "ctx"))
    finally:
        b("umount", container)
    out = {}
    for path, node in tree.items():
        if path == "/":
            continue
        value = node.sha256 if node.kind == "file" else node.target if node.kind == "symlink" else ""
        out[path[1:]] = ({"fifo": "fifo"}.get(node.kind, node.kind), node.mode, value or "")
    return out, mounted


def _ours(context: str) -> Tuple[Dict[str, Record], set, object]:
    snap = take_snapshot(context, load_ignore_rules(context, os.path.join(context, "Dockerfile")))
    (item,) = select_sources(snap, ["."])
    out = {}
    for path, entry in item.members:
        value = snap.file_sha256(entry) if entry.kind == FILE else entry.target if entry.kind == SYMLINK else ""
        out[path] = (entry.kind, entry.mode, value)
    return out, set(snap.excluded_dirs), snap


def _compare(ours: Dict[str, Record], theirs: Dict[str, Record], kept_excluded: set, known: set) -> None:
    assert set(ours) ^ set(theirs) == known
    for path in set(ours) & set(theirs):
        kind, mode, value = ours[path]
        assert (kind, value) == (theirs[path][0], theirs[path][2]), path
        if path not in kept_excluded:
            assert mode & 0o1777 == theirs[path][1], (path, oct(mode), oct(theirs[path][1]))


def test_copy_of_a_context_with_a_dockerignore_selects_what_buildah_copies(tmp_path):
    context = tmp_path / "context"
    _context(context)
    ours, kept_excluded, snap = _ours(str(context))
    with buildah(tmp_path) as b:
        theirs, dummy = _theirs(b, str(context))
    _compare(ours, theirs, kept_excluded, KNOWN)
    # the differences are the ones we chose, on our side and on theirs
    assert "pipe" in theirs and "FIFO" in snap.skipped["pipe"]
    assert "vendor/a/b/x.go" in ours and "vendor/top.go" in theirs and "vendor/README" not in theirs
    # and the ignore file did work: a sample of what both left out and kept
    for gone in ("app/debug.log", "app/sub/deep.log", "build/out.o", "build/other", "a.tmp", "docs/a/draft1.md",
                 "secret.txt"):
        assert gone not in ours and gone not in theirs, gone
    for kept in ("app/sub", "build/keep/me.txt", "important.tmp", "docs/a", "sub/secret.txt", ".dockerignore"):
        assert kept in ours and kept in theirs, kept
    assert ours["outlink"] == ("symlink", ours["outlink"][1], "/etc/passwd") and ours["app/uplink"][2] == "../../outside"
    assert ours["app/run.sh"][1] == 0o4755 and theirs["app/run.sh"][1] == 0o755 and theirs["private"][1] == 0o600
    assert "build" in kept_excluded and theirs["build"][1] == 0o755 and ours["build"][1] == 0o750


def test_containerignore_wins_over_dockerignore_as_in_buildah(tmp_path):
    context = tmp_path / "context"
    _context(context)
    os.unlink(os.path.join(str(context), "pipe"))
    _write(context, ".containerignore", b"app\nvendor\n")
    ours, kept_excluded, dummy = _ours(str(context))
    with buildah(tmp_path) as b:
        theirs, dummy = _theirs(b, str(context))
    _compare(ours, theirs, kept_excluded, set())
    assert "app" not in ours and "secret.txt" in ours and "app/debug.log" not in ours  # .dockerignore unused
