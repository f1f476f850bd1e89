# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one leftover CNI DEL cannot remove by itself: the bridge plugin tears down its
per-container masquerade chain only for the addresses it still finds on the container's
interface, so an interface deleted from outside leaves that chain and its POSTROUTING
jump behind. The chain's name is the plugins' (``CNI-`` + sha512(network name + container
id), 28 characters), so detach removes what is left of it after the DEL, and before the DEL
the jumps for addresses the container no longer has (they would make the plugin's own
removal of the chain fail as busy); the plugin's DEL itself fails if the chain is gone.

Only containers attached by an earlier version have such a chain: the conflist now leaves
``ipMasq`` off and the network masquerades its subnet once (firewall.py). detach sweeps when
the container's recorded conflist has ``ipMasq``, or when its state file is lost (what it was
attached with is unknown then); kept for as long as such containers may still be around."""

from __future__ import annotations

from .firewall import iptables

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Collection, List

CHAIN_LENGTH = 28  # iptables' limit, as the plugins cut it


def chain_name(network: str, container_id: str) -> str:
    import hashlib  # here: only a bridge needs it, and the module costs every start
    return ("CNI-" + hashlib.sha512((network + container_id).encode("utf-8")).hexdigest())[:CHAIN_LENGTH]


def _iptables(args: List[str]) -> str:
    return iptables(["-w", "-t", "nat"] + args)


def _source(words: List[str]) -> str:
    index = words.index("-s") if "-s" in words else -1
    return words[index + 1].split("/", 1)[0] if 0 <= index < len(words) - 1 else ""


def sweep(network: str, container_id: str, keep: Collection[str] = ()) -> bool:
    """Remove the jumps to the container's masquerade chain except those from the addresses in
    ``keep``, and the chain itself when no jump is kept; False if there was nothing to remove."""
    chain = chain_name(network, container_id)
    rules = _iptables(["-S"]).splitlines()
    if ("-N " + chain) not in rules:
        return False
    changed = kept = False
    for rule in rules:
        import shlex  # here: only a rule listing needs it
        words = shlex.split(rule)
        if len(words) > 2 and words[0] == "-A" and words[-2:] == ["-j", chain]:
            if _source(words) in keep:
                kept = True
                continue
            _iptables(["-D"] + words[1:])
            changed = True
    if not kept:
        _iptables(["-F", chain])
        _iptables(["-X", chain])
        changed = True
    return changed
