# -*- coding: utf-8 -*-
"""A real Debian image for the benchmarks: ``debootstrap --variant=minbase bookworm``,
tarred by streaming into gzip layers of an OCI layout, both cached on disk.

The rootfs takes about a minute to build (from the default Debian mirror) and the layout
some seconds to compress; both are kept under ``$UNDOCK_BENCH_CACHE`` (default
``/var/cache/undock-bench``) and reused while they exist. Nothing here holds a layer in
memory: the tar stream goes through two hashers (diff ID, blob digest) and gzip straight
to a file, so the benchmark process stays small (its RSS is inherited by the children
it measures, see ``measure``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from typing import Dict, List, Sequence, Tuple

CACHE = os.environ.get("UNDOCK_BENCH_CACHE", "/var/cache/undock-bench")
SUITE = "bookworm"
DEBOOTSTRAP_TIMEOUT = 1800
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
#: Directories whose content is the running system's, not the image's: kept empty, as in
#: Debian's official images.
EMPTY_DIRS = ("dev", "proc", "sys")

# Run COMMAND, then write "MAXRSS_KIB ELAPSED_S" to OUT and exit with COMMAND's status.
# Used as ``python -S -c LAUNCHER OUT COMMAND...``: at exec Linux folds the forking
# process's high-water RSS into the new program's ru_maxrss, so the command is spawned
# by this fresh, small (~9 MB) process rather than by the benchmark itself.
LAUNCHER = r'''
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
status, usage = os.wait4(pid, 0)[1:]
elapsed = time.perf_counter() - start
with open(sys.argv[1], "w") as handle:
    handle.write("%d %.6f" % (usage.ru_maxrss, elapsed))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
'''


def measure(command: Sequence[str], out: str, env: Dict[str, str] = None, timeout: float = 1800) -> Tuple[float, int]:
    """Run ``command``; return (wall seconds, peak RSS in KiB of the largest process of
    its tree that was waited for: wait4 reports the maximum over the process and its
    reaped descendants)."""
    proc = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, out] + list(command), env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit("benchmark command failed (%d): %s\n%s\n%s" % (
            proc.returncode, " ".join(command), proc.stdout[-2000:], proc.stderr[-4000:]))
    with open(out) as handle:
        rss, elapsed = handle.read().split()
    os.unlink(out)
    return float(elapsed), int(rss)


# ---------------------------------------------------------------------------
# rootfs
# ---------------------------------------------------------------------------
def _flavour(suite: str, include: Sequence[str]) -> str:
    """``bookworm-minbase``, or ``bookworm-minbase_python3`` with --include=python3."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "%s-minbase%s" % (suite, "".join("_" + p for p in sorted(include))))


def _include_flag(include: Sequence[str]) -> List[str]:
    return ["--include=" + ",".join(sorted(include))] if include else []


def debian_rootfs(suite: str = SUITE, include: Sequence[str] = (), cache: str = CACHE) -> str:
    """``debootstrap --variant=minbase [--include=PKGS] SUITE``, built once into the cache."""
    root = os.path.join(cache, _flavour(suite, include))
    if os.path.isdir(root):
        return root
    os.makedirs(cache, exist_ok=True)
    temp = root + ".tmp"
    if os.path.exists(temp):
        shutil.rmtree(temp)
    print("building %s with debootstrap --variant=minbase (about a minute)..." % root, file=sys.stderr)
    start = time.monotonic()
    log = os.path.join(cache, "debootstrap-%s.log" % _flavour(suite, include))
    with open(log, "wb") as handle:
        command = ["debootstrap", "--variant=minbase"] + _include_flag(include) + [suite, temp]
        proc = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit("debootstrap failed (%d), see %s" % (proc.returncode, log))
    os.rename(temp, root)
    print("  done in %.0f s" % (time.monotonic() - start), file=sys.stderr)
    return root


def _entries(root: str) -> List[str]:
    """Relative paths under ``root``, parents first, sorted, without following symlinks;
    the content of EMPTY_DIRS left out."""
    out = []
    for directory, dirs, files in os.walk(root):
        rel = os.path.relpath(directory, root)
        dirs.sort()
        if rel in EMPTY_DIRS:
            dirs[:] = []
            continue
        for name in sorted(dirs + files):
            out.append(name if rel == "." else os.path.join(rel, name))
    out.sort(key=lambda p: p.split(os.sep))
    return out


# ---------------------------------------------------------------------------
# OCI layout
# ---------------------------------------------------------------------------
class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, target) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def _write_layer(root: str, names: List[str], blobs: str, level: int) -> Tuple[dict, str, int]:
    """Tar ``names`` (relative to ``root``) into a gzip blob in ``blobs``; returns its
    descriptor, the diff ID and the size of the tar stream."""
    temp = os.path.join(blobs, ".layer.tmp")
    with open(temp, "wb") as raw:
        blob = _HashingWriter(raw)
        with gzip.GzipFile(fileobj=blob, mode="wb", compresslevel=level, mtime=0) as gz:
            tar_stream = _HashingWriter(gz)
            with tarfile.open(fileobj=tar_stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for name in names:
                    tar.add(os.path.join(root, name), arcname=name, recursive=False)
    os.rename(temp, os.path.join(blobs, blob.digest.split(":", 1)[1]))
    return {"mediaType": OCI_LAYER_GZIP, "digest": blob.digest, "size": blob.size}, tar_stream.digest, tar_stream.size


def _split(names: List[str], layers: int) -> List[List[str]]:
    """One layer: everything. Two: ``usr/`` (the bulk) first, then the rest on top."""
    if layers == 1:
        return [names]
    if layers == 2:
        usr = [n for n in names if n == "usr" or n.startswith("usr" + os.sep)]
        in_usr = set(usr)
        return [usr, [n for n in names if n not in in_usr]]
    raise SystemExit("--layers must be 1 or 2")


def debian_layout(layers: int = 1, level: int = 6, suite: str = SUITE, include: Sequence[str] = (),
                  cache: str = CACHE) -> Tuple[str, str]:
    """An OCI layout of the debootstrapped rootfs in ``layers`` gzip layers, cached.
    Returns (layout directory, tag)."""
    root = debian_rootfs(suite, include, cache)
    tag = "%s-%dl-gz%d" % (_flavour(suite, include), layers, level)
    layout = os.path.join(cache, "layout-" + tag)
    if os.path.exists(os.path.join(layout, "index.json")):
        return layout, tag
    if os.path.exists(layout):
        shutil.rmtree(layout)
    temp = layout + ".tmp"
    if os.path.exists(temp):
        shutil.rmtree(temp)
    blobs = os.path.join(temp, "blobs", "sha256")
    os.makedirs(blobs)
    print("writing %s (%d gzip layer(s), level %d)..." % (layout, layers, level), file=sys.stderr)
    start = time.monotonic()
    descs, diff_ids = [], []
    names = _entries(root)
    tar_size = 0
    for part in _split(names, layers):
        desc, diff_id, size = _write_layer(root, part, blobs, level)
        descs.append(desc)
        diff_ids.append(diff_id)
        tar_size += size

    def put(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest.split(":", 1)[1]), "wb") as handle:
            handle.write(data)
        return {"digest": digest, "size": len(data)}

    command = ["debootstrap", "--variant=minbase"] + _include_flag(include) + [suite]
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(root).st_mtime))
    config = {"created": created, "architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                         "Cmd": ["bash"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": created, "created_by": " ".join(command)} for _ in descs]}
    config_desc = dict(put(json.dumps(config, sort_keys=True).encode()), mediaType=OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": descs}
    manifest_desc = dict(put(json.dumps(manifest, sort_keys=True).encode()), mediaType=OCI_MANIFEST,
                         annotations={REF_NAME: tag})
    with open(os.path.join(temp, "oci-layout"), "w") as handle:
        json.dump({"imageLayoutVersion": "1.0.0"}, handle)
    with open(os.path.join(temp, "index.json"), "w") as handle:
        json.dump({"schemaVersion": 2, "manifests": [manifest_desc]}, handle)
    with open(os.path.join(temp, "bench-info.json"), "w") as handle:  # read by layout_summary
        json.dump({"entries": len(names), "tar_size": tar_size}, handle)
    os.rename(temp, layout)
    print("  done in %.0f s" % (time.monotonic() - start), file=sys.stderr)
    return layout, tag


def layout_summary(layout: str, tag: str) -> Dict[str, object]:
    """Layer count and sizes of the cached layout (from its manifest and config)."""
    with open(os.path.join(layout, "index.json")) as handle:
        index = json.load(handle)
    desc = next(m for m in index["manifests"] if (m.get("annotations") or {}).get(REF_NAME) == tag)

    def blob(digest: str) -> dict:
        with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])) as handle:
            return json.load(handle)
    manifest = blob(desc["digest"])
    with open(os.path.join(layout, "bench-info.json")) as handle:
        info = json.load(handle)
    return {"layers": len(manifest["layers"]), "entries": info["entries"], "tar_size": info["tar_size"],
            "compressed": sum(d["size"] for d in manifest["layers"]),
            "layer_digests": [d["digest"] for d in manifest["layers"]],
            "diff_ids": blob(manifest["config"]["digest"])["rootfs"]["diff_ids"]}
