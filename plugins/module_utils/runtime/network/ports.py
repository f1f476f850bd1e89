# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Published ports: ``[hostip:]hostport:ctrport[/tcp|udp]``, with optional equal-length ranges
(``8000-8001:80-81``), normalised into single mappings for CNI's ``portMappings`` capability
(CNI CONVENTIONS.md: ``{"hostPort", "containerPort", "protocol", "hostIP"}``)."""

from __future__ import annotations

from collections import namedtuple

from ...common.text import is_decimal
from .errors import NetworkError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Sequence, Tuple

PROTOCOLS = ("tcp", "udp")
MAX_RANGE = 1024  # a range expands into one iptables rule per port: keep it sane


class PortMapping(namedtuple("PortMapping", "protocol host_ip host_port container_port")):
    """One published port: protocol, host_ip (str), host_port, container_port (int).
    ``host_ip`` is "" for every host address."""

    __slots__ = ()

    def __str__(self) -> str:
        prefix = self.host_ip + ":" if self.host_ip else ""
        return "%s%d:%d/%s" % (prefix, self.host_port, self.container_port, self.protocol)

    def cni(self) -> Dict[str, Any]:
        return {"hostPort": self.host_port, "containerPort": self.container_port,
                "protocol": self.protocol, "hostIP": self.host_ip}

    def conflicts_with(self, other: "PortMapping") -> bool:
        return (self.protocol == other.protocol and self.host_port == other.host_port
                and (self.host_ip == other.host_ip or not self.host_ip or not other.host_ip))


def _port_range(text: str, what: str, spec: str) -> Tuple[int, int]:
    first, sep, last = text.partition("-")
    bounds = []
    for part in (first, last) if sep else (first,):
        if not is_decimal(part) or not 1 <= int(part) <= 65535:
            raise NetworkError("port %r: %s %r is not a port number from 1 to 65535" % (spec, what, text))
        bounds.append(int(part))
    low, high = bounds[0], bounds[-1]
    if high < low:
        raise NetworkError("port %r: %s range %r ends before it starts" % (spec, what, text))
    if high - low >= MAX_RANGE:
        raise NetworkError("port %r: %s range %r is longer than %d ports" % (spec, what, text, MAX_RANGE))
    return low, high


def _host_ip(text: str, spec: str) -> str:
    if text.startswith("["):
        raise NetworkError("port %r: IPv6 host addresses are not supported (the undock network is IPv4 only)" % spec)
    import ipaddress  # here: few ports name a host address, and the module costs every start
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise NetworkError("port %r: host address %r is not an IPv4 address" % (spec, text))
    return "" if address.is_unspecified else str(address)


def parse_port(spec: Any) -> List[PortMapping]:
    """One ``ports`` entry -> its mappings (several for a range)."""
    if isinstance(spec, bool) or not isinstance(spec, (str, int)):
        raise NetworkError("port %r: expected a string [hostip:]hostport:ctrport[/tcp|udp]" % (spec,))
    text = str(spec).strip()
    body, sep, protocol = text.rpartition("/") if "/" in text else (text, "", "tcp")
    protocol = protocol.lower()
    if protocol not in PROTOCOLS:
        raise NetworkError("port %r: protocol %r is not tcp or udp" % (text, protocol))
    if sep and not body:
        raise NetworkError("port %r: no ports before /%s" % (text, protocol))
    if body.startswith("["):
        _host_ip(body, text)
    parts = body.split(":")
    if len(parts) == 2:
        host_ip, host, container = "", parts[0], parts[1]
    elif len(parts) == 3:
        host_ip, host, container = _host_ip(parts[0], text), parts[1], parts[2]
    else:
        raise NetworkError("port %r: expected [hostip:]hostport:ctrport[/tcp|udp] (a host port is required: "
                           "undock does not pick one)" % text)
    if not host:
        raise NetworkError("port %r: the host port is empty (undock does not pick one)" % text)
    host_low, host_high = _port_range(host, "host port", text)
    ctr_low, ctr_high = _port_range(container, "container port", text)
    if host_high - host_low != ctr_high - ctr_low:
        raise NetworkError("port %r: the host range %s and the container range %s differ in length"
                           % (text, host, container))
    return [PortMapping(protocol, host_ip, host_low + i, ctr_low + i) for i in range(host_high - host_low + 1)]


def parse_ports(specs: Sequence[Any]) -> Tuple[PortMapping, ...]:
    """Every ``ports`` entry, sorted, duplicates merged; a host port published twice is an error."""
    if isinstance(specs, (str, bytes)) or not isinstance(specs, (list, tuple)):
        raise NetworkError("ports must be a list of [hostip:]hostport:ctrport[/tcp|udp], not %r" % (specs,))
    result: List[PortMapping] = []
    for spec in specs:
        for mapping in parse_port(spec):
            if mapping in result:
                continue
            clash = next((m for m in result if m.conflicts_with(mapping)), None)
            if clash is not None:
                raise NetworkError("port %r: host port %d/%s is already published by %r"
                                   % (spec, mapping.host_port, mapping.protocol, str(clash)))
            result.append(mapping)
    return tuple(sorted(result))
