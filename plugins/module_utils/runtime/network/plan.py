# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a container's ``network``, ``ports`` and ``dns`` options ask for, validated and
normalised, before anything touches the host.

========================  =========================================  ==========================
network                   runtime-spec ``linux.namespaces``           /etc/hosts, resolv.conf
========================  =========================================  ==========================
none                      network, path = a netns of its own (lo)     own; 127.0.1.1 = hostname
host                      no network entry: the host's namespace     own; host's servers kept
bridge (default)          network, path = a netns of its own, CNI    own; the container's IP
container:NAME            network, path = NAME's netns               own; NAME's IP
========================  =========================================  ==========================
"""

from __future__ import annotations

import re
from collections import namedtuple

from .dnsfiles import dns_servers
from .errors import NetworkError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:  # ports.py is loaded when there are ports to parse
    from typing import Any, Dict, Optional, Sequence, Tuple
    from .ports import PortMapping

MODES = ("none", "host", "bridge", "container")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # with fullmatch: a name followed by a newline is no name


#: where the CNI plugins are looked for, and how long one may run (cni.py; here so that a task
#: that runs none, such as a host network's start, need not import the plugin runner)
DEFAULT_CNI_PATH = ("/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin")
PLUGIN_TIMEOUT = 30.0
#: host-local's leases of every bridge network, host-wide (tmpfs: they go at boot with the
#: namespaces): a bridge is one per host, so its addresses are handed out once for every store
#: and run_root on the host that uses it (CNI's default is /var/lib/cni/networks; never podman's)
IPAM_DIR = "/run/undock/cni/ipam"


class BridgeNetwork(namedtuple("BridgeNetwork", "name bridge subnet ipam_dir",
                               defaults=("undock", "undock0", "10.90.0.0/16", IPAM_DIR))):
    """A CNI bridge network: name, bridge, subnet, ipam_dir (str). The default one stays clear of
    podman's (cni-podman0, 10.88.0.0/16, and the 10.89.x.0/24 networks ``podman network create``
    hands out). Its leases are under ``ipam_dir/name``, shared by whoever attaches to it on this host."""

    __slots__ = ()

    @property
    def gateway(self) -> str:
        import ipaddress  # here: only a bridge needs it, and the module costs every start
        return str(next(ipaddress.ip_network(self.subnet).hosts()))


DEFAULT_NETWORK = BridgeNetwork()


class NetworkPlan(namedtuple("NetworkPlan", "mode peer ports dns network", defaults=(None, (), (), None))):
    """A container's network: mode (str); peer (Optional[str]), the container whose namespace
    ``container:NAME`` joins; ports (Tuple[PortMapping, ...]); dns (Tuple[str, ...]); network
    (Optional[BridgeNetwork])."""

    __slots__ = ()

    @property
    def own_netns(self) -> bool:
        """True when attach creates a namespace for this container (none, bridge)."""
        return self.mode in ("none", "bridge")

    def normalized(self) -> Dict[str, Any]:
        """The options as compared for idempotency (``ports`` sorted, one entry per port)."""
        return {"network": self.mode if self.peer is None else "container:" + self.peer,
                "ports": [str(p) for p in self.ports], "dns": list(self.dns)}


def plan_network(network: Optional[str] = "bridge", ports: Sequence[Any] = (),
                 dns: Sequence[str] = ()) -> NetworkPlan:
    """Validate ``network``, ``ports`` and ``dns``; NetworkError names the bad option."""
    text = "bridge" if network is None else str(network).strip()
    peer = None
    if text.startswith("container:"):
        peer = text[len("container:"):]
        if not NAME_RE.fullmatch(peer):
            raise NetworkError("network %r: %r is not a container name" % (text, peer))
        mode = "container"
    elif text in MODES and text != "container":
        mode = text
    else:
        raise NetworkError("network must be none, host, bridge or container:NAME, not %r" % (network,))
    if ports is None or (isinstance(ports, (list, tuple)) and not ports):
        mappings: Tuple[PortMapping, ...] = ()
    else:
        from .ports import parse_ports  # here: most containers publish no port, and the module costs every start
        mappings = parse_ports(ports)
    servers = dns_servers(() if dns is None else dns)
    if mappings and mode != "bridge":
        raise NetworkError("ports need network: bridge (network is %s)" % text)
    if servers and mode == "container":
        raise NetworkError("dns cannot be set with network %s: the container uses the resolver of %s" % (text, peer))
    return NetworkPlan(mode=mode, peer=peer, ports=mappings, dns=servers,
                       network=DEFAULT_NETWORK if mode == "bridge" else None)
