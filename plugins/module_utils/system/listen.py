# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``listen`` option: what the ``NAME.socket`` unit listens on.

Each item is ``[HOST:]PORT[/tcp|udp]`` (``8080``, ``127.0.0.1:8080/tcp``, ``[::1]:53/udp``)
or an absolute path of a unix stream socket. They become ``ListenStream=`` (tcp, unix) and
``ListenDatagram=`` (udp) lines, in the order given.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections import namedtuple

from .errors import SystemContainerError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, List

_PORT_RE = re.compile(r"(?:(?P<host>\[[^\]]*\]|[^:\[\]/]+):)?(?P<port>[0-9]{1,5})(?:/(?P<proto>tcp|udp))?")


class Listener(namedtuple("Listener", "directive address")):
    """A socket unit's listen line (str): directive, ListenStream or ListenDatagram; address, as
    systemd.socket(5) reads it."""

    __slots__ = ()

    def line(self) -> str:
        return "%s=%s" % (self.directive, self.address)


def parse_listener(item: Any) -> Listener:
    if not isinstance(item, (str, int)) or isinstance(item, bool):
        raise SystemContainerError("listen: %r is not [HOST:]PORT[/tcp|udp] or an absolute socket path" % (item,))
    text = str(item).strip()
    if text.startswith("/"):
        path = posixpath.normpath(text)
        if len(path) > 107 or any(c in path for c in " \t\n%\\\"'") or ".." in text.split("/"):
            raise SystemContainerError("listen: %r is not a usable unix socket path (at most 107 characters, no "
                                       "'..', spaces, quotes, '%%' or '\\')" % (item,))
        return Listener("ListenStream", path)
    match = _PORT_RE.fullmatch(text)
    if not match:
        raise SystemContainerError("listen: %r is not [HOST:]PORT[/tcp|udp] or an absolute socket path" % (item,))
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        raise SystemContainerError("listen: %r: the port must be between 1 and 65535" % (item,))
    host = match.group("host")
    address = str(port)
    if host is not None:
        bare = host[1:-1] if host.startswith("[") else host
        try:
            ip = ipaddress.ip_address(bare)
        except ValueError:
            raise SystemContainerError("listen: %r: %r is not an IP address (systemd listens on addresses, not "
                                       "host names)" % (item, bare)) from None
        if ip.version == 6 and not host.startswith("["):
            raise SystemContainerError("listen: %r: write an IPv6 address in brackets, [%s]:%d" % (item, bare, port))
        address = ("[%s]:%d" if ip.version == 6 else "%s:%d") % (ip.compressed, port)
    directive = "ListenDatagram" if match.group("proto") == "udp" else "ListenStream"
    return Listener(directive, address)


def parse_listen(items: Any) -> List[Listener]:
    if items is None:
        return []
    if isinstance(items, (str, int)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise SystemContainerError("listen must be a list, not %r" % (items,))
    result: List[Listener] = []
    for item in items:
        listener = parse_listener(item)
        if listener in result:
            raise SystemContainerError("listen: %s is given twice" % listener.line())
        result.append(listener)
    return result
