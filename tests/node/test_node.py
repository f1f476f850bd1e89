# -*- coding: utf-8 -*-
"""Real systemd nodes (tests/harness/node.py): a Debian root booted with systemd as PID 1 in a
container of this collection's engine, reached by Ansible through the undock.oci.oci
connection. Two nodes run at once, each reaches the test registry on the host's loopback,
and a removed node leaves no mount behind; nodes on the collection's bridge network have a
network namespace each, bind the same port and reach each other."""

from __future__ import annotations

import os
import uuid

from harness.ansible import run_play_on
from harness.node import STORE

from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M


def mounts_of(name):
    where = os.path.join(STORE, "containers", name)
    return [e["point"] for e in M.mountinfo() if e["point"] == where or e["point"].startswith(where + "/")]


def test_two_nodes_boot_systemd_side_by_side_and_leave_nothing(boot_node, registry):
    first, second = boot_node(), boot_node()
    for node in (first, second):
        assert node.sh("cat /proc/1/comm").strip() == "systemd"
        assert node.sh("systemctl is-system-running").strip() == "running"
        assert node.sh("hostname").strip() == node.name
        # the node's own store lies on tmpfs: overlay mounts nest in it
        assert node.sh("stat -f -c %T /var/lib/undock /run").split() == ["tmpfs", "tmpfs"]
        # the host's loopback: the test registry answers in the node
        code = node.sh("python3 -c \"import urllib.request as u; print(u.urlopen('%s/v2/').status)\"" % registry.url)
        assert code.strip() == "200"
    marker = uuid.uuid4().hex
    first.sh("echo %s > /etc/marker" % marker)
    assert second.exec(["cat", "/etc/marker"]).rc != 0  # each node has its own rootfs
    assert mounts_of(first.name)
    first.remove()
    assert first.info() is None and not mounts_of(first.name)
    assert second.sh("systemctl is-system-running").strip() == "running"


def test_a_play_reaches_the_node_through_the_connection_plugin(boot_node):
    node = boot_node()
    tasks = [
        {"ansible.builtin.command": {"argv": ["systemctl", "is-system-running"]}},
        {"ansible.builtin.copy": {"content": "from ansible\n", "dest": "/etc/copied.txt", "mode": "0640"}},
        {"ansible.builtin.stat": {"path": "/etc/copied.txt"}},
        {"ansible.builtin.command": {"argv": ["cat", "/proc/1/comm", "/etc/copied.txt"]}},
        {"ansible.builtin.copy": {"content": "from ansible\n", "dest": "/etc/copied.txt", "mode": "0640"}},
    ]
    results, proc = run_play_on(node.name, node.host_vars(), tasks)
    for result in results:
        assert not result.get("failed"), (result, proc.stdout[-4000:])
    running, copy, stat, command, again = results
    assert running["stdout"] == "running"
    assert copy["changed"] and not again["changed"]
    assert stat["stat"]["exists"] and stat["stat"]["mode"] == "0640" and stat["stat"]["size"] == 13, stat
    assert command["stdout_lines"] == ["systemd", "from ansible"]
    assert node.sh("cat /etc/copied.txt") == "from ansible\n"


def test_nodes_on_a_network_of_their_own_bind_the_same_port_and_reach_each_other(boot_node):
    """Each node in its own network namespace (the collection's bridge network): the same port
    in both, no collision, and one reaches the other's service at its address."""
    nodes = [boot_node("net", network="bridge"), boot_node("net", network="bridge")]
    addresses = []
    for node in nodes:
        address = node.info()["ip_address"]
        assert address and address in node.sh("ip -4 -o addr show eth0"), address
        addresses.append(address)
        node.sh("mkdir -p /srv/www && hostname > /srv/www/name && "
                "systemd-run --unit web -p WorkingDirectory=/srv/www python3 -m http.server 8080")
    assert addresses[0] != addresses[1]
    for node, other, address in ((nodes[0], nodes[1], addresses[1]), (nodes[1], nodes[0], addresses[0])):
        fetch = ("python3 -c \"import time, urllib.request as u\n"
                 "for n in range(50):\n"
                 "    try: print(u.urlopen('http://%s:8080/name', timeout=5).read().decode()); break\n"
                 "    except OSError: time.sleep(0.1)\"" % address)
        assert node.sh(fetch).strip() == other.name
