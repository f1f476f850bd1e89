# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The no-op answered from the container's own files: the most common task of all (a
container that already is as asked) should cost little more than reading its record.

When a container is created, its record keeps a fingerprint of what it was made from: the
module's options as given, the store's index.json entry of its image, and this host's
capability bounding set (normalize() reads it). The normalised container is a function
of exactly these, so when a later task gives the same options, the store still names the
same image entry, and the container is running (``state: started``) or merely exists
(``state: present``), the full path (image service, normalisation, lock) would find no
difference and do nothing: ``unchanged`` returns its result without importing any of it.
Anything else (other options, even equal once normalised; a pull policy that may fetch; a
short name or a digest, whose resolution depends on more than the store entry; another
state) returns None, and the full path decides.

No lock is taken: every file read here is replaced atomically, a container being
recreated reads as a record without its fingerprint or with another one, and a read
that loses a race with another task is the answer that task's run would have found just
before it."""

from __future__ import annotations

import json

from ..storage.peek import index_entry, read_json
from .records import RUNNING, ContainerPaths, read_info

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

#: The module options that describe the container (what normalize() reads, and the rest
#: of what ContainerService.ensure is given).
CONTAINER_OPTIONS: List[str] = [
    "name", "state", "image", "command", "entrypoint", "env", "user", "working_dir", "hostname", "volumes", "mounts",
    "read_only", "tmpfs", "cap_add", "cap_drop", "privileged", "no_new_privileges", "memory", "cpus", "pids_limit",
    "ulimits", "sysctls", "labels", "annotations", "stop_signal", "stop_timeout", "restart_policy", "runtime",
    "network", "ports", "dns", "pull", "recreate", "force_restart"]
#: Options that say what to do rather than what the container is.
ACTIONS = ("state", "pull", "recreate", "force_restart")
FINGERPRINT = "fingerprint"
NOOP_STATES = ("started", "present")


def _bounding_set() -> Optional[str]:
    try:
        with open("/proc/self/status", "r") as handle:
            for line in handle:
                if line.startswith("CapBnd:"):
                    return line.split()[1]
    except OSError:
        pass
    return None


def _qualified(name: Any) -> bool:
    """A reference by tag with a registry host: it names one store entry whatever
    registries.conf says (a short name has candidates; a digest may be found under a tag)."""
    if not isinstance(name, str) or "@" in name or "/" not in name:
        return False
    host = name.split("/", 1)[0]
    return "." in host or ":" in host or host == "localhost"


def fingerprint(store_root: str, params: Dict[str, Any], image: Dict[str, Any]) -> Dict[str, Any]:
    """What the record of a container created from ``params`` keeps (``image``: the image record)."""
    request = {key: params.get(key) for key in CONTAINER_OPTIONS if key not in ACTIONS}
    return {"request": json.loads(json.dumps(request)), "image_entry": index_entry(store_root, image["name"]),
            "bounding_set": _bounding_set(), "image": image}


def unchanged(store_root: str, run_root: str, params: Dict[str, Any], log_lines: int = 20) -> Optional[Dict[str, Any]]:
    """The module's result when the container ``params`` ask for is there as asked and the
    task has nothing to do; None when the full path must decide."""
    if params.get("state") not in NOOP_STATES or params.get("recreate") or params.get("force_restart") \
            or params.get("pull") not in ("missing", "never") or not _qualified(params.get("image")):
        return None
    paths = ContainerPaths(store_root, run_root, params["name"])
    record = read_json(paths.record)
    saved = (record or {}).get(FINGERPRINT)
    if not saved:
        return None
    request = {key: params.get(key) for key in CONTAINER_OPTIONS if key not in ACTIONS}
    if json.loads(json.dumps(request)) != saved.get("request") or _bounding_set() != saved.get("bounding_set"):
        return None
    desired = record["desired"]
    entry = index_entry(store_root, desired["image"])
    if entry is None or entry != saved.get("image_entry"):
        return None
    info = read_info(paths, record, log_lines)
    if params["state"] == "started" and not (info["state"] in RUNNING or info["supervised"]):
        return None
    before = dict(desired, state=info["state"])
    return {"changed": False, "actions": [], "diff": {"before": before, "after": dict(before)}, "container": info,
            "image": saved["image"]}
