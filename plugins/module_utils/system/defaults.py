# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OCI runtime config of an image without ``/exports/config.json.template``.

Made by the container runtime's own normaliser and spec builder (runtime/options.py,
runtime/spec.py), with what a system container needs: a read-only rootfs, no terminal,
the host's network (unless ``network: none``), the host's /etc/resolv.conf and /etc/hosts
read-only when it shares the host's network, a tmpfs on /tmp, and the image's Volumes as
host directories under ``$STATE_DIRECTORY/NAME`` (made by the tmpfiles entries returned).
"""

from __future__ import annotations

import json
import os

from ..runtime.errors import ContainerError
from ..runtime.options import normalize
from ..runtime.spec import build_spec
from ..runtime.users import resolve_user
from .errors import SystemContainerError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Tuple

NETWORKS = ("host", "none")
HOST_ETC = ("/etc/resolv.conf", "/etc/hosts")


def cgroups_path(name: str) -> str:
    return "/undock-system/%s" % name


def default_config(name: str, rootfs: str, image_config: Dict[str, Any], image_name: str, image_digest: str,
                   values: Mapping[str, str], network: str = "host") -> Tuple[str, List[str]]:
    """(config.json text, tmpfiles lines for the host directories it binds)."""
    if network not in NETWORKS:
        raise SystemContainerError("network must be one of %s for a system container, not %r"
                                   % (", ".join(NETWORKS), network))
    params = {"name": name, "network": network, "read_only": True, "tmpfs": ["/tmp"], "hostname": name}
    try:
        desired = normalize(params, image_config, image_name, image_digest)
        user = resolve_user(rootfs, desired["user"])
    except ContainerError as err:
        raise SystemContainerError("the default config of %s: %s" % (image_name, err)) from None
    state = "%s/%s" % (values.get("STATE_DIRECTORY", "/var/lib").rstrip("/"), name)
    volume_dirs = {target: state + target for target in desired["image_volumes"]}
    tmpfiles = ["d %s 0755 root root -" % path for path in sorted(volume_dirs.values())]
    etc_files = {path: path for path in HOST_ETC if network == "host" and os.path.exists(path)}
    spec = build_spec(desired, user, volume_dirs, etc_files, rootfs="rootfs", cgroups_path=cgroups_path(name),
                      network_namespace={"type": "network"} if network == "none" else None)
    for mount in spec["mounts"]:
        if mount.get("source") in etc_files.values() and mount.get("destination") in HOST_ETC:
            mount["options"] = [("ro" if o == "rw" else o) for o in mount["options"]]
    return json.dumps(spec, indent=2, sort_keys=True) + "\n", tmpfiles
