# -*- coding: utf-8 -*-
"""runtime/network with the real CNI plugins (Debian's containernetworking-plugins) and real
network namespaces: busybox httpd runs inside them through nsenter (no runc needed).

Traffic goes only to 127.0.0.1 and to addresses inside namespaces these tests make. The
tests use a bridge, subnet and network name of their own (so that they never share leases
with another run_root on the default network) and remove the bridge at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import List, Optional

import pytest

from ansible_collections.undock.oci.plugins.module_utils.runtime.network import conflist, firewall, lifecycle, masquerade, netns
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.conflist import bridge_conflist
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.errors import CniPluginError, NetworkError
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.plan import BridgeNetwork, plan_network
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.state import load_state

from harness.engine import python_path
from harness.network import (HANGING_PLUGIN, PORTMAP_THEN_HANG, container_chains, faulty_plugin_dir, free_port, leftovers,
                             snapshot, wait_for_port)

BUSYBOX = "/bin/busybox"
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/bridge"),
                                reason="needs root and containernetworking-plugins")


def _test_network() -> BridgeNetwork:
    pid = os.getpid()
    return BridgeNetwork(name="undock-test-%d" % pid, bridge="udt%d" % (pid % 100000),
                         subnet="10.91.%d.0/24" % (pid % 250))


class Net:
    """Attaches containers on the test network and undoes everything at the end, even on failure."""

    def __init__(self, tmp_path):
        self.tmp = str(tmp_path)
        self.run_root = os.path.join(self.tmp, "run")
        self.network = _test_network()
        self.ids: List[str] = []
        self.procs: List[subprocess.Popen] = []
        self.www = os.path.join(self.tmp, "www")
        os.makedirs(self.www)
        with open(os.path.join(self.www, "index.html"), "w") as handle:
            handle.write("hello from the container\n")

    def state_dir(self, cid: str) -> str:
        return os.path.join(self.run_root, "containers", cid)

    def plan(self, network: str = "bridge", ports=(), dns=(), bridge: Optional[BridgeNetwork] = None):
        plan = plan_network(network, ports, dns)
        if plan.network is not None:
            plan = plan._replace(network=bridge or self.network)
        return plan

    def attach(self, cid: str, network: str = "bridge", ports=(), peer: Optional[str] = None, **options):
        self.ids.append(cid)
        plan = self.plan(network, ports, options.pop("dns", ()), options.pop("bridge", None))
        return lifecycle.attach(cid, plan, self.state_dir(cid), self.run_root, hostname=cid,
                                peer_state_dir=self.state_dir(peer) if peer else None, **options)

    def detach(self, cid: str) -> bool:
        return lifecycle.detach(cid, self.state_dir(cid), self.run_root, network=self.network)

    def in_netns(self, path: str, *argv: str, timeout: float = 15) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", "--net=" + path] + list(argv), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def http_get(self, path: str, ip: str) -> str:
        """GET / from inside namespace ``path`` (busybox nc: busybox 1.35's static wget segfaults here)."""
        done = subprocess.run(["nsenter", "--net=" + path, BUSYBOX, "nc", "-w", "5", ip, "80"],
                              input="GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % ip, capture_output=True, text=True,
                              timeout=15, check=False)
        return done.stdout.split("\n\n", 1)[-1] if " 200 OK" in done.stdout else done.stdout + done.stderr

    def httpd(self, path: str, ip: str = "127.0.0.1", port: int = 80) -> None:
        proc = subprocess.Popen(["nsenter", "--net=" + path, BUSYBOX, "httpd", "-f", "-p", "%s:%d" % (ip, port),
                                 "-h", self.www], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        if ip != "127.0.0.1":
            wait_for_port(ip, port)

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)
        for cid in reversed(self.ids):
            try:
                self.detach(cid)
            except NetworkError:
                pass
        for name in os.listdir(netns.netns_dir(self.run_root)) if os.path.isdir(netns.netns_dir(self.run_root)) else ():
            netns.remove(os.path.join(netns.netns_dir(self.run_root), name))
        subprocess.run(["ip", "link", "del", self.network.bridge], capture_output=True, timeout=10, check=False)
        firewall.remove(self.network)  # the network's own rules, left by design like its bridge
        for name in (self.network.name, self.network.name + "-bad"):
            try:
                os.unlink(os.path.join(self.network.ipam_dir, name + ".rules.lock"))
            except FileNotFoundError:
                pass
        for name in (self.network.name, self.network.name + "-bad"):  # host-local's directories of our networks
            shutil.rmtree(os.path.join(self.network.ipam_dir, name), ignore_errors=True)


@pytest.fixture
def net(tmp_path):
    env = Net(tmp_path)
    try:
        yield env
    finally:
        env.close()


def get(host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_bridge_ports_reach_the_container_and_detach_leaves_nothing(net):
    before = snapshot(net.run_root, net.network)
    local_port, any_port = free_port(), free_port()
    web = net.attach("web", ports=["127.0.0.1:%d:80" % local_port, "%d:80/tcp" % any_port])
    assert web.spec_namespace() == {"type": "network", "path": os.path.join(net.run_root, "netns", "web")}
    assert web.ip_address.startswith(net.network.subnet.rsplit(".", 2)[0])
    net.httpd(web.netns, web.ip_address)

    # from the host: the container's address, and the published ports at 127.0.0.1
    assert get(web.ip_address, 80) == "hello from the container\n"
    assert get("127.0.0.1", local_port) == "hello from the container\n"
    assert get("127.0.0.1", any_port) == "hello from the container\n"

    # a second namespace reaches the first over the bridge
    client = net.attach("client")
    assert client.ip_address != web.ip_address
    assert [p["type"] for p in client.conflist["plugins"]] == ["bridge"]  # no port: no portmap run
    assert [p["type"] for p in web.conflist["plugins"]] == ["bridge", "portmap"]
    assert not any(p.get("ipMasq") for p in client.conflist["plugins"] + web.conflist["plugins"])
    assert net.http_get(client.netns, web.ip_address) == "hello from the container\n"
    lifecycle.check(web)

    # the files the runtime bind-mounts
    with open(web.etc_files["/etc/hosts"]) as handle:
        assert "%s\tweb\n" % web.ip_address in handle.read()
    with open(web.etc_files["/etc/resolv.conf"]) as handle:
        assert "nameserver 127." not in handle.read()

    # attach again with the same options changes nothing (same address, same namespace)
    again = net.attach("web", ports=["%d:80" % any_port, "127.0.0.1:%d:80/tcp" % local_port])
    assert (again.ip_address, again.netns, again.result) == (web.ip_address, web.netns, web.result)

    during = snapshot(net.run_root, net.network)
    chains = container_chains(during, ["web", "client"])
    assert len(chains) == 1, during.iptables  # web's DNAT chain (portmap): no masquerade chain of a container
    assert not any(masquerade.chain_name(net.network.name, cid) in line for line in during.iptables
                   for cid in ("web", "client"))
    # no FORWARD rule of a container: the network's own rules, once
    assert not [line for line in during.iptables if line.startswith("-A FORWARD") and
                (web.ip_address in line or client.ip_address in line)]
    assert _network_rules(during) == _wanted(net.network)
    assert during.leases - before.leases and during.netns_files - before.netns_files
    for proc in net.procs:
        proc.kill()
    assert net.detach("web") and net.detach("client")
    assert not net.detach("web")  # idempotent
    after = snapshot(net.run_root, net.network)
    assert leftovers(before, after, ["web", "client"], [web.ip_address, client.ip_address], chains,
                     ignore_links=[net.network.bridge]) == []
    assert not os.path.exists(os.path.join(net.state_dir("web"), "network.json"))
    with pytest.raises(OSError):
        get("127.0.0.1", local_port)
    assert _network_rules(after) == _wanted(net.network)  # they belong to the network, as its bridge


def _network_rules(snap) -> List[str]:
    """The lines of iptables-save that carry the comment of the test network, sorted (duplicates kept)."""
    mark = '--comment "undock network undock-test-%d"' % os.getpid()
    return sorted(line for line in snap.iptables_lines if mark in line)


def _wanted(network: BridgeNetwork) -> List[str]:
    return sorted(rule for rules in firewall.wanted_rules(network).values() for rule in rules)


def test_changed_ports_reattach_and_a_lost_interface_is_cleaned(net):
    before = snapshot(net.run_root, net.network)
    first_port, second_port = free_port(), free_port()
    first = net.attach("web", ports=["127.0.0.1:%d:80" % first_port])
    second = net.attach("web", ports=["127.0.0.1:%d:80" % second_port])
    net.httpd(second.netns, second.ip_address)
    assert get("127.0.0.1", second_port) == "hello from the container\n"
    assert not any(str(first_port) in line for line in snapshot(net.run_root, net.network).iptables)
    lifecycle.check(second)
    assert net.in_netns(second.netns, "ip", "link", "del", "eth0").returncode == 0
    with pytest.raises(CniPluginError, match="CNI plugin bridge CHECK for container web"):
        lifecycle.check(second)
    # the bridge plugin's DEL finds no address on a deleted interface: detach sweeps its masquerade chain
    chains = container_chains(snapshot(net.run_root, net.network), ["web"])
    assert net.detach("web")
    assert leftovers(before, snapshot(net.run_root, net.network), ["web"], [first.ip_address, second.ip_address], chains,
                     ignore_links=[net.network.bridge]) == []


def test_none_host_and_container_networks(net):
    before = snapshot(net.run_root, net.network)
    alone = net.attach("alone", network="none")
    links = net.in_netns(alone.netns, "ip", "-o", "link").stdout.splitlines()
    assert len(links) == 1 and "lo:" in links[0] and "UP" in links[0]
    net.httpd(alone.netns)
    time.sleep(0.3)  # 127.0.0.1 in that namespace is not the host's: wait_for_port cannot see it
    assert net.http_get(alone.netns, "127.0.0.1") == "hello from the container\n"
    with open(alone.etc_files["/etc/hosts"]) as handle:
        assert "127.0.1.1\talone" in handle.read()

    host = net.attach("hostnet", network="host", dns=["192.0.2.53"])
    assert host.spec_namespace() is None and host.netns is None
    with open(host.etc_files["/etc/resolv.conf"]) as handle:
        assert "nameserver 192.0.2.53" in handle.read()

    web = net.attach("web", dns=["192.0.2.54"])
    side = net.attach("sidecar", network="container:web", peer="web")
    assert side.spec_namespace() == web.spec_namespace() and side.ip_address == web.ip_address
    with open(side.etc_files["/etc/resolv.conf"]) as handle:
        assert "nameserver 192.0.2.54" in handle.read()  # the resolver of the container it joins
    with pytest.raises(NetworkError, match="container:missing: container missing has no network namespace"):
        net.attach("lost", network="container:missing", peer="missing")
    assert net.detach("sidecar") and netns.is_netns(web.netns)  # the peer's namespace stays
    for proc in net.procs:
        proc.kill()
    for cid in ("alone", "hostnet", "web"):
        assert net.detach(cid)
    assert leftovers(before, snapshot(net.run_root, net.network), ["alone", "web"], [web.ip_address],
                     ignore_links=[net.network.bridge]) == []


def test_kill_9_during_attach_then_detach_cleans_everything(net):
    """A run killed while portmap hangs after making its rules (bridge done, its result saved):
    the next detach, from the state saved before each step, removes the veth, lease, DNAT chain
    and namespace."""
    faulty = faulty_plugin_dir(net.tmp, "portmap", PORTMAP_THEN_HANG)
    port = free_port()
    before = snapshot(net.run_root, net.network)
    script = (
        "import json, sys\n"
        "from ansible_collections.undock.oci.plugins.module_utils.runtime.network import lifecycle, plan\n"
        "from ansible_collections.undock.oci.plugins.module_utils.runtime.network.plan import BridgeNetwork\n"
        "args = json.loads(sys.argv[1])\n"
        "p = plan.plan_network('bridge', args['ports'])._replace(network=BridgeNetwork(**args['net']))\n"
        "lifecycle.attach('victim', p, args['state'], args['run'], cni_path=args['cni'])\n")
    args = {"ports": ["127.0.0.1:%d:80" % port], "net": net.network._asdict(), "state": net.state_dir("victim"),
            "run": net.run_root, "cni": [faulty, "/usr/lib/cni"]}
    net.ids.append("victim")
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(args)], start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=python_path()))
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(faulty, "started-ADD")):
            assert proc.poll() is None and time.monotonic() < deadline, "attach ended before portmap hung"
            time.sleep(0.05)
        during = snapshot(net.run_root, net.network)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    state = load_state(net.state_dir("victim"))
    assert state.phase == "attaching" and state.result and netns.is_netns(state.netns)
    address = state.result["ips"][0]["address"].split("/")[0]
    chains = container_chains(during, ["victim"])
    assert during.leases - before.leases and len(chains) == 1, chains  # the DNAT chain

    assert net.detach("victim")
    assert leftovers(before, snapshot(net.run_root, net.network), ["victim"], [address], chains,
                     ignore_links=[net.network.bridge]) == []


def _legacy_conflist(network: BridgeNetwork, ports: bool = True):
    """The conflist of the previous version: masquerade by the bridge plugin, the firewall plugin."""
    legacy = bridge_conflist(network, ports)
    legacy["plugins"][0]["ipMasq"] = True
    legacy["plugins"].append({"type": "firewall", "backend": "iptables"})
    return legacy


@pytest.fixture
def legacy(monkeypatch):
    """attach as the previous version did (real plugins, its conflist): the containers it left
    are detached by this one with the conflist their state records."""
    monkeypatch.setattr(conflist, "bridge_conflist", _legacy_conflist)  # what lifecycle imports when it attaches


def test_lost_result_still_removes_firewall_rules(net, legacy):
    """A container of the previous version killed after a plugin returned but before its result
    was saved: the address comes from the IPAM lease, so that the firewall plugin's DEL still
    finds its rules, and its masquerade chain goes."""
    before = snapshot(net.run_root, net.network)
    web = net.attach("web")
    chains = container_chains(snapshot(net.run_root, net.network), ["web"])
    assert [p["type"] for p in web.conflist["plugins"]] == ["bridge", "firewall"] and len(chains) == 1
    path = os.path.join(net.state_dir("web"), "network.json")
    with open(path) as handle:
        data = json.load(handle)
    data.update(result=None, phase="attaching")
    with open(path, "w") as handle:
        json.dump(data, handle)
    assert any(web.ip_address + "/32" in line for line in snapshot(net.run_root, net.network).iptables)
    assert net.detach("web")
    assert leftovers(before, snapshot(net.run_root, net.network), ["web"], [web.ip_address], chains,
                     ignore_links=[net.network.bridge]) == []


def test_plugin_timeout_and_error_json_roll_back(net):
    # a real error from a real plugin: Linux interface names have at most 15 characters
    bad = net.network._replace(name=net.network.name + "-bad", bridge="undock-bridge-name-too-long")
    before = snapshot(net.run_root, [net.network, bad])
    faulty = faulty_plugin_dir(net.tmp, "portmap", HANGING_PLUGIN)
    with pytest.raises(CniPluginError, match=r"CNI plugin portmap ADD for container slow: no answer after 1 seconds"):
        net.attach("slow", ports=["127.0.0.1:%d:80" % free_port()], cni_path=[faulty, "/usr/lib/cni"], timeout=1)
    with pytest.raises(CniPluginError) as err:
        net.attach("bad", bridge=bad)
    assert "CNI plugin bridge ADD for container bad: exit 1:" in str(err.value)
    assert err.value.error and "code" in err.value.error and "error JSON" in str(err.value)
    assert load_state(net.state_dir("slow")) is None and load_state(net.state_dir("bad")) is None
    assert leftovers(before, snapshot(net.run_root, [net.network, bad]), ["slow", "bad"], [],
                     ignore_links=[net.network.bridge]) == []


def test_detach_without_state_file_cleans_default_layout(net):
    """state_dir lost: detach still finds the namespace and lease of the network by container id."""
    before = snapshot(net.run_root, net.network)
    web = net.attach("web", ports=["127.0.0.1:%d:80" % free_port()])
    chains = container_chains(snapshot(net.run_root, net.network), ["web"])
    os.unlink(os.path.join(net.state_dir("web"), "network.json"))
    assert net.detach("web")
    assert leftovers(before, snapshot(net.run_root, net.network), ["web"], [web.ip_address], chains,
                     ignore_links=[net.network.bridge]) == []
    with pytest.raises(NetworkError, match="container id '../x'"):
        lifecycle.detach("../x", net.state_dir("x"), net.run_root)




def test_stale_masquerade_jump_does_not_block_detach(net, legacy):
    """A container of the previous version (ipMasq): a jump left to its masquerade chain by an
    earlier failure (another address) would make the bridge plugin's DEL fail with 'chain busy':
    detach removes it first."""
    before = snapshot(net.run_root, net.network)
    web = net.attach("web")
    chain = masquerade.chain_name(net.network.name, "web")
    stale = net.network.subnet.rsplit(".", 1)[0] + ".250"
    subprocess.run(["iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", stale + "/32", "-j", chain],
                   check=True, timeout=20)
    assert net.detach("web")
    assert leftovers(before, snapshot(net.run_root, net.network), ["web"], [web.ip_address, stale], [chain],
                     ignore_links=[net.network.bridge]) == []


def test_parallel_attaches_get_distinct_addresses(net):
    """Different containers may be attached at once (CNI allows it; host-local locks its leases)."""
    import threading
    results: dict = {}
    errors: list = []

    def run(cid: str) -> None:
        try:
            results[cid] = net.attach(cid)
        except Exception as err:  # reported below, with the container
            errors.append((cid, err))

    threads = [threading.Thread(target=run, args=("p%d" % i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len({state.ip_address for state in results.values()}) == 3
    # each attach checked the network's rules; the lock let only one of them add them
    assert _network_rules(snapshot(net.run_root, net.network)) == _wanted(net.network)


@pytest.fixture
def outside(net):
    """A namespace outside the bridge, on a veth of its own to the host (10.93.N.0/30), with no
    route back to the bridge's subnet: only a masqueraded connection gets an answer from it
    (10.93: test_network's bridges are on 10.91, test_container_network's on 10.92)."""
    path = os.path.join(net.tmp, "outside")
    open(path, "w").close()
    subprocess.run(["unshare", "--net=" + path, "true"], check=True, timeout=20)
    host_if, peer_if = "uo%d" % (os.getpid() % 100000), "uop%d" % (os.getpid() % 100000)
    prefix = "10.93.%d" % (os.getpid() % 250)
    try:
        for argv in (["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if, "netns", path],
                     ["ip", "addr", "add", prefix + ".1/30", "dev", host_if], ["ip", "link", "set", host_if, "up"]):
            subprocess.run(argv, check=True, timeout=20)
        for argv in (["ip", "addr", "add", prefix + ".2/30", "dev", peer_if], ["ip", "link", "set", peer_if, "up"],
                     ["ip", "link", "set", "lo", "up"]):
            assert net.in_netns(path, *argv).returncode == 0
        yield path, prefix + ".2"
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10, check=False)
        netns.remove(path)


def _forward_policy() -> str:
    for line in subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True, check=True,
                               timeout=20).stdout.splitlines():
        if line.startswith("-P FORWARD "):
            return line.split()[2]
    raise AssertionError("no FORWARD policy")


def test_masquerade_and_forward_with_a_drop_policy(net, outside):
    """A container reaches an address outside its subnet through the network's masquerade, also
    when FORWARD's policy is DROP (the network's FORWARD rules let it through)."""
    path, address = outside
    net.httpd(path, address)
    web = net.attach("web")
    assert net.http_get(web.netns, address) == "hello from the container\n"
    policy = _forward_policy()
    subprocess.run(["iptables", "-w", "-P", "FORWARD", "DROP"], check=True, timeout=20)
    try:
        assert net.http_get(web.netns, address) == "hello from the container\n"
        second = net.attach("second")  # a start while the policy is DROP
        assert net.http_get(second.netns, address) == "hello from the container\n"
    finally:
        subprocess.run(["iptables", "-w", "-P", "FORWARD", policy], check=True, timeout=20)


@pytest.mark.parametrize("libc", [True, False], ids=["libc", "util-linux unshare"])
def test_namespace_made_through_libc_or_unshare(tmp_path, monkeypatch, libc):
    """A namespace of its own (only its loopback, up with 127.0.0.1: no CNI loopback plugin runs),
    whether libc's unshare is had through ctypes or not (a host without ctypes cannot be made
    here: its lookup is what is replaced)."""
    if not libc:
        monkeypatch.setattr(netns, "libc_functions", lambda *names: None)
    path = str(tmp_path / "ns")
    assert netns.create(path) and netns.is_netns(path)
    assert not netns.create(path)  # there already
    try:
        ours = os.stat(path).st_ino
        assert ours != os.stat("/proc/self/ns/net").st_ino
        links = subprocess.run(["nsenter", "--net=" + path, "ip", "-o", "link"], capture_output=True, text=True,
                               timeout=15, check=True).stdout.splitlines()
        assert len(links) == 1 and "lo:" in links[0] and ",UP," in links[0], links
        addresses = subprocess.run(["nsenter", "--net=" + path, "ip", "-o", "-4", "addr", "show", "dev", "lo"],
                                   capture_output=True, text=True, timeout=15, check=True).stdout
        assert "inet 127.0.0.1/8" in addresses, addresses
    finally:
        assert netns.remove(path)
    assert not os.path.exists(path)

