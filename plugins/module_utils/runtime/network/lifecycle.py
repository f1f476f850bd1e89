# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""attach, check and detach: a container's network from its plan, and nothing left after it.

The runtime calls ``prepare`` before ``runc create`` (the config.json gets
``state.spec_namespace()`` and bind-mounts ``state.etc_files``), ``complete`` while runc
creates the container and before it starts (``attach`` is both at once), and ``detach``
when the container is removed, or found dead after a reboot. Both are idempotent; the caller holds
the container's lock (CNI: no parallel operations for one container). ``state_dir`` belongs
to the container and should sit under ``run_root`` (tmpfs), like the namespaces and leases,
so that all of it disappears together at boot.

On disk, under ``run_root``::

    netns/<container id>                      the namespace (nsfs bind mount)
    cni/net.d/<network>.conflist              the network's conflist, for people and cnitool

and host-wide, as the bridge is, under the network's ``ipam_dir`` (/run/undock/cni/ipam by
default): ``<network>/<ip>``, host-local's leases ("<CNI container id>\\r\\n<ifname>").
"""

from __future__ import annotations

import contextlib
import json
import os

from ...common.fileutil import atomic_write
from . import netns
from .dnsfiles import hosts_file, resolv_conf
from .errors import NetworkError
from .plan import DEFAULT_CNI_PATH, DEFAULT_NETWORK, NAME_RE, PLUGIN_TIMEOUT, BridgeNetwork, NetworkPlan
from .state import ETC_DIR, NetworkState, clear_state, load_state

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, Optional, Sequence

IP_CHARACTERS = "0123456789abcdefABCDEF.:"


def _check_id(container_id: str) -> None:
    # CNI's rule for container IDs; it is also a file name under run_root/netns
    if not isinstance(container_id, str) or not NAME_RE.fullmatch(container_id):
        raise NetworkError("container id %r must start with a letter or digit and hold only letters, digits, "
                           "'_', '.' and '-' (at most 128)" % (container_id,))


def _write_etc(state: NetworkState, state_dir: str, hostname: str, resolv: str) -> None:
    directory = os.path.join(state_dir, ETC_DIR)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    files = {"/etc/hosts": ("hosts", hosts_file(hostname, state.ip_address)),
             "/etc/resolv.conf": ("resolv.conf", resolv)}
    for target, (name, text) in files.items():
        path = os.path.join(directory, name)
        atomic_write(path, text.encode("utf-8"), mode=0o644, durable=False)
        state.etc_files[target] = path


def _read_result(state: NetworkState, result: Dict[str, Any]) -> None:
    """The container's address, gateway and MAC from a CNI 1.0 result."""
    interfaces = result.get("interfaces") or []
    import ipaddress  # here: only a bridge needs it, and the module costs every start
    for entry in result.get("ips") or []:
        try:
            interface = ipaddress.ip_interface(entry["address"])
        except (KeyError, TypeError, ValueError):
            continue
        if interface.version != 4:
            continue
        state.ip_address = str(interface.ip)
        state.prefix_length = interface.network.prefixlen
        state.gateway = entry.get("gateway")
        index = entry.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces):
            state.mac_address = interfaces[index].get("mac")
        return
    raise NetworkError("CNI network %s gave container %s no IPv4 address: %s"
                       % (state.options.get("network"), state.container_id, json.dumps(result)[:500]))


def _write_network_conflist(conflist: Dict[str, Any], run_root: str) -> None:
    directory = os.path.join(run_root, "cni", "net.d")
    path = os.path.join(directory, conflist["name"] + ".conflist")
    data = json.dumps(conflist, indent=2, sort_keys=True).encode("utf-8")
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return
    except OSError:
        pass
    os.makedirs(directory, mode=0o700, exist_ok=True)
    atomic_write(path, data, mode=0o644, durable=False)


def attach(container_id: str, plan: NetworkPlan, state_dir: str, run_root: str, hostname: str = "",
           peer_state_dir: Optional[str] = None, cni_path: Sequence[str] = DEFAULT_CNI_PATH,
           timeout: float = PLUGIN_TIMEOUT, cni_id: Optional[str] = None) -> NetworkState:
    """Set up the container's network as planned and return its state (also saved in state_dir):
    prepare, then complete. A container already attached with the same options is returned as
    it is; one attached differently, or half attached by an interrupted run, is detached first.
    ``container:NAME`` needs ``peer_state_dir``, the state_dir of NAME, which must be attached.
    ``cni_id`` is the container ID the CNI plugins get (default ``container_id``): it names the
    leases and rules on a bridge that every store on the host shares, so it must be unique on the host."""
    state = prepare(container_id, plan, state_dir, run_root, hostname=hostname, peer_state_dir=peer_state_dir,
                    cni_path=cni_path, timeout=timeout, cni_id=cni_id)
    return complete(state, plan, state_dir, run_root, hostname=hostname, cni_path=cni_path, timeout=timeout)


def prepare(container_id: str, plan: NetworkPlan, state_dir: str, run_root: str, hostname: str = "",
            peer_state_dir: Optional[str] = None, cni_path: Sequence[str] = DEFAULT_CNI_PATH,
            timeout: float = PLUGIN_TIMEOUT, cni_id: Optional[str] = None) -> NetworkState:
    """The part of attach that a runtime's create needs (attach's arguments): the namespace
    (its loopback up) and the /etc files that config.json bind-mounts. The network is attached
    when it returns, except a bridge (phase ``attaching``): ``complete`` runs its CNI ADD, which
    may overlap the runtime's create, since a container joins the namespace before it runs."""
    _check_id(container_id)
    cni_id = cni_id or container_id
    _check_id(cni_id)
    try:
        existing = load_state(state_dir)
    except NetworkError:
        existing = None  # unreadable: detach's fallback below cleans what it can name
    if existing is not None and existing.phase == "attached" and existing.options == plan.normalized() \
            and (existing.netns is None or netns.is_netns(existing.netns)):
        return existing
    detach(container_id, state_dir, run_root, cni_path=cni_path, timeout=timeout,
           network=plan.network or DEFAULT_NETWORK, cni_id=cni_id)

    state = NetworkState(container_id=container_id, mode=plan.mode, options=plan.normalized(), peer=plan.peer,
                         cni_id=cni_id)
    if plan.mode == "host":
        state.phase = "attached"
        _write_etc(state, state_dir, hostname, resolv_conf(plan.dns, own_netns=False))
        state.save(state_dir)
        return state
    if plan.mode == "container":
        return _attach_to_peer(state, plan, state_dir, hostname, peer_state_dir)
    from .conflist import bridge_conflist  # here: a host network runs no plugin, and the module costs every start

    state.netns = os.path.join(netns.netns_dir(run_root), container_id)
    state.owns_netns = True
    if plan.network is not None:
        state.conflist = bridge_conflist(plan.network, ports=bool(plan.ports))  # what DEL runs again
        state.runtime_config = {"portMappings": [p.cni() for p in plan.ports]}
    state.save(state_dir)  # before anything exists, so that a detach after a crash finds it all
    with _detached_on_failure(state, state_dir, run_root, plan, cni_path, timeout):
        netns.create(state.netns)  # with its lo up (no CNI loopback plugin to run)
        _write_etc(state, state_dir, hostname, resolv_conf(plan.dns))  # /etc/hosts without the address yet
        if state.conflist is None:
            state.phase = "attached"
        state.save(state_dir)
    return state


def complete(state: NetworkState, plan: NetworkPlan, state_dir: str, run_root: str, hostname: str = "",
             cni_path: Sequence[str] = DEFAULT_CNI_PATH, timeout: float = PLUGIN_TIMEOUT) -> NetworkState:
    """The rest of attach after ``prepare`` (nothing unless a bridge is to be attached): CNI ADD,
    the bridge's firewall rules, and /etc/hosts with the container's address, rewritten in place
    (a bind mount made by the runtime's create holds the file's inode)."""
    if state.phase == "attached":
        return state
    from . import cni, firewall  # here: see prepare
    from .conflist import bridge_conflist  # here: see prepare
    with _detached_on_failure(state, state_dir, run_root, plan, cni_path, timeout):
        _write_network_conflist(bridge_conflist(plan.network), run_root)

        def progress(result: Dict[str, Any]) -> None:
            state.result = result
            state.save(state_dir)

        result = cni.add_list(state.conflist, state.cni, state.netns, state.ifname, state.runtime_config,
                              progress=progress, cni_path=cni_path, timeout=timeout)
        _read_result(state, result)
        firewall.ensure(plan.network)  # after the bridge plugin, which names a bad bridge better than iptables
        with open(state.etc_files["/etc/hosts"], "r+b") as handle:  # same inode
            handle.write(hosts_file(hostname, state.ip_address).encode("utf-8"))
            handle.truncate()
        state.phase = "attached"
        state.save(state_dir)
    return state


@contextlib.contextmanager
def _detached_on_failure(state: NetworkState, state_dir: str, run_root: str, plan: NetworkPlan,
                         cni_path: Sequence[str], timeout: float) -> Iterator[None]:
    try:
        yield
    except BaseException:
        # CNI: a failed ADD is followed by a DEL of the whole list; a kill leaves it to the next detach
        try:
            detach(state.container_id, state_dir, run_root, cni_path=cni_path, timeout=timeout,
                   network=plan.network or DEFAULT_NETWORK, cni_id=state.cni)
        except NetworkError:
            pass
        raise


def _attach_to_peer(state: NetworkState, plan: NetworkPlan, state_dir: str, hostname: str,
                    peer_state_dir: Optional[str]) -> NetworkState:
    peer = load_state(peer_state_dir) if peer_state_dir else None
    if peer is None or peer.phase != "attached" or peer.netns is None or not netns.is_netns(peer.netns):
        raise NetworkError("network container:%s: container %s has no network namespace to join (it must be "
                           "created with network none, bridge or container, and not removed)" % (plan.peer, plan.peer))
    state.netns = peer.netns
    state.ip_address, state.prefix_length, state.gateway = peer.ip_address, peer.prefix_length, peer.gateway
    state.mac_address = peer.mac_address
    try:
        with open(peer.etc_files["/etc/resolv.conf"], "rb") as handle:
            resolv = handle.read(1 << 20).decode("utf-8", "replace")
    except (KeyError, OSError):
        resolv = resolv_conf()
    state.phase = "attached"
    _write_etc(state, state_dir, hostname, resolv)
    state.save(state_dir)
    return state


def check(state: NetworkState, cni_path: Sequence[str] = DEFAULT_CNI_PATH, timeout: float = PLUGIN_TIMEOUT) -> None:
    """CNI CHECK of an attached container (and that its namespace still exists); NetworkError if broken."""
    if state.netns is not None and not netns.is_netns(state.netns):
        raise NetworkError("container %s: its network namespace %s is gone" % (state.container_id, state.netns))
    if state.conflist is not None and state.result is not None and state.phase == "attached":
        from . import cni  # here: see prepare
        cni.check_list(state.conflist, state.cni, state.netns or "", state.ifname, state.runtime_config,
                       state.result, cni_path=cni_path, timeout=timeout)


def _leases(conflist: Dict[str, Any], container_id: str) -> Dict[str, str]:
    """host-local's lease files of a container on the network of ``conflist``: file name (its IP) -> path."""
    from .conflist import ipam_dir  # here: see prepare
    return _leases_in(os.path.join(ipam_dir(conflist), conflist["name"]), container_id)


def _leases_in(directory: str, container_id: str) -> Dict[str, str]:
    """_leases in host-local's ``directory`` of one network."""
    found: Dict[str, str] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return found
    for name in names:
        if not name or name.strip(IP_CHARACTERS):  # host-local's lock and last_reserved_ip.N files
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as handle:
                owner = handle.read(4096).decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        if owner and owner[0].strip() == container_id and _is_address(name):
            found[name] = path
    return found


def _is_address(name: str) -> bool:
    import ipaddress  # here: see _read_result; only a container's own leases are checked
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _rebuilt_result(state: NetworkState, run_root: str) -> Optional[Dict[str, Any]]:
    """A prevResult from the IPAM lease when a crash came before the ADD's result was saved
    (the firewall plugin needs the address to remove its rules)."""
    if state.conflist is None:
        return None
    leases = _leases(state.conflist, state.cni)
    if not leases:
        return None
    subnet = state.conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
    import ipaddress  # here: see _read_result
    prefix = ipaddress.ip_network(subnet).prefixlen
    return {"cniVersion": state.conflist["cniVersion"],
            "interfaces": [{"name": state.ifname, "sandbox": state.netns or ""}],
            "ips": [{"address": "%s/%d" % (ip, prefix), "interface": 0} for ip in sorted(leases)]}


def _fallback_state(container_id: str, run_root: str, network: BridgeNetwork, cni_id: str) -> Optional[NetworkState]:
    """When state_dir lost its file: what ``network`` (the runtime's bridge) may have left for this id."""
    path = os.path.join(netns.netns_dir(run_root), container_id)
    # the conflist's leases directory, without the conflist (its gateway costs a start the ipaddress module)
    if not os.path.lexists(path) and not _leases_in(os.path.join(network.ipam_dir, network.name), cni_id):
        return None
    from .conflist import bridge_conflist  # here: see prepare
    conflist = bridge_conflist(network)
    state = NetworkState(container_id=container_id, mode="bridge", options={}, netns=path, owns_netns=True,
                         conflist=conflist, phase="detaching", cni_id=cni_id)
    # portmap DEL does nothing without a mapping; with any, it removes the container's chains
    state.runtime_config = {"portMappings": [{"hostPort": 1, "containerPort": 1, "protocol": "tcp", "hostIP": ""}]}
    return state


def detach(container_id: str, state_dir: str, run_root: str, cni_path: Sequence[str] = DEFAULT_CNI_PATH,
           timeout: float = PLUGIN_TIMEOUT, network: BridgeNetwork = DEFAULT_NETWORK,
           cni_id: Optional[str] = None) -> bool:
    """Undo attach: CNI DEL (reverse order), then the namespace, then the state file. True if
    anything was there. Safe to repeat, and after an attach that was killed at any point. When
    the state file is lost, what ``network`` holds for ``cni_id`` (as in attach) is removed."""
    _check_id(container_id)
    try:
        state = load_state(state_dir)
    except NetworkError:
        state = None
    if state is None:
        state = _fallback_state(container_id, run_root, network, cni_id or container_id)
        if state is None:
            return False
    if state.phase != "detaching":
        state.phase = "detaching"
        state.save(state_dir)
    if state.owns_netns and state.conflist is not None:
        from . import cni, masquerade  # here: see prepare
        live = state.netns is not None and netns.is_netns(state.netns)
        prev = state.result or _rebuilt_result(state, run_root)
        if state.result is None and prev is not None:
            state.result = prev  # kept: a DEL that fails after host-local released the lease must not lose the IP
            state.save(state_dir)
        # a chain of its own only with ipMasq (attached by an earlier version) or when nobody knows (lost state)
        legacy = bool(state.conflist["plugins"][0].get("ipMasq")) or not state.options
        if legacy:
            masquerade.sweep(state.conflist["name"], state.cni, keep=set(_leases(state.conflist, state.cni)))
        cni.del_list(state.conflist, state.cni, state.netns if live else "", state.ifname, state.runtime_config,
                     prev, cni_path=cni_path, timeout=timeout)
        if legacy:
            masquerade.sweep(state.conflist["name"], state.cni)
    if state.owns_netns and state.netns is not None:
        netns.remove(state.netns)
    for path in state.etc_files.values():
        try:
            os.unlink(path)
        except OSError:
            pass
    clear_state(state_dir)
    return True
