# -*- coding: utf-8 -*-
"""Containers on CNI networks, with real runc and Debian's containernetworking-plugins: a busybox
httpd published on 127.0.0.1, reached from the host, from a second container over the bridge and
from a third in its network namespace (container:NAME); idempotency of ports and dns; the
namespace kept across a restart by the monitor; start after a reboot attaches again; nothing
left after state=absent (no netns, veth, lease or iptables rule).

Traffic goes only to 127.0.0.1 and to addresses on the test's own bridge. The tests use a
bridge, subnet and network name of their own (never the default undock0, nor test_network's).
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from harness import images as I
from harness.engine import python_path, service
from harness.network import (PORTMAP_THEN_HANG, container_chains, faulty_plugin_dir, free_port, leftovers, snapshot,
                             wait_for_port)
from harness.specschema import SpecSchema, runtime_spec_dir

from ansible_collections.undock.oci.plugins.module_utils.common.errors import UndockError
from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers
from ansible_collections.undock.oci.plugins.module_utils.runtime.network import firewall, lifecycle
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.plan import BridgeNetwork
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/bridge"),
                                reason="needs root and containernetworking-plugins")
PAGE = b"hello from the container\n"
REQUEST = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 %s 80"


def test_network() -> BridgeNetwork:
    pid = os.getpid()
    return BridgeNetwork(name="undock-ctest-%d" % pid, bridge="udc%d" % (pid % 100000),
                         subnet="10.92.%d.0/24" % (pid % 250))


test_network.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def httpd_image(session_registry):
    extra = [I.Entry("bin/" + a, "symlink", target="busybox", mode=0o777) for a in ("httpd", "nc", "printf")]
    extra += [I.Entry("www/", "dir", mode=0o755), I.Entry("www/index.html", data=PAGE)]
    return I.push_layers(session_registry, "containers/httpd", "1", [I.tar_layer(I.busybox_entries()),
                                                                      I.tar_layer(extra)])


class Env:
    def __init__(self, tmp_path, registry, image):
        self.network = test_network()
        self.images = service(tmp_path, registry)
        self.svc = ContainerService(self.images, bridge=self.network)
        self.image = image.ref
        self.run_root = self.images.run_root
        self.tmp = str(tmp_path)

    def containers(self) -> Containers:
        return Containers(self.images.store(), self.run_root, bridge=self.network)

    def ids(self, names):
        """The names and the CNI container ids of these containers (the plugins' rules carry the ids)."""
        return list(names) + [self.containers().cni_id(n) for n in names]

    def info(self, name: str):
        return self.containers().info(name)

    def close(self) -> None:
        store = self.images.store(create=False)
        if store is not None:
            manager = Containers(store, self.run_root, bridge=self.network)
            for name in reversed(manager.names()):
                manager.remove(name)
        for entry in sorted(M.mountinfo(), key=lambda e: len(e["point"]), reverse=True):
            if entry["point"].startswith(os.path.realpath(self.tmp) + "/"):
                subprocess.run(["umount", "-l", entry["point"]], check=False, timeout=30)
        subprocess.run(["ip", "link", "del", self.network.bridge], capture_output=True, timeout=10, check=False)
        firewall.remove(self.network)  # the network's own rules, left by design like its bridge
        try:
            os.unlink(os.path.join(self.network.ipam_dir, self.network.name + ".rules.lock"))
        except FileNotFoundError:
            pass
        shutil.rmtree(os.path.join(self.network.ipam_dir, self.network.name), ignore_errors=True)


@pytest.fixture
def env(tmp_path, registry, httpd_image):
    made = Env(tmp_path, registry, httpd_image)
    try:
        yield made
    finally:
        made.close()


def wait_for(what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met within %s s" % timeout)


def get(port: int) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read()
    finally:
        conn.close()


def bridge_ports(bridge: str) -> set:
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True, timeout=30).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def left(env, before, names, addresses, chains=()):
    """leftovers() of these containers; interfaces that other test runs on this machine make
    meanwhile (test_network's bridges and veths) count only when they hang on our bridge."""
    after = snapshot(env.run_root, env.network)
    others = after.links - before.links - bridge_ports(env.network.bridge)
    return leftovers(before, after, env.ids(names), addresses, chains, ignore_links=others | {env.network.bridge})


def test_httpd_on_the_bridge_reached_from_host_and_containers_then_nothing_left(env):
    before = snapshot(env.run_root, env.network)
    port = free_port()
    # names of this run only: the leftover check looks for them in iptables, beside other runs' rules
    WEB, CLIENT, SIDE = ("%s-%d" % (n, os.getpid()) for n in ("web", "client", "side"))
    web = dict(name=WEB, image=env.image, command="httpd -f -p 80 -h /www", stop_timeout=1,
               ports=["127.0.0.1:%d:80" % port], dns=["192.0.2.53"], restart_policy="always")
    first = env.svc.ensure(web)
    info = first.values["container"]
    assert info["state"] == "running" and info["network"] == "bridge", info
    assert info["ports"] == ["127.0.0.1:%d:80/tcp" % port]
    assert info["ip_address"].rsplit(".", 1)[0] == env.network.subnet.rsplit(".", 1)[0]
    assert any("attached container %s to network bridge at %s" % (WEB, info["ip_address"]) in a for a in first.actions)
    with open(os.path.join(info["bundle"], "config.json")) as handle:
        spec = json.load(handle)
    assert SpecSchema(runtime_spec_dir(), "config-schema.json").errors(spec) == []
    assert {"type": "network", "path": os.path.join(env.run_root, "netns", WEB)} in spec["linux"]["namespaces"]

    wait_for_port("127.0.0.1", port)
    assert get(port).endswith(PAGE)

    # a second container over the bridge; a third in web's namespace; both see their /etc files
    env.svc.ensure(dict(name=CLIENT, image=env.image, stop_timeout=0,
                        command=["sh", "-c", "cat /etc/resolv.conf /etc/hosts; echo lo-flags $(cat /sys/class/net/lo/flags); "
                                 + REQUEST % info["ip_address"]]))
    env.svc.ensure(dict(name=SIDE, image=env.image, stop_timeout=0, network="container:" + WEB,
                        command=["sh", "-c", REQUEST % "127.0.0.1"]))
    client = wait_for(lambda: env.info(CLIENT)["state"] == "stopped" and env.info(CLIENT))
    assert client["exit_code"] == 0 and "hello from the container" in client["logs"], client["logs"]
    assert "nameserver 127.0.0.53" not in client["logs"]
    assert "%s\t%s" % (client["ip_address"], CLIENT) in client["logs"]  # /etc/hosts rewritten after CNI ADD
    assert "lo-flags 0x9" in client["logs"], client["logs"]  # IFF_UP | IFF_LOOPBACK: lo up without a plugin
    side = wait_for(lambda: env.info(SIDE)["state"] == "stopped" and env.info(SIDE))
    assert "hello from the container" in side["logs"] and side["ip_address"] == info["ip_address"], side

    # killed from outside: the monitor restarts it in the same namespace, at the same address
    os.kill(info["pid"], signal.SIGKILL)
    again = wait_for(lambda: env.info(WEB)["restart_count"] == 1 and env.info(WEB)["state"] == "running"
                     and env.info(WEB))
    assert again["ip_address"] == info["ip_address"]
    wait_for_port("127.0.0.1", port)
    assert get(port).endswith(PAGE)

    during = snapshot(env.run_root, env.network)
    chains = container_chains(during, env.ids([WEB, CLIENT, SIDE]))
    # web's DNAT chain, and no masquerade chain of a container (the network masquerades once)
    assert len(chains) == 1 and during.leases - before.leases and bridge_ports(env.network.bridge), during
    for name in (SIDE, CLIENT, WEB):
        assert env.svc.ensure(dict(name=name, state="absent")).changed
    assert left(env, before, [WEB, CLIENT, SIDE], [info["ip_address"], client["ip_address"]], chains) == []
    assert bridge_ports(env.network.bridge) == set()
    with pytest.raises(OSError):
        get(port)


def test_ports_and_dns_idempotency_and_recreation(env):
    port, other = free_port(), free_port()
    web = dict(name="web", image=env.image, command="httpd -f -p 80 -h /www", stop_timeout=1,
               ports=["127.0.0.1:%d:80" % port, "%d:80" % other], dns=["192.0.2.53", "192.0.2.54"])
    assert env.svc.ensure(web).changed
    same = env.svc.ensure(dict(web, ports=["%d:80/tcp" % other, "127.0.0.1:%d:80/TCP" % port, "%d:80" % other]))
    assert not same.changed and same.actions == [], same.actions
    assert not env.svc.ensure(web).changed

    moved = env.svc.ensure(dict(web, ports=["127.0.0.1:%d:80" % other]))
    assert moved.changed and any("these fields changed: ports" in a for a in moved.actions), moved.actions
    assert moved.before["ports"] != moved.after["ports"] == ["127.0.0.1:%d:80/tcp" % other]
    wait_for_port("127.0.0.1", other)
    assert get(other).endswith(PAGE)
    with pytest.raises(OSError):
        get(port)

    resolver = env.svc.ensure(dict(web, ports=["127.0.0.1:%d:80" % other], dns=["192.0.2.55"]))
    assert resolver.changed and any("these fields changed: dns" in a for a in resolver.actions), resolver.actions
    assert resolver.after["dns"] == ["192.0.2.55"]
    state = lifecycle.load_state(os.path.join(env.run_root, "containers", "web", "network"))
    with open(state.etc_files["/etc/resolv.conf"]) as handle:
        assert "nameserver 192.0.2.55" in handle.read()

    # the default is bridge: a container created without network joins it
    plain = env.svc.ensure(dict(name="plain", image=env.image, command="sleep 60", stop_timeout=0))
    assert plain.values["container"]["network"] == "bridge" and plain.values["container"]["ip_address"]
    # stopped: the network goes; started: it comes back
    stopped = env.svc.ensure(dict(name="plain", state="stopped"))
    assert stopped.changed and stopped.values["container"]["ip_address"] is None
    assert not os.path.lexists(os.path.join(env.run_root, "netns", "plain"))
    assert env.svc.ensure(dict(name="plain", state="started")).values["container"]["ip_address"]


def test_start_after_a_reboot_attaches_again(env):
    port = free_port()
    web = dict(name="web", image=env.image, command="httpd -f -p 80 -h /www", stop_timeout=1,
               ports=["127.0.0.1:%d:80" % port])
    info = env.svc.ensure(web).values["container"]
    state = json.load(open(os.path.join(env.run_root, "containers", "web", "state.json")))
    os.kill(state["monitor_pid"], signal.SIGKILL)
    os.kill(info["pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists("/proc/%d/status" % info["pid"]) or
             "Z" in open("/proc/%d/status" % info["pid"]).read().split("State:")[1][:4])
    # what a boot forgets: the namespace with its veth, the firewall rules, the mounts, run_root
    lifecycle.detach("web", os.path.join(env.run_root, "containers", "web", "network"), env.run_root)
    subprocess.run(["umount", "-l", os.path.join(info["bundle"], "rootfs")], check=True, timeout=30)
    subprocess.run(["rm", "-rf", env.run_root], check=True, timeout=30)
    assert env.info("web")["state"] == "stopped" and env.info("web")["ip_address"] is None

    back = env.svc.ensure(web)
    assert back.changed and back.values["container"]["state"] == "running"
    assert any("attached container web to network bridge" in a for a in back.actions), back.actions
    wait_for_port("127.0.0.1", port)
    assert get(port).endswith(PAGE)


def test_missing_cni_plugins_name_the_package(env, tmp_path):
    empty = str(tmp_path / "no-cni")
    os.makedirs(empty)
    svc = ContainerService(env.images, bridge=env.network, cni_path=[empty])
    before = snapshot(env.run_root, env.network)
    lonely = "lonely-%d" % os.getpid()
    with pytest.raises(UndockError, match="CNI plugin bridge ADD for container %s: not found in .*"
                                          r"\(Debian package containernetworking-plugins\)" % lonely):
        svc.ensure(dict(name=lonely, image=env.image, command="sleep 60"))
    assert svc.ensure(dict(name=lonely, state="absent")).changed
    assert left(env, before, [lonely], []) == []


def flush_chains(chains):
    """What a firewall reload does to the container's rules: its chains and the jumps to them go."""
    for table in ("nat", "filter"):
        rules = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True, timeout=30,
                               check=True).stdout.splitlines()
        for rule in rules:
            words = shlex.split(rule)
            if words[:1] == ["-A"] and any(w in chains for w in words[2:]) and words[1] not in chains:
                subprocess.run(["iptables", "-w", "-t", table, "-D"] + words[1:], check=True, timeout=30)
        for chain in chains:
            if "-N %s" % chain in rules:
                subprocess.run(["iptables", "-w", "-t", table, "-F", chain], check=True, timeout=30)
                subprocess.run(["iptables", "-w", "-t", table, "-X", chain], check=True, timeout=30)


@pytest.mark.parametrize("lost", ["state file", "run directory", "state file and iptables rules"])
def test_removal_after_the_network_state_was_lost_cleans_everything(env, lost):
    """network.json deleted, or the container's part of run_root wiped, while the namespace, veth,
    lease and iptables rules exist: removal finds them all, and the rules the plugins' DEL finds
    already gone are no failure."""
    before = snapshot(env.run_root, env.network)
    port = free_port()
    name = "lost-%d" % os.getpid()
    info = env.svc.ensure(dict(name=name, image=env.image, command="httpd -f -p 80 -h /www", stop_timeout=1,
                               ports=["127.0.0.1:%d:80" % port])).values["container"]
    wait_for_port("127.0.0.1", port)
    assert get(port).endswith(PAGE)
    during = snapshot(env.run_root, env.network)
    chains = container_chains(during, env.ids([name]))
    assert len(chains) == 1 and during.leases - before.leases and bridge_ports(env.network.bridge), during  # DNAT
    run_dir = os.path.join(env.run_root, "containers", name)
    if lost.startswith("state file"):
        os.unlink(os.path.join(run_dir, "network", "network.json"))
    if lost.endswith("iptables rules"):
        flush_chains(chains)
    else:
        subprocess.run(["rm", "-rf", run_dir], check=True, timeout=30)

    assert env.svc.ensure(dict(name=name, state="absent")).changed
    assert left(env, before, [name], [info["ip_address"]], chains) == []
    assert not [line for line in snapshot(env.run_root, env.network).iptables - before.iptables if "dport %d" % port in line]
    assert bridge_ports(env.network.bridge) == set()
    with pytest.raises(OSError):
        get(port)


def test_a_real_cni_del_failure_still_fails_the_removal(env, tmp_path):
    """Only rules already gone are forgiven: a plugin whose DEL fails otherwise fails the removal
    (after the other plugins ran), and the next removal, with working plugins, cleans up."""
    plugins = tmp_path / "cni"
    plugins.mkdir()
    for name in os.listdir("/usr/lib/cni"):
        os.symlink(os.path.join("/usr/lib/cni", name), str(plugins / name))
    os.unlink(str(plugins / "portmap"))
    (plugins / "portmap").write_text('#!/bin/sh\nif [ "$CNI_COMMAND" = DEL ]; then\n'
                                     '  echo \'{"cniVersion": "1.0.0", "code": 11, "msg": "portmap is broken"}\'\n'
                                     '  exit 1\nfi\nexec /usr/lib/cni/portmap\n')
    os.chmod(str(plugins / "portmap"), 0o755)
    before = snapshot(env.run_root, env.network)
    name = "broken-%d" % os.getpid()
    broken = ContainerService(env.images, bridge=env.network, cni_path=[str(plugins)])
    info = broken.ensure(dict(name=name, image=env.image, command="sleep 60", stop_timeout=0,
                              ports=["127.0.0.1:%d:80" % free_port()])).values["container"]
    os.unlink(os.path.join(env.run_root, "containers", name, "network", "network.json"))
    with pytest.raises(UndockError, match="CNI plugin portmap DEL for container %s-[0-9a-f]{8}: exit 1: portmap is "
                                          "broken" % name):
        broken.ensure(dict(name=name, state="absent"))
    assert env.info(name) is not None  # not removed: the failure is reported, nothing forgotten
    assert env.svc.ensure(dict(name=name, state="absent")).changed
    assert left(env, before, [name], [info["ip_address"]]) == []


def test_two_run_roots_share_the_bridge_and_its_leases(env, registry, tmp_path):
    """Two stores, each with its run_root, one container each on one bridge, both named alike:
    the bridge is one per host, so are its leases (the network's ipam_dir): two addresses, both
    containers reachable, and removing one leaves the other's lease and rules alone."""
    other_images = service(tmp_path / "second", registry, run_root=str(tmp_path / "second" / "run"))
    other = ContainerService(other_images, bridge=env.network)
    assert other_images.run_root != env.run_root
    name = "twin-%d" % os.getpid()
    before = snapshot(env.run_root, env.network)
    ports = [free_port(), free_port()]
    try:
        infos = [svc.ensure(dict(name=name, image=env.image, command="httpd -f -p 80 -h /www", stop_timeout=1,
                                 ports=["127.0.0.1:%d:80" % port])).values["container"]
                 for svc, port in zip((env.svc, other), ports)]
        addresses = [i["ip_address"] for i in infos]
        assert addresses[0] != addresses[1], addresses
        for port in ports:
            wait_for_port("127.0.0.1", port)
            assert get(port).endswith(PAGE)
        during = snapshot(env.run_root, env.network)
        assert {os.path.basename(lease) for lease in during.leases - before.leases} == set(addresses)
        ids = [Containers(s.images.store(), s.images.run_root, bridge=env.network).cni_id(name) for s in (env.svc, other)]
        assert ids[0] != ids[1]

        assert env.svc.ensure(dict(name=name, state="absent")).changed
        assert get(ports[1]).endswith(PAGE)  # the other one is untouched
        assert {os.path.basename(lease) for lease in snapshot(env.run_root, env.network).leases - before.leases} \
            == {addresses[1]}
    finally:
        other.ensure(dict(name=name, state="absent"))
    after = snapshot(env.run_root, env.network)
    others = after.links - before.links - bridge_ports(env.network.bridge)
    assert leftovers(before, after, [name] + ids, addresses, container_chains(during, ids),
                     ignore_links=others | {env.network.bridge}) == []
    assert bridge_ports(env.network.bridge) == set()


def runc_states(run_root: str):
    """The runtime's containers under ``run_root`` (containers.py's layout): id -> status."""
    root = os.path.join(run_root, "runtime", "runc")
    out = subprocess.run(["runc", "--root", root, "list", "--format", "json"], capture_output=True, text=True,
                         timeout=30).stdout
    return {c["id"]: c["status"] for c in json.loads(out or "null") or []}


def monitor_state(env, name: str):
    try:
        with open(os.path.join(env.run_root, "containers", name, "state.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def monitor_gone(state) -> bool:
    """Whether the monitor of ``state`` has exited (a zombie that init has yet to reap counts)."""
    try:
        with open("/proc/%d/stat" % state["monitor_pid"]) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (KeyError, OSError):
        return bool(state)


def test_a_cni_add_failing_while_runc_creates_leaves_nothing_running(env):
    """The bridge's CNI ADD runs while the monitor has runc create the container. When it fails
    for real (a /30 network holds one address, taken), the monitor deletes the created container,
    records why and leaves, the network is undone, and a start once an address is free runs it."""
    env.network = env.network._replace(subnet=env.network.subnet.replace(".0/24", ".0/30"))
    env.svc = ContainerService(env.images, bridge=env.network)
    before = snapshot(env.run_root, env.network)
    FIRST, SECOND = ("%s-%d" % (n, os.getpid()) for n in ("first", "second"))
    first = env.svc.ensure(dict(name=FIRST, image=env.image, command="sleep 60", stop_timeout=0))
    assert first.values["container"]["state"] == "running"
    second = dict(name=SECOND, image=env.image, command="sleep 60", stop_timeout=0)
    with pytest.raises(UndockError, match="no IP addresses available"):
        env.svc.ensure(second)
    state = monitor_state(env, SECOND)
    assert state["status"] == "exited" and "did not start the container" in state["error"], state
    wait_for(lambda: monitor_gone(state))
    assert SECOND not in runc_states(env.run_root)
    info = env.info(SECOND)
    assert info["state"] == "stopped" and info["ip_address"] is None, info
    assert not os.path.lexists(os.path.join(env.run_root, "netns", SECOND))

    assert env.svc.ensure(dict(name=FIRST, state="absent")).changed
    back = env.svc.ensure(second).values["container"]
    assert back["state"] == "running" and back["ip_address"] == first.values["container"]["ip_address"], back
    assert env.svc.ensure(dict(name=SECOND, state="absent")).changed
    assert left(env, before, [FIRST, SECOND], [back["ip_address"]]) == []


def test_kill_9_between_create_and_start_is_repaired(env):
    """The engine killed while CNI ADD runs (a portmap that hangs), with the container created by
    the runtime and waiting for the go-ahead: its monitor deletes it and leaves, and the next run
    attaches anew and runs it, published; nothing is left after its removal."""
    faulty = faulty_plugin_dir(env.tmp, "portmap", PORTMAP_THEN_HANG)
    env.images.present(env.image)
    before = snapshot(env.run_root, env.network)
    port = free_port()
    VICTIM = "victim-%d" % os.getpid()
    params = dict(name=VICTIM, image=env.image, command="httpd -f -p 80 -h /www", stop_timeout=1,
                  ports=["127.0.0.1:%d:80" % port])
    script = (
        "import json, sys\n"
        "from harness.engine import service\n"
        "from ansible_collections.undock.oci.plugins.module_utils.runtime.network.plan import BridgeNetwork\n"
        "from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService\n"
        "args = json.loads(sys.argv[1])\n"
        "images = service(args['tmp'], registry=None, registries_conf=args['conf'])\n"
        "ContainerService(images, bridge=BridgeNetwork(**args['net']), cni_path=args['cni']).ensure(args['params'])\n")
    args = {"tmp": env.tmp, "conf": os.path.join(env.tmp, "conf", "registries.conf"), "net": env.network._asdict(),
            "cni": [faulty, "/usr/lib/cni"], "params": params}
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(args)], start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=python_path()))
    try:
        wait_for(lambda: os.path.exists(os.path.join(faulty, "started-ADD")) or proc.poll() is not None, 60)
        assert proc.poll() is None, "the engine ended before portmap hung"
        # runc create ran beside the ADD; the container waits for the engine's go-ahead
        assert wait_for(lambda: runc_states(env.run_root).get(VICTIM)) == "created"
        assert monitor_state(env, VICTIM)["status"] == "starting"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    state = wait_for(lambda: monitor_gone(monitor_state(env, VICTIM)) and monitor_state(env, VICTIM))
    assert state["status"] == "exited" and "did not start the container" in state["error"], state
    assert VICTIM not in runc_states(env.run_root)

    back = env.svc.ensure(params)
    assert back.changed and back.values["container"]["state"] == "running", back.actions
    wait_for_port("127.0.0.1", port)
    assert get(port).endswith(PAGE)
    address = back.values["container"]["ip_address"]
    assert env.svc.ensure(dict(name=VICTIM, state="absent")).changed
    assert left(env, before, [VICTIM], [address]) == []
