# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bridge network's own iptables rules: one set per network, not per container (as Docker
and netavark keep them), so that a start costs one ``iptables-save`` instead of the ~18
iptables runs of the bridge plugin's ``ipMasq`` and of the firewall plugin.

- nat: ``POSTROUTING -s SUBNET -j UNDOCK-<hash>``, and in that chain ``-d SUBNET -j RETURN``
  then ``! -d 224.0.0.0/4 -j MASQUERADE``: what the bridge plugin's per-container chain did
  for each address (a RETURN, not its ACCEPT, so that the rest of POSTROUTING, portmap's
  hairpin masquerade among it, still sees traffic inside the subnet);
- filter: ``FORWARD -i BRIDGE -j ACCEPT`` and ``FORWARD -o BRIDGE -m conntrack --ctstate
  RELATED,ESTABLISHED -j ACCEPT``, inserted first, what the firewall plugin let through for
  each container when FORWARD's policy is DROP.

Every rule carries the comment ``undock network NAME``. ``ensure`` runs at each attach to
the bridge: one ``iptables-save``, parsed, and when something is missing one
``iptables-restore --noflush`` that adds only that (declaring the chain flushes and refills
it), under a host-wide lock next to the network's leases, so that concurrent starts add
nothing twice. The rules belong to the network as its bridge device does: like the bridge,
they stay when the last container leaves (and go at reboot); a container's removal touches
none of them. ``remove`` deletes them (by their comment), for tests and for people.
"""

from __future__ import annotations

import os

from ...common.locks import FileLock
from ...common.tools import find_tool
from ...model.digest import name_digest
from .errors import NetworkError
from .plan import BridgeNetwork

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, List, Tuple

IPTABLES_TIMEOUT = 20.0
MULTICAST = "224.0.0.0/4"


def comment(network: BridgeNetwork) -> str:
    return "undock network %s" % network.name


def chain_name(network: BridgeNetwork) -> str:
    """The network's nat chain: ``UNDOCK-`` and 16 hex digits of its name's sha256 (iptables: 28 at most)."""
    return "UNDOCK-" + name_digest(network.name.encode("utf-8"))[:16]


def _quoted(network: BridgeNetwork) -> str:
    # as iptables-save prints a comment (names are letters, digits, '_', '.', '-': no quote or backslash)
    return '-m comment --comment "%s"' % comment(network)


def wanted_rules(network: BridgeNetwork) -> Dict[str, List[str]]:
    """table -> the network's rules, exactly as ``iptables-save`` prints them (``-A CHAIN ...``)."""
    chain, mark = chain_name(network), _quoted(network)
    return {
        "nat": ["-A POSTROUTING -s %s %s -j %s" % (network.subnet, mark, chain),
                "-A %s -d %s %s -j RETURN" % (chain, network.subnet, mark),
                "-A %s ! -d %s %s -j MASQUERADE" % (chain, MULTICAST, mark)],
        "filter": ["-A FORWARD -o %s -m conntrack --ctstate RELATED,ESTABLISHED %s -j ACCEPT" % (network.bridge, mark),
                   "-A FORWARD -i %s %s -j ACCEPT" % (network.bridge, mark)],
    }


def _tool(name: str) -> str:
    found = find_tool(name)
    if found:
        return found
    raise NetworkError("%s not found (Debian package iptables): the bridge network needs it for its NAT and "
                       "forwarding rules" % name)


def iptables(args: List[str], tool: str = "iptables", stdin: bytes = b"") -> str:
    """``tool`` (iptables, iptables-save or iptables-restore) run with ``args``, bounded in
    time: its output, or a NetworkError naming the command and what it said."""
    import subprocess  # here: see chain_name
    argv = [_tool(tool)] + args
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=IPTABLES_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NetworkError("%s: %s" % (" ".join(argv), err))
    if proc.returncode != 0:
        raise NetworkError("%s failed (exit %d): %s" % (" ".join(argv), proc.returncode,
                                                        proc.stderr.decode("utf-8", "replace").strip()[-1000:]))
    return proc.stdout.decode("utf-8", "replace")


def current_rules(tables: Tuple[str, ...] = ("nat", "filter")) -> Dict[str, List[str]]:
    """table -> its ``-A`` and ``:CHAIN`` lines, from one ``iptables-save``."""
    found: Dict[str, List[str]] = {table: [] for table in tables}
    table = None
    for line in iptables([], tool="iptables-save").splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif table in found and (line.startswith("-A ") or line.startswith(":")):
            found[table].append(line)
    return found


def _missing(network: BridgeNetwork, current: Dict[str, List[str]]) -> str:
    """The iptables-restore input that adds what ``current`` lacks ("" when nothing does)."""
    wanted = wanted_rules(network)
    chain = chain_name(network)
    nat, present = [], current.get("nat", [])
    in_chain = [line for line in present if line.startswith("-A %s " % chain)]
    if in_chain != wanted["nat"][1:]:
        nat += [":%s - [0:0]" % chain] + wanted["nat"][1:]  # declaring an existing chain flushes it
    if wanted["nat"][0] not in present:
        nat.append(wanted["nat"][0])
    forward = [rule for rule in wanted["filter"] if rule not in current.get("filter", [])]
    text = ""
    if nat:
        text += "*nat\n" + "\n".join(nat) + "\nCOMMIT\n"
    if forward:
        # first in FORWARD (as the firewall plugin's jump), before any REJECT someone else appended
        text += "*filter\n" + "\n".join("-I FORWARD 1" + rule[len("-A FORWARD"):] for rule in forward) + "\nCOMMIT\n"
    return text


def _lock_path(network: BridgeNetwork) -> str:
    # host-wide as the rules are, beside host-local's directory of the network's leases
    return os.path.join(network.ipam_dir, network.name + ".rules.lock")


def ensure(network: BridgeNetwork) -> bool:
    """Add the network's rules that are missing; True if any was."""
    os.makedirs(network.ipam_dir, mode=0o755, exist_ok=True)
    with FileLock(_lock_path(network)):
        text = _missing(network, current_rules())
        if not text:
            return False
        iptables(["-w", "--noflush"], tool="iptables-restore", stdin=text.encode("utf-8"))
    return True


def remove(network: BridgeNetwork) -> bool:
    """Delete every rule with the network's comment, and its chain; False if there was none."""
    import shlex  # here: only a removal parses rules
    os.makedirs(network.ipam_dir, mode=0o755, exist_ok=True)
    changed = False
    with FileLock(_lock_path(network)):
        current = current_rules()
        chain = chain_name(network)
        for table, lines in current.items():
            for line in lines:
                words = shlex.split(line)
                if line.startswith("-A ") and comment(network) in words and words[1] != chain:
                    iptables(["-w", "-t", table, "-D"] + words[1:])
                    changed = True
        if any(line.startswith(":%s " % chain) for line in current["nat"]):
            iptables(["-w", "-t", "nat", "-F", chain])
            iptables(["-w", "-t", "nat", "-X", chain])
            changed = True
    return changed
