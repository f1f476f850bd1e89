# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-container ``/etc/hosts`` and ``/etc/resolv.conf`` (bind-mounted by the runtime).

resolv.conf comes from the host's unless ``dns`` names the servers. Inside a network
namespace of its own a container cannot reach the host's loopback, so 127.0.0.0/8 and ::1
servers (systemd-resolved's 127.0.0.53, a local dnsmasq) are dropped; when nothing is left,
systemd-resolved's upstream list is tried, then docker's fallback (8.8.8.8, 8.8.4.4).
``search``, ``domain`` and ``options`` lines are kept from the host's file.
"""

from __future__ import annotations

from .errors import NetworkError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple

HOST_RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"
FALLBACK_SERVERS = ("8.8.8.8", "8.8.4.4")
MAX_FILE = 1 << 20


def dns_servers(values: Sequence[str]) -> Tuple[str, ...]:
    """The ``dns`` option: IP addresses, normalised, order kept, duplicates dropped."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise NetworkError("dns must be a list of IP addresses, not %r" % (values,))
    result: List[str] = []
    if values:
        import ipaddress  # here: most containers set no dns, and the module costs every start
    for value in values:
        try:
            address = str(ipaddress.ip_address(str(value).strip()))
        except ValueError:
            raise NetworkError("dns: %r is not an IP address" % (value,))
        if address not in result:
            result.append(address)
    return tuple(result)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_FILE).decode("utf-8", "replace")
    except OSError:
        return ""


def _parse(text: str) -> Tuple[List[str], List[str]]:
    """(nameservers, the other lines worth keeping: search, domain, options)."""
    servers: List[str] = []
    other: List[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain", "options"):
            other.append(" ".join(words))
    return servers, other


def _usable(server: str) -> bool:
    import ipaddress  # here: see dns_servers
    try:
        return not ipaddress.ip_address(server.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolv_conf(dns: Sequence[str] = (), host_text: Optional[str] = None, own_netns: bool = True,
                upstream_text: Optional[str] = None) -> str:
    """The text of a container's resolv.conf. ``host_text`` and ``upstream_text`` default to
    the host's files (given explicitly by the tests)."""
    host_servers, other = _parse(_read(HOST_RESOLV_CONF) if host_text is None else host_text)
    if dns:
        servers = list(dns)
    elif not own_netns:
        servers = host_servers
    else:
        servers = [s for s in host_servers if _usable(s)]
        if not servers:
            upstream = _parse(_read(RESOLVED_UPSTREAM) if upstream_text is None else upstream_text)[0]
            servers = [s for s in upstream if _usable(s)] or list(FALLBACK_SERVERS)
    lines = ["# written by undock.oci"] + other + ["nameserver " + s for s in servers]
    return "\n".join(lines) + "\n"


def hosts_file(hostname: str, ip_address: Optional[str]) -> str:
    """The text of a container's /etc/hosts: localhost, and its hostname at its address
    (127.0.1.1, Debian's convention, when it has none of its own)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if hostname:
        lines.append("%s\t%s" % (ip_address or "127.0.1.1", hostname))
    return "\n".join(lines) + "\n"
