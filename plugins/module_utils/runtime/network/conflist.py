# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI network configuration lists undock runs (CNI SPEC.md, "Network Configuration Lists").

The bridge network is podman's recipe on a bridge and subnet of its own: ``bridge`` (gateway,
hairpin) with ``host-local`` IPAM whose leases live under the network's
``ipam_dir`` (host-wide, as the bridge is: /run/undock/cni/ipam, tmpfs, so they vanish at boot
with the namespaces they belong to, and are never mixed with podman's /var/lib/cni), then ``portmap`` (published ports, so only for a container
that has some; ``snat`` masquerades connections from 127.0.0.1, which needs route_localnet, set by
portmap itself on the bridge). The masquerade of the subnet and the FORWARD rules that let its
traffic through a policy of DROP are the network's own (``firewall.py``: one set per network,
made by attach and left in place like the bridge device), not the bridge plugin's ``ipMasq``
nor the ``firewall`` plugin, which made and removed rules for every container. Containers
attached by an earlier version keep the conflist they were attached with (``ipMasq`` and
``firewall``) in their network state, and their DEL runs it.
"""

from __future__ import annotations

import copy

from .plan import BridgeNetwork

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

CNI_VERSION = "1.0.0"


def ipam_dir(conflist: Dict[str, Any]) -> str:
    """Where host-local keeps the leases of a bridge conflist (as ADD ran it)."""
    return conflist["plugins"][0]["ipam"]["dataDir"]


def bridge_conflist(network: BridgeNetwork, ports: bool = True) -> Dict[str, Any]:
    """The network's conflist; without ``ports``, the one a container that publishes none is
    attached with: portmap, which would do nothing for it, is left out (one plugin run less
    at each start and stop; podman's netavark sets up no port forwarding either)."""
    plugins = [
        {"type": "bridge", "bridge": network.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
         "ipam": {"type": "host-local", "dataDir": network.ipam_dir,
                  "ranges": [[{"subnet": network.subnet, "gateway": network.gateway}]],
                  "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
    ]
    return {"cniVersion": CNI_VERSION, "name": network.name,
            "plugins": [p for p in plugins if ports or p["type"] != "portmap"]}


def plugin_config(conflist: Dict[str, Any], plugin: Dict[str, Any], runtime_config: Dict[str, Any],
                  prev_result: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """What one plugin of the list reads on stdin: its own entry, with the list's ``name`` and
    ``cniVersion``, the ``runtimeConfig`` keys of the capabilities it declares, and ``prevResult``."""
    config = copy.deepcopy(plugin)
    config["name"] = conflist["name"]
    config["cniVersion"] = conflist["cniVersion"]
    capabilities = [name for name, on in plugin.get("capabilities", {}).items() if on]
    wanted = {name: runtime_config[name] for name in capabilities if name in runtime_config}
    if wanted:
        config["runtimeConfig"] = wanted
    if prev_result is not None:
        config["prevResult"] = prev_result
    return config
