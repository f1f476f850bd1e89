# -*- coding: utf-8 -*-
"""System containers on a real store: busybox images and an image in the atomic format
made here (templates, manifest defaults, renameFiles, hostfs), checked out as hardlinks
into two slots, updated, rolled back and uninstalled. systemd is the one thing not real
here (PID 1 is not systemd on this machine): its calls go through the engine's one seam,
recorded by RecordingSystemd, and host files land under a temporary root. The default
unit's command line is run for real with runc, and runc's hand-over of systemd's sockets
(LISTEN_FDS) is checked for real too; the node tests run the rest under systemd."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys

import pytest

from harness import images as I
from harness.engine import service
from harness.systemd import RecordingSystemd

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ImageInUseError
from ansible_collections.undock.oci.plugins.module_utils.image.prune import PruneFilters, prune
from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore
from ansible_collections.undock.oci.plugins.module_utils.system.errors import SystemContainerError, SystemctlError
from ansible_collections.undock.oci.plugins.module_utils.system.service import SystemContainers
from ansible_collections.undock.oci.plugins.module_utils.system.systemd import Systemd
from ansible_collections.undock.oci.plugins.module_utils.system.units import parse_unit, values_of

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="checkouts keep owners and runc needs root")


def busybox_image(layout, tag, marker, cmd=None):
    layers = [I.tar_layer(I.busybox_entries()), I.tar_layer(I.marker_entries(marker, "amd64"))]
    extra = {"Cmd": cmd or ["sh", "-c", "cat /etc/undock-fixture"]}
    return I.write_image(layout, layers, tag=tag, config_extra=extra)


ATOMIC_SERVICE = """\
[Unit]
Description=kv store $NAME on port $PORT

[Service]
ExecStart=$EXEC_START
ExecStop=$EXEC_STOP
WorkingDirectory=$DESTDIR
Environment=PEERS=${PEERS}
"""

ATOMIC_CONFIG = """\
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
             "args": ["/bin/sh", "-c", "echo port $PORT uuid $UUID"],
             "env": ["PATH=/bin", "STATE=$STATE_DIRECTORY/$NAME"],
             "capabilities": {"bounding": [$ALL_PROCESS_CAPABILITIES]}},
 "root": {"path": "rootfs", "readonly": true},
 "hostname": "$NAME",
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}}
"""


def atomic_image(layout, tag, version):
    files = [
        I.Entry("exports/", "dir", mode=0o755),
        I.Entry("exports/service.template", data=ATOMIC_SERVICE.encode()),
        I.Entry("exports/config.json.template", data=ATOMIC_CONFIG.encode()),
        I.Entry("exports/tmpfiles.template", data=b"d $STATE_DIRECTORY/$NAME 0700 root root -\n"),
        I.Entry("exports/manifest.json", data=json.dumps({
            "defaultValues": {"PORT": "2379", "PEERS": "none"},
            "renameFiles": {"/etc/kv": "/etc/kv-$NAME", "/usr/local/bin/kvctl": "/usr/local/bin/$NAME-ctl"},
        }).encode()),
        I.Entry("exports/hostfs/", "dir", mode=0o755),
        I.Entry("exports/hostfs/etc/", "dir", mode=0o755),
        I.Entry("exports/hostfs/etc/kv/", "dir", mode=0o750),
        I.Entry("exports/hostfs/etc/kv/kv.conf", data=("version=%s\n" % version).encode(), mode=0o640),
        I.Entry("exports/hostfs/usr/", "dir", mode=0o755),
        I.Entry("exports/hostfs/usr/local/", "dir", mode=0o755),
        I.Entry("exports/hostfs/usr/local/bin/", "dir", mode=0o755),
        I.Entry("exports/hostfs/usr/local/bin/kvctl", data=b"#!/bin/sh\necho kvctl\n", mode=0o755),
        I.Entry("exports/hostfs/usr/local/bin/link", "symlink", target="/etc/shadow"),
        I.Entry("etc/", "dir", mode=0o755),
        I.Entry("etc/kv-version", data=("%s\n" % version).encode()),
    ]
    return I.write_image(layout, [I.tar_layer(I.busybox_entries()), I.tar_layer(files)], tag=tag)


@pytest.fixture
def env(tmp_path):
    layout = str(tmp_path / "layout")
    images = service(tmp_path)
    systemd = RecordingSystemd()
    host = tmp_path / "host"
    host.mkdir()
    engine = SystemContainers(images, host_root=str(host), systemd=systemd)

    def load(name, tag):
        outcome = images.present(name, source="oci:%s:%s" % (layout, tag), pull="always")
        return outcome.image

    return {"layout": layout, "images": images, "systemd": systemd, "host": host, "engine": engine, "load": load,
            "tmp": tmp_path}


def tmpfiles_really_create(host, conf):
    """What systemd-tmpfiles --create makes of the rendered entries, under the test's host root."""
    tool = shutil.which("systemd-tmpfiles")
    if tool is None:
        pytest.skip("systemd-tmpfiles is not installed (package systemd)")
    done = subprocess.run([tool, "--create", "--root=%s" % host, str(host / "etc/tmpfiles.d" / conf)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, check=False)
    assert done.returncode == 0, done.stdout


def unit_text(host, unit):
    return (host / "etc/systemd/system" / unit).read_text()


def test_default_install_checkout_hold_and_idempotence(env):
    busybox_image(env["layout"], "1", "first")
    env["load"]("localhost/sys/busybox:1", "1")
    engine, systemd, host = env["engine"], env["systemd"], env["host"]
    out = engine.install({"name": "kv", "image": "localhost/sys/busybox:1"}, start=True, enabled=True)
    assert out.changed
    root = engine.deployments.root
    assert root == os.path.join(env["images"].storage_root, "system")
    assert os.readlink(os.path.join(root, "kv")) == "kv.0"
    slot = os.path.join(root, "kv.0")
    # the rootfs is hardlinks into the unpacked layers: no data copied
    layers = LayerStore(env["images"].store())
    busybox_in_store = [os.path.join(layers.diff_dir(d), "bin/busybox") for d in layers.present()
                        if os.path.exists(os.path.join(layers.diff_dir(d), "bin/busybox"))]
    assert len(busybox_in_store) == 1
    assert os.stat(os.path.join(slot, "rootfs/bin/busybox")).st_ino == os.stat(busybox_in_store[0]).st_ino
    assert os.path.islink(os.path.join(slot, "rootfs/bin/sh"))
    config = json.loads(open(os.path.join(slot, "config.json")).read())
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert config["process"]["terminal"] is False
    assert config["process"]["args"] == ["sh", "-c", "cat /etc/undock-fixture"]
    assert "network" not in [n["type"] for n in config["linux"]["namespaces"]]  # the host's network
    assert "CAP_SYS_RESOURCE" not in config["process"]["capabilities"]["bounding"]
    service_text = unit_text(host, "kv.service")
    assert service_text == open(os.path.join(slot, "kv.service")).read()
    entries = parse_unit(service_text, "kv.service")
    assert values_of(entries, "Service", "ExecStart")[0].endswith(" run --bundle %s kv" % slot)
    assert systemd.changes() == [["systemctl", "daemon-reload"], ["systemctl", "enable", "kv.service"],
                                 ["systemctl", "start", "kv.service"]]
    info = json.loads(open(os.path.join(slot, "info")).read())
    assert info["image"] == "localhost/sys/busybox:1" and info["digest"].startswith("sha256:")
    assert info["values"]["NAME"] == "kv" and info["values"]["DESTDIR"] == slot
    # the image is held while installed: removal refused, naming the system container
    with pytest.raises(ImageInUseError, match="system:kv.0"):
        env["images"].absent("localhost/sys/busybox:1")
    pruned = prune(env["images"], PruneFilters(all_images=True))
    assert pruned.values["kept"] == ["localhost/sys/busybox:1"] and "system:kv.0" in pruned.warnings[0]
    assert len(layers.present()) == 2  # its layers kept too
    # a second run changes nothing and asks systemd nothing but questions
    again = engine.install({"name": "kv", "image": "localhost/sys/busybox:1"}, start=True, enabled=True)
    assert not again.changed, again.actions
    assert systemd.changes() == []
    assert again.before == again.after and again.before["kv.service"] == service_text
    described = engine.info()
    assert [d["name"] for d in described] == ["kv"] and described[0]["active_slot"] == 0
    assert described[0]["active"] == {"kv.service": True}


def test_the_default_unit_command_runs_the_container_with_runc(env):
    busybox_image(env["layout"], "1", "ran", cmd=["sh", "-c", "cat /etc/undock-fixture; touch /x 2>/dev/null || "
                                                  "echo read-only"])
    env["load"]("localhost/sys/busybox:1", "1")
    name = "undock-sys-test-%d" % os.getpid()
    engine, host = env["engine"], env["host"]
    engine.install({"name": name, "image": "localhost/sys/busybox:1"})
    entries = parse_unit(unit_text(host, "%s.service" % name), "unit")
    start = shlex.split(values_of(entries, "Service", "ExecStart")[0])
    stop_post = shlex.split(values_of(entries, "Service", "ExecStopPost")[0])
    try:
        done = subprocess.run(start, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, check=False)
    finally:
        subprocess.run(stop_post, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    assert done.returncode == 0, done.stdout
    assert b"name=ran" in done.stdout and b"read-only" in done.stdout, done.stdout


def test_runc_hands_systemd_sockets_to_the_container(env):
    """What a .socket unit gives the service: LISTEN_FDS=1 and LISTEN_PID=runc's pid, the socket at fd 3.
    runc must pass it on as fd 3 with LISTEN_PID=1 (the container's init), without --preserve-fds."""
    busybox_image(env["layout"], "1", "sock", cmd=["sh", "-c", "echo fds=$LISTEN_FDS pid=$LISTEN_PID; "
                                                   "ls -l /proc/self/fd/3"])
    env["load"]("localhost/sys/busybox:1", "1")
    name = "undock-sys-sock-%d" % os.getpid()
    engine = env["engine"]
    engine.install({"name": name, "image": "localhost/sys/busybox:1", "listen": ["127.0.0.1:1"]})
    entries = parse_unit(unit_text(env["host"], "%s.service" % name), "unit")
    assert values_of(entries, "Unit", "Requires") == ["%s.socket" % name]
    start = shlex.split(values_of(entries, "Service", "ExecStart")[0])
    stop_post = shlex.split(values_of(entries, "Service", "ExecStopPost")[0])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    # as systemd does: the socket at fd 3, LISTEN_PID the pid that execs runc (exec keeps it)
    launcher = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_FDS'] = '1'; "
                "os.environ['LISTEN_PID'] = str(os.getpid()); os.execvp(sys.argv[2], sys.argv[2:])")
    try:
        done = subprocess.run([sys.executable, "-c", launcher, str(listener.fileno())] + start,
                              pass_fds=(listener.fileno(),), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=60, check=False)
    finally:
        listener.close()
        subprocess.run(stop_post, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    assert done.returncode == 0, done.stdout
    assert b"fds=1 pid=1" in done.stdout and b"socket:[" in done.stdout, done.stdout


def test_atomic_image_values_hostfs_update_rollback_uninstall(env):
    atomic_image(env["layout"], "1", "1")
    atomic_image(env["layout"], "2", "2")
    env["load"]("localhost/sys/kv:1", "1")
    engine, systemd, host = env["engine"], env["systemd"], env["host"]
    params = {"name": "kv", "image": "localhost/sys/kv:1", "values": {"PORT": 4001},
              "after": ["store.service"], "requires": ["store.service"]}
    out = engine.install(params, start=True, enabled=True)
    assert out.changed
    slot0 = os.path.join(engine.deployments.root, "kv.0")
    service_text = unit_text(host, "kv.service")
    entries = parse_unit(service_text, "kv.service")
    assert values_of(entries, "Unit", "Description") == ["kv store kv on port 4001"]  # user value over the default
    assert values_of(entries, "Service", "Environment") == ["PEERS=none"]          # the manifest's default
    assert values_of(entries, "Unit", "After") == ["store.service"]
    assert values_of(entries, "Service", "SuccessExitStatus") == ["143 SIGTERM"]
    config = json.loads(open(os.path.join(slot0, "config.json")).read())
    uuid = out.after["values"]["UUID"]
    assert config["process"]["args"][-1] == "echo port 4001 uuid %s" % uuid
    assert "STATE=/var/lib/kv" in config["process"]["env"]
    assert "CAP_CHOWN" in config["process"]["capabilities"]["bounding"]
    assert (host / "etc/tmpfiles.d/kv.conf").read_text() == "d /var/lib/kv 0700 root root -\n"
    tmpfiles_really_create(host, "kv.conf")
    assert oct((host / "var/lib/kv").stat().st_mode & 0o7777) == "0o700"
    # hostfs, renamed as renameFiles says, with the modes of the image
    conf = host / "etc/kv-kv/kv.conf"
    assert conf.read_text() == "version=1\n" and oct(conf.stat().st_mode & 0o777) == "0o640"
    assert (host / "usr/local/bin/kv-ctl").read_text().startswith("#!/bin/sh")
    assert not (host / "usr/local/bin/link").exists()  # a symlink in hostfs is not copied
    assert any("usr/local/bin/link" in w for w in out.warnings)
    info = json.loads(open(os.path.join(slot0, "info")).read())
    assert set(info["host_files"]) == {"/etc/kv-kv/kv.conf", "/usr/local/bin/kv-ctl"}
    assert all(v.startswith("sha256:") for v in info["host_files"].values())
    assert systemd.changes() == [["systemctl", "daemon-reload"], ["systemd-tmpfiles", "--create",
                                                                  str(host / "etc/tmpfiles.d/kv.conf")],
                                 ["systemctl", "enable", "kv.service"], ["systemctl", "start", "kv.service"]]

    # changed values: a new deployment in the other slot, restarted since it ran, the old one kept
    params["values"] = {"PORT": 4002}
    out = engine.install(params, start=True, enabled=True)
    assert out.changed and out.before["values"]["PORT"] == "4001" and out.after["values"]["PORT"] == "4002"
    assert out.after["values"]["UUID"] == uuid  # stable across updates
    assert os.readlink(os.path.join(engine.deployments.root, "kv")) == "kv.1"
    assert os.path.isdir(slot0)
    assert ["systemctl", "restart", "kv.service"] in systemd.changes()

    # a new image: back into slot 0, hostfs follows it
    env["load"]("localhost/sys/kv:1", "2")  # the tag moves to the second image
    out = engine.install(params, start=True, enabled=True)
    assert out.changed and out.before["digest"] != out.after["digest"]
    assert os.readlink(os.path.join(engine.deployments.root, "kv")) == "kv.0"
    assert conf.read_text() == "version=2\n"
    assert open(os.path.join(slot0, "rootfs/etc/kv-version")).read() == "2\n"
    systemd.changes()

    # rollback: the previous deployment (slot 1: image 1, port 4002), its units and host files restored
    out = engine.rollback("kv")
    assert out.changed
    assert os.readlink(os.path.join(engine.deployments.root, "kv")) == "kv.1"
    slot1 = os.path.join(engine.deployments.root, "kv.1")
    assert unit_text(host, "kv.service") == open(os.path.join(slot1, "kv.service")).read()
    assert "--bundle %s " % slot1 in unit_text(host, "kv.service")
    assert conf.read_text() == "version=1\n"
    assert ["systemctl", "restart", "kv.service"] in systemd.changes()

    # uninstall: a host file the user changed is kept, with a warning; everything else goes
    conf.write_text("mine\n")
    out = engine.uninstall("kv")
    assert out.changed
    assert any("/etc/kv-kv/kv.conf was changed on the host" in w for w in out.warnings)
    assert conf.read_text() == "mine\n"
    assert not (host / "usr/local/bin/kv-ctl").exists() and not (host / "usr/local/bin").exists()
    assert not (host / "etc/systemd/system/kv.service").exists()
    assert not (host / "etc/tmpfiles.d/kv.conf").exists()
    assert sorted(os.listdir(engine.deployments.root)) == [".locks"]
    calls = systemd.changes()
    assert calls[:2] == [["systemctl", "stop", "kv.service"], ["systemctl", "disable", "kv.service"]]
    assert ["systemd-tmpfiles", "--remove", str(host / "etc/tmpfiles.d/kv.conf")] in calls
    assert not engine.uninstall("kv").changed
    # the holds went with the slots
    assert env["images"].absent("localhost/sys/kv:1").changed


def test_rollback_without_a_previous_deployment(env):
    busybox_image(env["layout"], "1", "one")
    env["load"]("localhost/sys/busybox:1", "1")
    env["engine"].install({"name": "kv", "image": "localhost/sys/busybox:1"})
    with pytest.raises(SystemContainerError, match="no previous deployment"):
        env["engine"].rollback("kv")
    with pytest.raises(SystemContainerError, match="not installed"):
        env["engine"].rollback("other")


def test_check_mode_writes_nothing_and_shows_the_diff(env):
    atomic_image(env["layout"], "1", "1")
    env["load"]("localhost/sys/kv:1", "1")
    checking = SystemContainers(service(env["tmp"], check_mode=True), host_root=str(env["host"]),
                                systemd=env["systemd"])
    out = checking.install({"name": "kv", "image": "localhost/sys/kv:1", "listen": ["127.0.0.1:4001"]}, start=True)
    assert out.changed and out.before == {}
    assert "kv.socket" in out.after and "ListenStream=127.0.0.1:4001" in out.after["kv.socket"]
    assert "Description=Socket of system container kv\n" in out.after["kv.socket"]
    assert out.after["values"]["PORT"] == "2379"
    assert not os.path.exists(checking.deployments.root)
    assert list(env["host"].iterdir()) == []
    assert env["systemd"].changes() == []
    assert not [n for n in os.listdir(env["images"].store().tmp) if n.startswith(".tmp-system-")]


def test_bad_images_fail_clearly(env):
    files = [I.Entry("exports/", "dir", mode=0o755),
             I.Entry("exports/service.template", data=b"[Service]\nExecStart=$EXEC_START --port $NOPE\n")]
    I.write_image(env["layout"], [I.tar_layer(I.busybox_entries()), I.tar_layer(files)], tag="bad")
    env["load"]("localhost/sys/bad:1", "bad")
    with pytest.raises(SystemContainerError, match=r"/exports/service.template: the variable \$NOPE has no value"):
        env["engine"].install({"name": "bad", "image": "localhost/sys/bad:1"})
    # a failed install leaves no slot and no hold behind
    assert not os.path.lexists(env["engine"].deployments.slot_dir("bad", 0))
    assert env["images"].absent("localhost/sys/bad:1").changed
    files = [I.Entry("exports/", "dir", mode=0o755), I.Entry("exports/manifest.json", data=b"{oops")]
    I.write_image(env["layout"], [I.tar_layer(I.busybox_entries()), I.tar_layer(files)], tag="badjson")
    env["load"]("localhost/sys/badjson:1", "badjson")
    with pytest.raises(SystemContainerError, match="/exports/manifest.json of the image is not valid JSON"):
        env["engine"].install({"name": "badjson", "image": "localhost/sys/badjson:1"})
    # an /exports link out of the rootfs is followed inside it only
    files = [I.Entry("exports", "symlink", target="/../../../../etc")]
    I.write_image(env["layout"], [I.tar_layer(I.busybox_entries()), I.tar_layer(files)], tag="escape")
    env["load"]("localhost/sys/escape:1", "escape")
    out = env["engine"].install({"name": "escape", "image": "localhost/sys/escape:1"})
    assert out.changed  # /exports is the image's own /etc: no templates there, the defaults used
    assert "ExecStart=" in unit_text(env["host"], "escape.service")


def test_listen_added_moves_enablement_to_the_socket_and_back(env):
    busybox_image(env["layout"], "1", "one")
    env["load"]("localhost/sys/busybox:1", "1")
    engine, systemd, host = env["engine"], env["systemd"], env["host"]
    engine.install({"name": "web", "image": "localhost/sys/busybox:1"}, enabled=True)
    assert systemd.enabled == {"web.service"}
    systemd.changes()
    out = engine.install({"name": "web", "image": "localhost/sys/busybox:1", "listen": ["127.0.0.1:8080"]},
                         enabled=True)
    assert out.changed
    # socket activation: the socket is enabled, not the service, so nothing runs until a connection
    assert systemd.enabled == {"web.socket"}
    assert "ListenStream=127.0.0.1:8080" in unit_text(host, "web.socket")
    calls = systemd.changes()
    assert calls.index(["systemctl", "disable", "web.service"]) < calls.index(["systemctl", "daemon-reload"])
    assert ["systemctl", "enable", "web.socket"] in calls
    assert not engine.install({"name": "web", "image": "localhost/sys/busybox:1", "listen": ["127.0.0.1:8080"]},
                              enabled=True).changed
    engine.rollback("web")
    assert systemd.enabled == {"web.service"}
    assert not (host / "etc/systemd/system/web.socket").exists()


def test_no_container_service_installs_host_files_only(env):
    files = [I.Entry("exports/", "dir", mode=0o755),
             I.Entry("exports/manifest.json", data=b'{"noContainerService": true}'),
             I.Entry("exports/hostfs/", "dir", mode=0o755),
             I.Entry("exports/hostfs/opt/", "dir", mode=0o755),
             I.Entry("exports/hostfs/opt/tool", data=b"tool\n", mode=0o755)]
    I.write_image(env["layout"], [I.tar_layer(I.busybox_entries()), I.tar_layer(files)], tag="tool")
    env["load"]("localhost/sys/tool:1", "tool")
    engine, systemd, host = env["engine"], env["systemd"], env["host"]
    out = engine.install({"name": "tool", "image": "localhost/sys/tool:1"}, start=True, enabled=True)
    assert out.changed and (host / "opt/tool").read_text() == "tool\n"
    assert not (host / "etc/systemd/system/tool.service").exists()
    assert systemd.changes() == [["systemctl", "daemon-reload"]]
    with pytest.raises(SystemContainerError, match="noContainerService"):
        engine.install({"name": "tool", "image": "localhost/sys/tool:1", "listen": ["8080"]})
    engine.uninstall("tool")
    assert list(host.iterdir()) == []


def test_default_config_volumes_and_network(env):
    layers = [I.tar_layer(I.busybox_entries())]
    I.write_image(env["layout"], layers, tag="vol", config_extra={"Volumes": {"/data": {}}, "User": "nobody"})
    env["load"]("localhost/sys/vol:1", "vol")
    engine, host = env["engine"], env["host"]
    engine.install({"name": "vol", "image": "localhost/sys/vol:1", "network": "none"})
    slot = engine.deployments.slot_dir("vol", 0)
    config = json.loads(open(os.path.join(slot, "config.json")).read())
    assert {"type": "network"} in config["linux"]["namespaces"]
    assert config["process"]["user"]["uid"] == 65534  # resolved from the image's /etc/passwd
    data = [m for m in config["mounts"] if m["destination"] == "/data"]
    assert data and data[0]["source"] == "/var/lib/vol/data"
    assert (host / "etc/tmpfiles.d/vol.conf").read_text() == "d /var/lib/vol/data 0755 root root -\n"
    tmpfiles_really_create(host, "vol.conf")
    assert (host / "var/lib/vol/data").is_dir()
    with pytest.raises(SystemContainerError, match="network must be one of host, none"):
        engine.install({"name": "vol2", "image": "localhost/sys/vol:1", "network": "bridge"})


def test_checkout_applies_whiteouts_and_opaque_directories(env):
    I._whiteout_build(env["layout"])  # pylint: disable=protected-access
    env["load"]("localhost/sys/whiteout:1", "latest")
    engine = env["engine"]
    engine.install({"name": "wh", "image": "localhost/sys/whiteout:1"})
    rootfs = os.path.join(engine.deployments.slot_dir("wh", 0), "rootfs")
    for path in I.WHITEOUT_EXPECTED["present"]:
        assert os.path.lexists(rootfs + path), path
    for path in I.WHITEOUT_EXPECTED["absent"]:
        assert not os.path.lexists(rootfs + path), path
    for path, data in I.WHITEOUT_EXPECTED["files"].items():
        assert open(rootfs + path, "rb").read() == data
    # removing the deployment leaves the layers whole: only links were dropped
    layers = LayerStore(env["images"].store())
    before = {d: sorted(os.listdir(layers.diff_dir(d))) for d in layers.present()}
    engine.uninstall("wh")
    assert {d: sorted(os.listdir(layers.diff_dir(d))) for d in layers.present()} == before


def test_start_and_stop_go_through_the_main_unit(env):
    busybox_image(env["layout"], "1", "one")
    env["load"]("localhost/sys/busybox:1", "1")
    engine, systemd = env["engine"], env["systemd"]
    engine.install({"name": "web", "image": "localhost/sys/busybox:1", "listen": ["127.0.0.1:8080"]})
    systemd.changes()
    assert engine.set_running("web", True).changed
    assert systemd.changes() == [["systemctl", "start", "web.socket"]]  # the socket starts the service on demand
    assert not engine.set_running("web", True).changed
    systemd.active.add("web.service")  # a connection came
    out = engine.set_running("web", False)
    assert out.changed
    assert systemd.changes() == [["systemctl", "stop", "web.socket"], ["systemctl", "stop", "web.service"]]
    assert not engine.set_running("web", False).changed
    with pytest.raises(SystemContainerError, match="not installed"):
        engine.set_running("nothere", True)


def test_without_systemd_nothing_is_done_and_check_mode_still_plans(env):
    """This machine: PID 1 is not systemd. The real seam says so before anything is written."""
    assert not Systemd().booted()
    busybox_image(env["layout"], "1", "one")
    env["load"]("localhost/sys/busybox:1", "1")
    engine = SystemContainers(env["images"], host_root=str(env["host"]))
    with pytest.raises(SystemctlError, match="systemd is not the init system here .PID 1 is not systemd"):
        engine.install({"name": "kv", "image": "localhost/sys/busybox:1"}, start=True)
    assert not os.path.exists(engine.deployments.root) and list(env["host"].iterdir()) == []
    checking = SystemContainers(service(env["tmp"], check_mode=True), host_root=str(env["host"]))
    out = checking.install({"name": "kv", "image": "localhost/sys/busybox:1"}, start=True)
    assert out.changed and "kv.service" in out.after
    assert any("systemd is not the init system" in w for w in out.warnings)
    assert "would start kv.service" in out.actions
    assert not os.path.exists(engine.deployments.root)
    assert not engine.uninstall("kv").changed  # nothing installed: nothing to ask systemd
    # installed twice (through the recording seam), then asked to change with the real one
    busybox_image(env["layout"], "2", "two")
    env["load"]("localhost/sys/busybox:2", "2")
    env["engine"].install({"name": "kv", "image": "localhost/sys/busybox:1"})
    env["engine"].install({"name": "kv", "image": "localhost/sys/busybox:2"})
    for call in (lambda: engine.set_running("kv", True), lambda: engine.rollback("kv"),
                 lambda: engine.uninstall("kv")):
        with pytest.raises(SystemContainerError, match="systemd is not the init system"):
            call()
    assert engine.info()[0]["active"] == {"kv.service": False}  # questions are answered: inactive


def test_rollback_is_a_state_until_an_install(env):
    busybox_image(env["layout"], "1", "one")
    busybox_image(env["layout"], "2", "two")
    env["load"]("localhost/sys/busybox:1", "1")
    env["load"]("localhost/sys/busybox:2", "2")
    engine = env["engine"]
    first = engine.install({"name": "kv", "image": "localhost/sys/busybox:1"}).values["system_container"]
    engine.install({"name": "kv", "image": "localhost/sys/busybox:2"})
    out = engine.rollback("kv")
    assert out.changed and out.values["system_container"]["digest"] == first["digest"]
    assert out.values["system_container"]["rolled_back"]
    again = engine.rollback("kv")
    assert not again.changed and again.before == again.after
    assert engine.info(["kv"])[0]["active_slot"] == 0
    # the active image asked again: still the rolled-back deployment
    assert not engine.install({"name": "kv", "image": "localhost/sys/busybox:1"}).changed
    # the other image asked: a new deployment, which a rollback leaves again
    out = engine.install({"name": "kv", "image": "localhost/sys/busybox:2"})
    assert out.changed and not out.values["system_container"]["rolled_back"]
    assert engine.rollback("kv").changed and engine.info()[0]["digest"] == first["digest"]


def test_set_running_enables_and_disables_the_main_unit(env):
    busybox_image(env["layout"], "1", "one")
    env["load"]("localhost/sys/busybox:1", "1")
    engine, systemd = env["engine"], env["systemd"]
    engine.install({"name": "web", "image": "localhost/sys/busybox:1"}, enabled=None)
    systemd.changes()
    assert not engine.set_running("web", None).changed
    assert engine.set_running("web", None, enabled=True).changed
    assert systemd.changes() == [["systemctl", "enable", "web.service"]]
    assert not engine.set_running("web", False, enabled=True).changed
    out = engine.set_running("web", True, enabled=False)
    assert out.changed and systemd.changes() == [["systemctl", "disable", "web.service"],
                                                 ["systemctl", "start", "web.service"]]
    assert engine.info()[0]["enabled"] == {"web.service": False} and engine.info()[0]["active"] == {"web.service": True}
