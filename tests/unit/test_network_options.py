# -*- coding: utf-8 -*-
"""runtime/network: ports parsing, the network plan, resolv.conf and hosts, the conflists."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import UndockError
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.conflist import (
    bridge_conflist, plugin_config)
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.dnsfiles import (
    FALLBACK_SERVERS, dns_servers, hosts_file, resolv_conf)
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.errors import NetworkError
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.plan import DEFAULT_NETWORK, plan_network
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.ports import PortMapping, parse_port, parse_ports
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.state import NetworkState


@pytest.mark.parametrize("spec,expected", [
    ("8080:80", ["8080:80/tcp"]),
    (" 8080:80/UDP ", ["8080:80/udp"]),
    ("127.0.0.1:8080:80", ["127.0.0.1:8080:80/tcp"]),
    ("0.0.0.0:8080:80/tcp", ["8080:80/tcp"]),
    ("8000-8002:80-82", ["8000:80/tcp", "8001:81/tcp", "8002:82/tcp"]),
    ("10.0.0.1:53:53/udp", ["10.0.0.1:53:53/udp"]),
])
def test_port_forms(spec, expected):
    assert [str(m) for m in parse_port(spec)] == expected


@pytest.mark.parametrize("spec,words", [
    ("80", "a host port is required"),
    ("abc:80", "'abc' is not a port number"),
    ("0:80", "'0' is not a port number"),
    ("8080:65536", "'65536' is not a port number"),
    ("8080:80/sctp", "protocol 'sctp' is not tcp or udp"),
    ("/tcp", "no ports before"),
    ("1.2.3:8080:80", "'1.2.3' is not an IPv4 address"),
    ("[::1]:8080:80", "IPv6 host addresses are not supported"),
    ("127.0.0.1::80", "the host port is empty"),
    ("8000-8001:80", "differ in length"),
    ("9000-8000:80-1080", "ends before it starts"),
    ("1-2000:1-2000", "longer than 1024 ports"),
    ("a:b:c:d", "expected [hostip:]hostport:ctrport"),
    (True, "expected a string"),
    (None, "expected a string"),
])
def test_port_errors_name_the_entry(spec, words):
    with pytest.raises(NetworkError) as err:
        parse_port(spec)
    assert words in str(err.value)
    assert isinstance(err.value, UndockError)


def test_ports_sorted_merged_and_clashes():
    assert [str(p) for p in parse_ports(["9090:90", "8080:80", "8080:80"])] == \
        ["8080:80/tcp", "9090:90/tcp"]
    # the same host port on tcp and udp, or on two distinct host addresses, is fine
    assert len(parse_ports(["53:53/tcp", "53:53/udp", "127.0.0.1:80:80", "127.0.0.2:80:81"])) == 4
    with pytest.raises(NetworkError, match="host port 8080/tcp is already published by '8080:80/tcp'"):
        parse_ports(["8080:80", "8080:81"])
    with pytest.raises(NetworkError, match="already published"):
        parse_ports(["127.0.0.1:8080:80", "8080:81"])
    with pytest.raises(NetworkError, match="already published"):
        parse_ports(["8000-8010:80-90", "8005:1"])
    with pytest.raises(NetworkError, match="must be a list"):
        parse_ports("8080:80")


def test_port_cni_form():
    assert PortMapping("udp", "127.0.0.1", 5353, 53).cni() == \
        {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}


def test_plan_modes():
    bridge = plan_network(None, ["8080:80"], ["1.1.1.1"])
    assert (bridge.mode, bridge.own_netns, bridge.network) == ("bridge", True, DEFAULT_NETWORK)
    assert bridge.normalized() == {"network": "bridge", "ports": ["8080:80/tcp"], "dns": ["1.1.1.1"]}
    assert plan_network("none").own_netns and plan_network("none").network is None
    host = plan_network("host", dns=["9.9.9.9"])
    assert (host.own_netns, host.dns) == (False, ("9.9.9.9",))
    joined = plan_network("container:web-1")
    assert (joined.mode, joined.peer, joined.own_netns) == ("container", "web-1", False)
    assert joined.normalized()["network"] == "container:web-1"
    # equal options give equal plans: the runtime's idempotency compares normalized()
    assert plan_network("bridge", ["80:80", "0.0.0.0:81:81/TCP"]).normalized() == \
        plan_network("bridge", ["81:81/tcp", "80:80/tcp", "80:80"]).normalized()


@pytest.mark.parametrize("network,ports,dns,words", [
    ("bridged", [], [], "network must be none, host, bridge or container:NAME, not 'bridged'"),
    ("container:", [], [], "'' is not a container name"),
    ("container:../x", [], [], "is not a container name"),
    ("host", ["80:80"], [], "ports need network: bridge (network is host)"),
    ("none", ["80:80"], [], "ports need network: bridge"),
    ("container:web", [], ["1.1.1.1"], "dns cannot be set with network container:web"),
    ("bridge", [], ["dns.example"], "dns: 'dns.example' is not an IP address"),
    ("bridge", [], "1.1.1.1", "dns must be a list"),
    ("bridge", "8080:80", [], "ports must be a list"),
])
def test_plan_errors(network, ports, dns, words):
    with pytest.raises(NetworkError) as err:
        plan_network(network, ports, dns)
    assert words in str(err.value)


def test_default_network_stays_clear_of_podman():
    import ipaddress
    ours = ipaddress.ip_network(DEFAULT_NETWORK.subnet)
    assert not ours.overlaps(ipaddress.ip_network("10.88.0.0/16"))  # podman's default
    assert not ours.overlaps(ipaddress.ip_network("10.89.0.0/16"))  # podman network create's pool
    assert (DEFAULT_NETWORK.name, DEFAULT_NETWORK.bridge, DEFAULT_NETWORK.gateway) == ("undock", "undock0", "10.90.0.1")


def test_dns_servers_normalised():
    assert dns_servers(["1.1.1.1", " 2001:DB8::1 ", "1.1.1.1"]) == ("1.1.1.1", "2001:db8::1")


HOST = "# managed\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0 trust-ad\n"


def test_resolv_from_host_drops_loopback_servers():
    text = resolv_conf(host_text=HOST, upstream_text="")
    assert "nameserver 192.0.2.53" in text and "127.0.0.53" not in text
    assert "search corp.example" in text and "options edns0 trust-ad" in text


def test_resolv_host_network_keeps_loopback():
    assert "nameserver 127.0.0.53" in resolv_conf(host_text=HOST, own_netns=False)


def test_resolv_dns_option_replaces_servers_only():
    text = resolv_conf(["1.1.1.1"], host_text=HOST)
    assert [line for line in text.splitlines() if line.startswith("nameserver")] == ["nameserver 1.1.1.1"]
    assert "search corp.example" in text


def test_resolv_only_loopback_uses_resolved_upstream_then_fallback():
    local = "nameserver 127.0.0.53\nnameserver ::1\n"
    assert "nameserver 198.51.100.1" in resolv_conf(host_text=local, upstream_text="nameserver 198.51.100.1\n")
    text = resolv_conf(host_text=local, upstream_text="")
    assert [line.split()[1] for line in text.splitlines() if line.startswith("nameserver")] == list(FALLBACK_SERVERS)


def test_hosts_file():
    assert hosts_file("web", "10.90.0.5").splitlines()[-1] == "10.90.0.5\tweb"
    assert hosts_file("web", None).splitlines()[-1] == "127.0.1.1\tweb"
    assert "localhost" in hosts_file("", None) and len(hosts_file("", None).splitlines()) == 2


def test_bridge_conflist_and_plugin_config():
    conflist = bridge_conflist(DEFAULT_NETWORK)
    assert [p["type"] for p in conflist["plugins"]] == ["bridge", "portmap"]
    assert conflist["plugins"][0]["ipMasq"] is False  # the network masquerades once (firewall.py), not per container
    # a container that publishes no port is attached without portmap, which would do nothing for it
    assert [p["type"] for p in bridge_conflist(DEFAULT_NETWORK, ports=False)["plugins"]] == ["bridge"]
    ipam = conflist["plugins"][0]["ipam"]
    assert ipam["dataDir"] == "/run/undock/cni/ipam"  # host-wide, as the bridge; never podman's /var/lib/cni
    assert ipam["ranges"] == [[{"subnet": "10.90.0.0/16", "gateway": "10.90.0.1"}]]
    runtime = {"portMappings": [{"hostPort": 1, "containerPort": 2, "protocol": "tcp", "hostIP": ""}]}
    first = plugin_config(conflist, conflist["plugins"][0], runtime, None)
    assert (first["name"], first["cniVersion"]) == ("undock", "1.0.0")
    assert "runtimeConfig" not in first and "prevResult" not in first  # bridge declares no capability
    second = plugin_config(conflist, conflist["plugins"][1], runtime, {"ips": []})
    assert second["runtimeConfig"] == runtime and second["prevResult"] == {"ips": []}
    assert "name" not in conflist["plugins"][1]  # the list itself is left alone


def test_state_spec_namespace():
    assert NetworkState("c", "host", {}).spec_namespace() is None
    assert NetworkState("c", "bridge", {}, netns="/run/undock/netns/c").spec_namespace() == \
        {"type": "network", "path": "/run/undock/netns/c"}
