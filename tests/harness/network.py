# -*- coding: utf-8 -*-
"""Host network facts for tests of container networking: what exists before and after.

``snapshot()`` records interfaces, ``ip netns`` names, the netns files under a run_root, the
IPAM leases of a network (host-wide, under its ipam_dir), and ``iptables-save`` (counters and comments dropped). ``leftovers()`` lists what a
container left behind: its namespace file, lease, veth (interfaces that appeared), or any
iptables line naming its address, its id or one of its per-container CNI chains. The shared
chains the plugins create once and never delete (CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN,
also podman's) are not leftovers.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Iterable, List, Set

SHARED_CHAINS = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK", "CNI-FORWARD", "CNI-ADMIN"}


@dataclass
class Snapshot:
    links: Set[str]
    netns_names: Set[str]
    netns_files: Set[str]
    leases: Set[str]
    iptables: Set[str]
    iptables_lines: List[str]  # in order, duplicates kept


def _run(argv: List[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout


def _iptables() -> List[str]:
    lines = []
    for line in _run(["iptables-save"]).splitlines():
        if line.startswith("#"):
            continue
        lines.append(re.sub(r" \[\d+:\d+\]$", "", line))
    return lines


def _files(directory: str) -> Set[str]:
    found = set()
    for base, _, names in os.walk(directory):
        found.update(os.path.relpath(os.path.join(base, n), directory) for n in names)
    return found


def snapshot(run_root: str, networks) -> Snapshot:
    """``networks`` (a BridgeNetwork or a list of them): their leases are host-wide, under their
    ipam_dir; those of other networks (other test runs on this machine) are not looked at."""
    links = {line.split(":")[1].strip().split("@")[0] for line in _run(["ip", "-o", "link"]).splitlines()}
    leases = set()
    for network in [networks] if hasattr(networks, "ipam_dir") else networks:
        leases |= {os.path.join(network.name, f) for f in _files(os.path.join(network.ipam_dir, network.name))
                   if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", f)}
    # and any under run_root, where they were once kept: none may appear there
    leases |= {f for f in _files(os.path.join(run_root, "cni", "ipam")) if re.search(r"\d+\.\d+\.\d+\.\d+$", f)}
    lines = _iptables()
    return Snapshot(links=links, netns_names=set(_run(["ip", "netns", "list"]).split()),
                    netns_files=_files(os.path.join(run_root, "netns")), leases=leases, iptables=set(lines),
                    iptables_lines=lines)


def container_chains(snap: Snapshot, names: Iterable[str]) -> Set[str]:
    """The per-container CNI chains (masquerade, DNAT) of containers ``names``, read from the
    comments the plugins put on the rules that jump to them. Take it while they are attached."""
    chains = set()
    for name in names:
        mark = 'id: \\"%s\\"' % name
        for line in snap.iptables:
            if mark in line or ('id: "%s"' % name) in line:
                chains.update(c for c in re.findall(r"-j (CNI-\S+)", line) if c not in SHARED_CHAINS)
    return chains


def leftovers(before: Snapshot, after: Snapshot, names: Iterable[str], addresses: Iterable[str],
              chains: Iterable[str] = (), ignore_links: Iterable[str] = ()) -> List[str]:
    """Everything in ``after`` that containers (ids ``names``, IPs ``addresses``, CNI chains
    ``chains``) left; lines that other programs add meanwhile are not counted."""
    # A container leaves host-side veths (the bridge plugin names them veth*). Other new
    # interfaces (bridges of tests running beside this one) are not its leftovers.
    appeared = {link for link in after.links - before.links - set(ignore_links) if link.startswith("veth")}
    problems = ["interface %s" % link for link in sorted(appeared)]
    problems += ["ip netns %s" % n for n in sorted(after.netns_names - before.netns_names)]
    problems += ["netns file %s" % f for f in sorted(after.netns_files - before.netns_files)]
    problems += ["lease %s" % f for f in sorted(after.leases - before.leases)]
    words = [re.escape(a) + r"(/32)?\b" for a in addresses] + [re.escape(c) + r"\b" for c in chains]
    words += [r'id: \\?"%s\\?"' % re.escape(n) for n in names]
    for line in sorted(after.iptables - before.iptables):
        if any(re.search(w, line) for w in words):
            problems.append("iptables: %s" % line)
    return problems


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# CNI plugins that misbehave for real, for fault tests: put one in a directory searched before
# the real plugins (faulty_plugin_dir) and give the engine that directory first in its cni_path.

#: a portmap that does its work, then hangs before it answers (its DEL is the real one)
PORTMAP_THEN_HANG = """#!/bin/sh
if [ "$CNI_COMMAND" = ADD ]; then
  /usr/lib/cni/portmap >/dev/null || exit 1
  touch "$(dirname "$0")/started-ADD"
  exec sleep 60
fi
exec /usr/lib/cni/portmap
"""

#: a plugin whose ADD hangs (its DEL has nothing to undo and succeeds)
HANGING_PLUGIN = """#!/bin/sh
touch "$(dirname "$0")/started-$CNI_COMMAND"
[ "$CNI_COMMAND" = ADD ] && exec sleep 60
exit 0
"""


def faulty_plugin_dir(tmp: str, plugin: str, body: str) -> str:
    """``tmp/faulty-cni`` with the script ``body`` installed as the CNI plugin ``plugin``."""
    directory = os.path.join(tmp, "faulty-cni")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, plugin)
    with open(path, "w") as handle:
        handle.write(body)
    os.chmod(path, 0o755)
    return directory
