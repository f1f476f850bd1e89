# -*- coding: utf-8 -*-
"""The desired container (runtime.options.normalize) and its config.json (runtime.spec):
docker's CMD/ENTRYPOINT rules, merged env, users from the image's files without leaving
the rootfs, capabilities, sizes, mounts; every config validated against the runtime-spec
schema Debian ships."""

from __future__ import annotations

import os

import pytest

from harness.specschema import SpecSchema, runtime_spec_dir

from ansible_collections.undock.oci.plugins.module_utils.runtime import options as O
from ansible_collections.undock.oci.plugins.module_utils.runtime.errors import ContainerError
from ansible_collections.undock.oci.plugins.module_utils.runtime.spec import apply_network, build_spec
from ansible_collections.undock.oci.plugins.module_utils.runtime.users import ProcessUser, resolve_user

IMAGE = {"config": {"Env": ["PATH=/bin", "A=1"], "Cmd": ["/bin/sh", "-c", "echo hi"], "WorkingDir": "/srv",
                    "Volumes": {"/data": {}}, "User": ""}}
BOUNDING = [c for c in O.ALL_CAPABILITIES if c != "CAP_SYS_RESOURCE"]


@pytest.fixture(scope="module")
def schema():
    return SpecSchema(runtime_spec_dir(), "config-schema.json")


def desired(**params):
    params.setdefault("name", "web")
    return O.normalize(params, IMAGE, "example.com/img:1", "sha256:" + "a" * 64)


def spec_of(record, user=None):
    dirs = {t: "/vol" + t for t in [m["target"] for m in record["volumes"] + record["mounts"]
                                    if m["type"] == "volume"] + record["image_volumes"]}
    namespace = None if record["network"] == "host" else {"type": "network", "path": "/run/undock/netns/web"}
    return build_spec(record, user or ProcessUser(0, 0), dirs, {"/etc/hosts": "/b/hosts"}, network_namespace=namespace)


@pytest.mark.parametrize("command, entrypoint, image, args", [
    (None, None, {"Cmd": ["a", "b"]}, ["a", "b"]),
    (None, None, {"Entrypoint": ["e"], "Cmd": ["c"]}, ["e", "c"]),
    (["x"], None, {"Entrypoint": ["e"], "Cmd": ["c"]}, ["e", "x"]),
    ("x 'y z'", None, {"Cmd": ["c"]}, ["x", "y z"]),
    (None, ["n"], {"Entrypoint": ["e"], "Cmd": ["c"]}, ["n"]),        # a new entrypoint clears the image's Cmd
    (["x"], ["n"], {"Entrypoint": ["e"], "Cmd": ["c"]}, ["n", "x"]),
    (None, [], {"Entrypoint": ["e"], "Cmd": ["c"]}, None),              # reset entrypoint, nothing left to run
])
def test_args_follow_docker_rules(command, entrypoint, image, args):
    if args is None:
        with pytest.raises(ContainerError, match="nothing to run"):
            O.process_args(command, entrypoint, image)
    else:
        assert O.process_args(command, entrypoint, image) == args


def test_image_defaults_merged_and_options_win():
    record = desired(env={"A": 2, "B": True})
    assert record["env"] == {"A": "2", "B": "true", "PATH": "/bin"}
    assert record["working_dir"] == "/srv"
    assert record["image_volumes"] == ["/data"]
    assert record["user"] == "0"
    assert desired(command=["/bin/sh", "-c", "echo hi"]) == desired()


def test_equal_intentions_normalise_equal():
    same = dict(cap_drop=["net_raw"], cpus=0.5, ulimits=["nofile=1024:2048"], stop_signal="term",
                restart_policy="on-failure:0", tmpfs=["/run:size=1m,mode=755"])
    a = desired(memory="64m", **same)
    b = desired(memory=67108864, cap_drop=["CAP_NET_RAW"], cpus="0.5", ulimits={"RLIMIT_NOFILE": "1024:2048"},
                stop_signal=15, restart_policy="on-failure", tmpfs={"/run": "mode=0755,size=1048576"})
    assert a == b
    assert O.differences(a, desired(memory="65m", **same)) == ["memory"]
    assert "CAP_NET_RAW" not in a["capabilities"]


@pytest.mark.parametrize("text, size", [("64m", 64 << 20), ("1.5g", 3 << 29), ("512MiB", 512 << 20), ("100", 100),
                                        ("2kb", 2048)])
def test_sizes(text, size):
    assert O.parse_size(text, "memory") == size


def test_capabilities():
    assert O.capabilities([], [], False, BOUNDING) == sorted(O.DEFAULT_CAPABILITIES)
    assert O.capabilities(["sys_admin"], ["ALL"], False, BOUNDING) == ["CAP_SYS_ADMIN"]
    assert "CAP_SYS_RESOURCE" not in O.capabilities([], [], True, BOUNDING)
    with pytest.raises(ContainerError, match="CAP_SYS_RESOURCE not in this host's capability bounding set"):
        O.capabilities(["sys_resource"], [], False, BOUNDING)
    with pytest.raises(ContainerError, match="not a Linux capability"):
        O.capabilities(["fly"], [], False, BOUNDING)


@pytest.mark.parametrize("params, message", [
    (dict(volumes=["relative:/x"]), None), (dict(volumes=["/h:rel"]), "not an absolute path"),
    (dict(volumes=["/h:/x:zz"]), "unknown option"), (dict(volumes=["/h:/x/../y"]), "contains '..'"),
    (dict(volumes=["/h:/x"], tmpfs=["/x"]), "also mounted"), (dict(memory="lots"), "not a size"),
    (dict(restart_policy="sometimes"), "restart_policy"), (dict(stop_signal="SIGNOPE"), "not a signal"),
    (dict(network="bridged"), "network must be none, host, bridge or container:NAME"),
    (dict(network="host", ports=["80:80"]), "ports need network: bridge"), (dict(name="-bad"), "container name"),
    (dict(ulimits=["nofile=10:5"]), "above the hard limit"), (dict(mounts=[{"type": "bind", "source": "v",
                                                                             "target": "/x"}]), "absolute host path"),
])
def test_invalid_options_name_the_field(params, message):
    if message is None:  # a volume name is fine
        assert desired(**params)["volumes"][0]["type"] == "volume"
        return
    with pytest.raises(ContainerError, match=message):
        desired(**params)


def test_default_spec_is_valid(schema):
    spec = spec_of(desired())
    assert schema.errors(spec) == []
    assert spec["process"]["args"] == ["/bin/sh", "-c", "echo hi"]
    assert spec["process"]["cwd"] == "/srv"
    assert {"type": "network", "path": "/run/undock/netns/web"} in spec["linux"]["namespaces"]
    assert spec["linux"]["maskedPaths"] and spec["linux"]["readonlyPaths"]
    assert [m for m in spec["mounts"] if m["destination"] == "/data"][0]["source"] == "/vol/data"
    spec["linux"]["resources"]["memory"] = {"limit": "64m"}  # the schema does catch a wrong type
    assert schema.errors(spec) == ["$.linux.resources.memory.limit: '64m' is not of type 'integer'"]


def test_every_option_gives_a_valid_spec(schema):
    record = desired(command="sleep 1", entrypoint=["/bin/env"], env={"X": "y"}, user="nobody", working_dir="/w",
                     hostname="h", volumes=["/srv/a:/a:ro", "named:/n"], read_only=True,
                     mounts=[{"type": "tmpfs", "target": "/t", "options": "size=1m"},
                             {"type": "volume", "source": "v2", "target": "/v2"},
                             {"type": "bind", "source": "/etc", "target": "/a/etc", "read_only": True}],
                     tmpfs=["/run"], cap_add=["NET_ADMIN"], cap_drop=["mknod"], no_new_privileges=True,
                     memory="64m", cpus=1.5, pids_limit=50, ulimits={"nofile": "512:1024", "core": "unlimited"},
                     sysctls={"net.ipv4.ip_forward": 1}, annotations={"a": "b"}, network="host")
    spec = spec_of(record, ProcessUser(65534, 65534, [100], "/home/nobody"))
    assert schema.errors(spec) == []
    assert spec["root"]["readonly"] is True
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["user"] == {"uid": 65534, "gid": 65534, "additionalGids": [100]}
    assert "HOME=/home/nobody" in spec["process"]["env"]
    assert spec["linux"]["resources"]["memory"] == {"limit": 64 << 20}
    assert spec["linux"]["resources"]["cpu"] == {"quota": 150000, "period": 100000}
    assert spec["linux"]["resources"]["pids"] == {"limit": 50}
    assert {"type": "RLIMIT_CORE", "soft": O.UNLIMITED, "hard": O.UNLIMITED} in spec["process"]["rlimits"]
    assert [n for n in spec["linux"]["namespaces"] if n["type"] == "network"] == []
    assert spec["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}
    destinations = [m["destination"] for m in spec["mounts"]]
    assert destinations.index("/a") < destinations.index("/a/etc")
    assert "CAP_NET_ADMIN" in spec["process"]["capabilities"]["bounding"]
    assert "CAP_MKNOD" not in spec["process"]["capabilities"]["effective"]


def test_privileged_spec(schema):
    spec = spec_of(desired(privileged=True))
    assert schema.errors(spec) == []
    assert "maskedPaths" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "CAP_SYS_RESOURCE" not in spec["process"]["capabilities"]["bounding"]


def write(root, path, data):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(data)


def test_users_from_the_image(tmp_path):
    root = str(tmp_path / "rootfs")
    write(root, "/etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    write(root, "/etc/group", "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\nstaff:x:50:\n")
    assert resolve_user(root, "app") == ProcessUser(1000, 1000, [10], "/home/app")
    assert resolve_user(root, "1000") == ProcessUser(1000, 1000, [10], "/home/app")
    assert resolve_user(root, "app:staff") == ProcessUser(1000, 50, [], "/home/app")
    assert resolve_user(root, "4242") == ProcessUser(4242, 0, [], "/")
    assert resolve_user(root, "4242:7") == ProcessUser(4242, 7, [], "/")
    with pytest.raises(ContainerError, match="'ghost' is not in the image's /etc/passwd"):
        resolve_user(root, "ghost")
    with pytest.raises(ContainerError, match="group 'nogroup'"):
        resolve_user(root, "app:nogroup")


def test_symlinked_passwd_never_reads_the_host(tmp_path):
    """An image whose /etc/passwd points at the host's is read inside the rootfs only."""
    root = str(tmp_path / "rootfs")
    os.makedirs(os.path.join(root, "etc"))
    os.symlink("/etc/passwd", os.path.join(root, "etc", "passwd.host"))
    os.symlink("../../../../../../../etc/os-release", os.path.join(root, "etc", "passwd"))
    # followed on the host this would reach a real file; inside this rootfs there is nothing there
    with pytest.raises(ContainerError, match="not in the image's /etc/passwd"):
        resolve_user(root, "root")
    write(root, "/etc/real", "root:x:7:7::/r:/bin/sh\n")
    os.unlink(os.path.join(root, "etc", "passwd"))
    os.symlink("/etc/real", os.path.join(root, "etc", "passwd"))  # absolute: restarts at the rootfs
    assert resolve_user(root, "root").uid == 7


def test_network_defaults_to_bridge_and_is_normalised():
    record = desired(ports=["8080:80", "127.0.0.1:8081:81/TCP"], dns=["192.0.2.1"])
    assert (record["network"], record["ports"], record["dns"]) == ("bridge", ["8080:80/tcp", "127.0.0.1:8081:81/tcp"],
                                                                   ["192.0.2.1"])
    assert desired(ports=["127.0.0.1:8081:81", "8080:80/tcp"], dns=["192.0.2.1"])["ports"] == record["ports"]
    assert desired(network="container:db")["network"] == "container:db"


def test_apply_network_replaces_only_what_attach_made():
    record = desired(volumes=["/srv/resolv:/etc/resolv.conf:ro"])
    planned = {"/etc/hosts": "/b/hosts", "/etc/resolv.conf": "/b/resolv.conf"}
    spec = build_spec(record, ProcessUser(0, 0), {t: "/vol" + t for t in record["image_volumes"]}, planned, network_namespace={"type": "network", "path": "/a"})
    made = {"/etc/hosts": "/n/hosts", "/etc/resolv.conf": "/n/resolv.conf"}
    updated = apply_network(spec, {"type": "network", "path": "/peer"}, made, planned)
    sources = {m["destination"]: m["source"] for m in updated["mounts"]}
    assert sources["/etc/hosts"] == "/n/hosts" and sources["/etc/resolv.conf"] == "/srv/resolv"  # the user's mount
    assert [n for n in updated["linux"]["namespaces"] if n["type"] == "network"] == [{"type": "network", "path": "/peer"}]
    assert apply_network(spec, None, made, planned)["linux"]["namespaces"] == [
        n for n in spec["linux"]["namespaces"] if n["type"] != "network"]


@pytest.mark.parametrize("given, name, number", [
    ("term", "SIGTERM", 15), ("15", "SIGTERM", 15), ("SIGRTMIN+3", "SIGRTMIN+3", 37), ("rtmin+3", "SIGRTMIN+3", 37),
    ("37", "SIGRTMIN+3", 37), ("SIGRTMIN", "SIGRTMIN", 34), ("SIGRTMAX-2", "SIGRTMIN+28", 62),
])
def test_stop_signals_real_time_ones_included_name_the_same_signal(given, name, number):
    """systemd images stop with SIGRTMIN+3 (docker's spelling); runc is given its number."""
    assert O.signal_name(given) == name
    assert O.signal_number(name) == number


@pytest.mark.parametrize("given", ["SIGRTMIN+31", "SIGRTMAX+1", "RTMIN-1", "SIGRTMINX", "99"])
def test_real_time_signals_out_of_range_are_refused(given):
    with pytest.raises(ContainerError, match="not a signal"):
        O.signal_name(given)
