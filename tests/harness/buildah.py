# -*- coding: utf-8 -*-
"""buildah 1.28 as a peer: builds in a storage root of its own, never the machine's.

``Buildah(workdir, registry_host)`` writes a storage.conf (overlay, graph and run roots
under ``workdir``) and a registries.conf that marks the test registry insecure, and passes
them through CONTAINERS_STORAGE_CONF / CONTAINERS_REGISTRIES_CONF, so nothing of the
machine's containers storage is read or written. ``build`` runs ``buildah build --layers
--runtime runc`` (crun refuses this machine's hybrid cgroups, see shared/MACHINE.md);
``push_oci`` writes the image into an OCI layout. ``close`` removes every image and the
storage (its overlay mounts first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Dict, Mapping, Optional, Sequence

from .treediff import unmount_all_below

BUILDAH = "buildah"
TIMEOUT = 600


class BuildahError(RuntimeError):
    pass


class Buildah:
    """buildah with a private storage root; use as a context manager."""

    def __init__(self, workdir: str, *insecure_hosts: str) -> None:
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.graph = os.path.join(self.workdir, "graph")
        # runroot holds sockets and locks: keep it short, under /tmp
        self.runroot = tempfile.mkdtemp(prefix="unbh-", dir="/tmp")
        storage = os.path.join(self.workdir, "storage.conf")
        with open(storage, "w") as handle:
            handle.write('[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' % (self.graph, self.runroot))
        registries = os.path.join(self.workdir, "registries.conf")
        with open(registries, "w") as handle:
            handle.write("unqualified-search-registries = []\n")
            for host in insecure_hosts:
                handle.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % host)
        engine = os.path.join(self.workdir, "containers.conf")
        with open(engine, "w") as handle:
            handle.write('[engine]\nruntime = "runc"\n')
        auth = os.path.join(self.workdir, "auth.json")
        with open(auth, "w") as handle:
            handle.write('{"auths": {}}')
        self.env: Dict[str, str] = dict(os.environ, CONTAINERS_STORAGE_CONF=storage,
                                        CONTAINERS_REGISTRIES_CONF=registries, CONTAINERS_CONF=engine,
                                        REGISTRY_AUTH_FILE=auth, BUILDAH_ISOLATION="oci")

    def run(self, args: Sequence[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        proc = subprocess.run([BUILDAH] + list(args), env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise BuildahError("buildah %s failed (exit %d):\n%s\n%s" % (" ".join(args), proc.returncode,
                                                                       proc.stdout[-4000:], proc.stderr[-4000:]))
        return proc

    def build_args(self, tag: str, context: str, *, dockerfile: Optional[str] = None,
                   build_args: Optional[Mapping[str, str]] = None, target: Optional[str] = None,
                   secrets: Optional[Mapping[str, str]] = None, image_format: str = "oci",
                   layers: bool = True) -> list:
        """The argv after ``buildah`` of one build (bench/build.py times it as a whole command)."""
        args = ["build", "--runtime", "runc", "--format", image_format, "-t", tag]
        if layers:
            args.append("--layers")
        if dockerfile:
            args += ["-f", dockerfile]
        for key, value in sorted((build_args or {}).items()):
            args += ["--build-arg", "%s=%s" % (key, value)]
        if target:
            args += ["--target", target]
        for key, path in sorted((secrets or {}).items()):
            args += ["--secret", "id=%s,src=%s" % (key, path)]
        return args + [context]

    def build(self, tag: str, context: str, **options) -> subprocess.CompletedProcess:
        return self.run(self.build_args(tag, context, **options))

    def push_oci(self, tag: str, layout: str, name: str) -> None:
        """Write ``tag`` into the OCI layout ``layout`` as ``name`` (configs and layers as built)."""
        self.run(["push", "--quiet", tag, "oci:%s:%s" % (layout, name)])

    def close(self) -> None:
        try:
            subprocess.run([BUILDAH, "rm", "--all"], env=self.env, capture_output=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
            subprocess.run([BUILDAH, "rmi", "--all", "--force"], env=self.env, capture_output=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        finally:
            for root in (self.graph, self.runroot):
                if os.path.isdir(root):
                    unmount_all_below(root)
            shutil.rmtree(self.graph, ignore_errors=True)
            shutil.rmtree(self.runroot, ignore_errors=True)

    def __enter__(self) -> "Buildah":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
