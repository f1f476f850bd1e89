# -*- coding: utf-8 -*-
"""Real systemd test nodes: the Debian root of node_root.py booted with systemd as PID 1 in a
container run by this collection's own engine (ContainerService, as oci_container runs it),
so that Ansible reaches it through the collection's connection plugin ``undock.oci.oci``.

The root is imported once as an image (one uncompressed layer, loaded from an OCI layout
through ImageService.present, the path ``oci_image`` takes) into a store cached beside it,
``.cache/node-store`` (a stamp file names the image's digest; a lock makes concurrent
sessions wait for one import). Each node is a container of that store with a name of its
own, so several run at once. Its settings are those ../shared/MACHINE.md found to work:
``/sbin/init`` with ``container=oci``, privileged (the host's bounding set, which lacks
CAP_SYS_RESOURCE; cgroups and /sys read-write; every device; no masked paths), tmpfs at /run
and /tmp, and the node's own container store on tmpfs too (/var/lib/undock; /run/undock lies
in /run) because an overlay upper directory cannot sit on the node's own overlay rootfs.
It shares the host's network (and loopback: the test registry on 127.0.0.1 answers in it);
a node on a network of its own is a ``network`` option away."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence

import filelock

from ansible_collections.undock.oci.plugins.module_utils.runtime.exec import ExecResult
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService

from . import images as I
from .debian import CACHE, write_layer
from .engine import service
from .node_root import BUILD_TIMEOUT, node_root

STORE = os.path.join(CACHE, "node-store")
#: the store's runtime state: on tmpfs, as the engine wants it (one per store)
RUN_ROOT = "/run/undock-test-nodes/%s" % hashlib.sha256(STORE.encode()).hexdigest()[:12]
IMAGE = "localhost/undock-test/node:bookworm"
BOOT_TIMEOUT = 90.0
#: the node's own store and run root (its default ones), on tmpfs
NODE_STORAGE_ROOT = "/var/lib/undock"
NODE_RUN_ROOT = "/run/undock"
NODE_TMPFS = {"/run": "mode=0755", "/tmp": "mode=1777", NODE_STORAGE_ROOT: "mode=0700"}


def node_service(work_dir: str) -> ContainerService:
    """The engine on the cached node store (registries.conf and auth under ``work_dir``)."""
    return ContainerService(service(work_dir, storage_root=STORE, run_root=RUN_ROOT))


def _import_image(work_dir: str) -> str:
    """Load the node root into STORE as IMAGE; its manifest digest."""
    root = node_root()
    layout = os.path.join(work_dir, "layout")
    I._init_layout(layout)
    blob = os.path.join(layout, "blobs", "sha256", "layer.tmp")
    write_layer(root, blob)
    digest = hashlib.sha256()
    with open(blob, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    size = os.path.getsize(blob)
    os.rename(blob, os.path.join(os.path.dirname(blob), digest.hexdigest()))
    layer = "sha256:" + digest.hexdigest()
    config = {"architecture": "amd64", "os": "linux", "created": I.CREATED,
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container=oci"],
                         "Cmd": ["/sbin/init"], "StopSignal": "SIGRTMIN+3"},
              "rootfs": {"type": "layers", "diff_ids": [layer]},
              "history": [{"created": I.CREATED, "created_by": "tests/harness/node_root.py"}]}
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {"schemaVersion": 2, "mediaType": I.OCI_MANIFEST,
                "config": {"mediaType": I.OCI_CONFIG, "digest": I._put_blob(layout, config_bytes),
                           "size": len(config_bytes)},
                "layers": [{"mediaType": I.OCI_LAYER_TAR, "digest": layer, "size": size}]}
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    I._tag(layout, "node", {"mediaType": I.OCI_MANIFEST, "digest": I._put_blob(layout, manifest_bytes),
                            "size": len(manifest_bytes)})
    images = service(work_dir, storage_root=STORE, run_root=RUN_ROOT)
    outcome = images.present(IMAGE, pull="always", source="oci:%s:node" % layout)
    return outcome.after["digest"]


def node_image() -> str:
    """IMAGE in STORE, imported now unless the stamp says it is there."""
    done = STORE + ".complete"
    os.makedirs(CACHE, exist_ok=True)
    root_done = node_root() + ".complete"
    with filelock.FileLock(STORE + ".lock", timeout=BUILD_TIMEOUT + 600):
        # imported again when the root was built again since
        if not os.path.exists(done) or os.path.getmtime(done) < os.path.getmtime(root_done):
            with tempfile.TemporaryDirectory(prefix="node-image-", dir=CACHE) as work:
                digest = _import_image(work)
            with open(done, "w") as handle:
                handle.write(digest + "\n")
    return IMAGE


class Node:
    """One booted node: a container ``name`` of STORE whose PID 1 is systemd."""

    def __init__(self, name: str, work_dir: str, network: str = "host"):
        self.name = name
        self.work_dir = work_dir
        self.network = network
        self.engine = node_service(work_dir)

    def params(self, **changes: Any) -> Dict[str, Any]:
        params = dict(name=self.name, image=node_image(), pull="never", privileged=True, network=self.network,
                      tmpfs=dict(NODE_TMPFS), stop_timeout=20)
        params.update(changes)
        return params

    def boot(self, timeout: float = BOOT_TIMEOUT) -> str:
        """Start the node and wait until systemd says it is up; what it says."""
        self.engine.ensure(self.params())
        return self.wait_running(timeout)

    def wait_running(self, timeout: float = BOOT_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        said = ""
        while time.monotonic() < deadline:
            said = self.exec(["systemctl", "is-system-running"], timeout=30).stdout.decode().strip()
            if said in ("running", "degraded"):
                if said == "degraded":
                    failed = self.exec(["systemctl", "--failed", "--no-legend", "--plain"]).stdout.decode()
                    raise AssertionError("node %s booted degraded; failed units:\n%s" % (self.name, failed))
                return said
            time.sleep(0.2)
        jobs = self.exec(["systemctl", "list-jobs", "--no-legend"]).stdout.decode()
        raise AssertionError("node %s did not reach running within %.0f s (last: %r); jobs:\n%s"
                             % (self.name, timeout, said, jobs))

    def exec(self, argv: Sequence[str], timeout: float = 60, **options: Any) -> ExecResult:
        return self.engine.exec(self.name, list(argv), timeout=timeout, **options)

    def sh(self, script: str, timeout: float = 60) -> str:
        """stdout of ``sh -c script`` in the node; AssertionError unless it succeeds."""
        done = self.exec(["sh", "-c", script], timeout=timeout)
        if done.rc != 0:
            raise AssertionError("in node %s, %r failed (rc %d): %s %s" % (self.name, script, done.rc,
                                                                            done.stdout.decode(), done.stderr.decode()))
        return done.stdout.decode()

    def info(self) -> Optional[Dict[str, Any]]:
        found = self.engine.info([self.name])
        return found[0] if found else None

    def host_vars(self) -> Dict[str, Any]:
        """Inventory variables that make Ansible reach this node through undock.oci.oci."""
        return {"ansible_connection": "undock.oci.oci", "ansible_host": self.name,
                "ansible_oci_storage_root": STORE, "ansible_oci_run_root": RUN_ROOT,
                "ansible_python_interpreter": "/usr/bin/python3"}

    def remove(self) -> None:
        self.engine.ensure(dict(name=self.name, state="absent"))


def new_name(prefix: str = "node") -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def sweep_stale(work_dir: str) -> List[str]:
    """Remove nodes of STORE that nothing runs any more (left by a session that was killed,
    or by a reboot); a running node may be another session's, and is left alone."""
    engine = node_service(work_dir)
    removed = []
    for record in engine.info():
        if record["state"] not in ("running", "restarting") and not record.get("supervised"):
            engine.ensure(dict(name=record["name"], state="absent"))
            removed.append(record["name"])
    return removed
