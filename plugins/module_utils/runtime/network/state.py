# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkState: what attach set up for one container, in ``STATE_DIR/network.json``.

It is written before anything is created (phase ``attaching``, with the exact conflist and
runtimeConfig that ADD will use), updated after each CNI plugin returns, and marked
``attached`` at the end; detach reads it to undo all of it, even after a kill -9."""

from __future__ import annotations

import json
import os

from ...common.fileutil import atomic_write
from .errors import NetworkError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

STATE_FILE = "network.json"
ETC_DIR = "etc"
FIELDS = ("container_id", "mode", "options", "netns", "owns_netns", "peer", "ifname", "conflist", "runtime_config",
          "result", "phase", "ip_address", "prefix_length", "gateway", "mac_address", "etc_files", "cni_id")


class NetworkState:
    """mode: none | host | bridge | container; options: the NetworkPlan.normalized() it was
    made from; netns: the namespace file (None for host); owns_netns: created by attach
    (none, bridge), removed by detach; conflist (bridge): exactly what ADD ran, for DEL;
    result: the last CNI result (prevResult of CHECK and DEL); phase: attaching | attached |
    detaching; etc_files: container path -> host file; cni_id: CNI_CONTAINERID, unique on
    the host (None: container_id)."""

    __slots__ = FIELDS

    def __init__(self, container_id: str, mode: str, options: Dict[str, Any], netns: Optional[str] = None,
                 owns_netns: bool = False, peer: Optional[str] = None, ifname: str = "eth0",
                 conflist: Optional[Dict[str, Any]] = None, runtime_config: Optional[Dict[str, Any]] = None,
                 result: Optional[Dict[str, Any]] = None, phase: str = "attaching", ip_address: Optional[str] = None,
                 prefix_length: Optional[int] = None, gateway: Optional[str] = None, mac_address: Optional[str] = None,
                 etc_files: Optional[Dict[str, str]] = None, cni_id: Optional[str] = None):
        self.container_id = container_id
        self.mode = mode
        self.options = options
        self.netns = netns
        self.owns_netns = owns_netns
        self.peer = peer
        self.ifname = ifname
        self.conflist = conflist
        self.runtime_config = {} if runtime_config is None else runtime_config
        self.result = result
        self.phase = phase
        self.ip_address = ip_address
        self.prefix_length = prefix_length
        self.gateway = gateway
        self.mac_address = mac_address
        self.etc_files = {} if etc_files is None else etc_files
        self.cni_id = cni_id

    def as_dict(self) -> Dict[str, Any]:
        """Every field, as network.json holds them (load_state reads them back)."""
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def cni(self) -> str:
        return self.cni_id or self.container_id

    def spec_namespace(self) -> Optional[Dict[str, str]]:
        """The runtime-spec ``linux.namespaces`` entry for the network, None to share the host's."""
        if self.netns is None:
            return None
        return {"type": "network", "path": self.netns}

    @property
    def ports(self) -> List[str]:
        return list(self.options.get("ports", []))

    def record(self) -> Dict[str, Any]:
        """The networking part of a container record (oci_container_info)."""
        return {"network": self.options.get("network"), "ip_address": self.ip_address, "gateway": self.gateway,
                "mac_address": self.mac_address, "ports": self.ports, "netns": self.netns}

    def save(self, state_dir: str) -> None:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        atomic_write(os.path.join(state_dir, STATE_FILE), json.dumps(self.as_dict(), sort_keys=True).encode("utf-8"),
                     durable=False)  # the runtime root is volatile


def load_state(state_dir: str) -> Optional[NetworkState]:
    """The saved state, None when there is none; NetworkError if it is unreadable."""
    path = os.path.join(state_dir, STATE_FILE)
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(16 << 20).decode("utf-8"))
        return NetworkState(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as err:
        raise NetworkError("cannot read the network state %s: %s" % (path, err))


def clear_state(state_dir: str) -> None:
    for name in (STATE_FILE,):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
