# -*- coding: utf-8 -*-
"""The bridge network inside a node: the node root carries Debian's CNI plugins and iptables
(tests/harness/node_root.py), so oci_container's default network works under systemd too.

The node runs with ``network: none``: a network namespace of its own, holding only its
loopback, so that the node's bridge ``undock0`` and its firewall rules never touch the host's
(a node on the host's bridge network would hold the same default subnet twice, 10.90.0.0/16
outside and inside). Its image comes from an OCI layout copied in, since such a node cannot
reach the test registry. Inside the node: busybox httpd on the default bridge with a
published port answers at 127.0.0.1:PORT, and ``state: absent`` leaves no veth, network
namespace, lease or port rule behind."""

from __future__ import annotations

import ipaddress

from harness import images as I
from harness.ansible import run_play_on

PAGE = b"hello from the bridge in a node\n"
PORT = 18080
IMAGE = "localhost/undock-test/httpd:1"
FETCH = ("import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:%d/', timeout=5).read().decode(), end='')"
         % PORT)
#: what the node's engine keeps of its networks (its default run_root)
NETNS_DIR = "/run/undock/netns"
LEASES = "/run/undock/cni/ipam/undock"


def httpd_layout(path: str) -> None:
    extra = [I.Entry("bin/httpd", "symlink", target="busybox", mode=0o777),
             I.Entry("www/", "dir", mode=0o755), I.Entry("www/index.html", data=PAGE)]
    I.write_image(path, [I.tar_layer(I.busybox_entries()), I.tar_layer(extra)], tag="1")


def test_httpd_on_the_default_bridge_inside_a_node(boot_node, tmp_path):
    node = boot_node(network="none")
    layout = str(tmp_path / "httpd-layout")
    httpd_layout(layout)
    web = dict(name="web", image=IMAGE, ports=["%d:80" % PORT], stop_timeout=2,
               command="httpd -f -p 80 -h /www")
    leftovers = ("ip -o link show type veth; ls -A %s 2>/dev/null; ls -A %s 2>/dev/null | grep -E '^[0-9.]+$'; "
                 "iptables -w -t nat -S | grep -e '--dport %d' || true" % (NETNS_DIR, LEASES, PORT))
    tasks = [
        {"ansible.builtin.copy": {"src": layout + "/", "dest": "/root/httpd-layout/"}},
        {"undock.oci.oci_image": {"name": IMAGE, "source": "oci:/root/httpd-layout:1"}},
        {"undock.oci.oci_container": web},
        {"ansible.builtin.command": {"argv": ["python3", "-c", FETCH]}, "until": "r3.rc == 0", "retries": 40,
         "delay": 0.5},
        {"ansible.builtin.shell": leftovers},
        {"undock.oci.oci_container": web},
        {"undock.oci.oci_container": dict(web, state="absent")},
        {"ansible.builtin.shell": leftovers},
        {"ansible.builtin.command": {"argv": ["systemctl", "is-system-running"]}},
    ]
    results, proc = run_play_on(node.name, node.host_vars(), tasks)
    copied, image, started, fetched, during, again, gone, after, system = results
    for number, result in enumerate(results):
        assert not result.get("failed"), (number, result, proc.stdout[-6000:])
    assert image["changed"], image
    info = started["container"]
    assert started["changed"] and info["state"] == "running" and info["unit"] == "undock-web.service", info
    assert info["network"] == "bridge" and ipaddress.ip_address(info["ip_address"]) in ipaddress.ip_network("10.90.0.0/16")
    assert fetched["stdout"] == PAGE.decode().rstrip("\n"), fetched
    # while it runs, the check does see what it looks for (a check that cannot fail proves nothing)
    assert "veth" in during["stdout"] and info["ip_address"] in during["stdout"] and "--dport %d" % PORT in during["stdout"]
    assert again["changed"] is False, again
    assert gone["changed"], gone
    assert after["stdout"] == "", after
    assert system["stdout"] == "running", system
