# -*- coding: utf-8 -*-
"""system_container under a real systemd (issue 9, section 4): each test boots a node
(tests/harness/node.py: systemd as PID 1 in a container of our own engine) and drives it with
ansible-playbook through the undock.oci.oci connection, as a user would.

- a chain of three busybox services (store; network After and Requires store; runtime After
  network) starts in order at boot (the node is powered off and booted again, and the journal
  read), and a failure of the store stops the network service that requires it;
- an image in the atomic format installs with its templates, defaults, renameFiles, hostfs and
  tmpfiles entries, and serves on the port its values give;
- an update to a new digest and a rollback, each verified by what the service answers;
- socket activation: nothing runs until the first connection, which the container serves on
  the socket systemd handed over, and systemd shows the service triggered by its socket;
- an uninstall leaves the node's /etc, /var/lib and /run as they were, logs aside;
- every step run twice: the second run reports no change.

The node shares the host's loopback (the test registry answers there, and the services'
ports are reachable from here). The node's system containers live in a store on the node's
own root file system (/var/lib/undock-system), not on its tmpfs store, so they survive the
node's reboot."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from harness import images as I
from harness.ansible import run_play_on
from harness.engine import registries_conf

pytest.importorskip("harness.node", reason="the node harness (tests/harness/node.py, branch node) has not landed")

STORE = "/var/lib/undock-system"
SYSTEM_ROOT = STORE + "/system"
CONF = "/etc/registries-test.conf"
MODULE = "undock.oci.system_container"
INFO = "undock.oci.system_container_info"
# systemd's catalog message ids (sd-messages.h)
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"
UNIT_FAILED_RESULT = "d9b373ed55a64feb8242e02dbe79a49c"
WAIT = 60.0


def free_port():
    """A port free on the loopback the node shares with the host."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def web_layers(name, version):
    """busybox httpd answering "NAME vVERSION" on 127.0.0.1:PORT."""
    files = [I.Entry("srv/", "dir", mode=0o755),
             I.Entry("srv/index.html", data=("%s v%s\n" % (name, version)).encode())]
    return [I.tar_layer(I.busybox_entries()), I.tar_layer(files)]


def web_config(name, port):
    # init of its pid namespace, httpd would ignore SIGTERM (no handler): a shell that traps it stops cleanly
    return {"Cmd": ["/bin/sh", "-c", "trap 'exit 143' TERM; echo %s up; /bin/busybox httpd -f -p 127.0.0.1:%d -h /srv "
                    "& wait" % (name, port)]}


def push_web(registry, repo, tag, name, version, port):
    return I.push_layers(registry, repo, tag, web_layers(name, version), config_extra=web_config(name, port))


def answer(port, expected=None, timeout=WAIT):
    """What http://127.0.0.1:PORT/ answers, retried (bounded) until it answers ``expected`` when given."""
    deadline = time.monotonic() + timeout
    said = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as response:
                said = response.read().decode()
            if expected is None or said == expected:
                return said
        except OSError as err:
            said = "no answer: %s" % err
        time.sleep(0.25)
    raise AssertionError("127.0.0.1:%d answered %r, not %r, within %.0f s" % (port, said, expected, timeout))


@pytest.fixture
def conf_text(tmp_path, registry):
    with open(registries_conf(str(tmp_path / "conf"), registry.host)) as handle:
        return handle.read()


def common():
    return {"storage_root": STORE, "registries_conf": CONF}


def play(node, tasks, conf_text):
    """Run ``tasks`` on the node (registries.conf copied in first); their results, none failed."""
    copy = {"ansible.builtin.copy": {"content": conf_text, "dest": CONF}}
    results, proc = run_play_on(node.name, node.host_vars(), [copy] + tasks)
    for number, result in enumerate(results):
        assert not result.get("failed"), (number, result.get("msg"), proc.stdout[-6000:])
    return results[1:]


def journal(node, *matches, after=None):
    """The node's journal as JSON records (``matches`` as journalctl's FIELD=VALUE), those
    written after ``after`` (a time.time() of the host, whose clock the node shares) only.
    Not ``-b``: the node's boot ID is the host kernel's, the same across the node's reboots."""
    done = node.exec(["journalctl", "-o", "json", "--no-pager"] + list(matches), timeout=60)
    assert done.rc == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    return [r for r in records if after is None or int(r["__REALTIME_TIMESTAMP"]) > after * 1e6]


def units_of(records, *units):
    return [r.get("UNIT") for r in records if r.get("UNIT") in units]


def wait_for(what, check, timeout=WAIT):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("%s: not within %.0f s (last: %r)" % (what, timeout, value))


def reboot(node):
    """Power the node off from inside (systemd stops every unit and exits) and boot it again on
    the same root file system: a real reboot."""
    node.exec(["systemctl", "poweroff"], timeout=60)  # the node ends: its answer does not matter
    wait_for("node %s powered off" % node.name,
             lambda: (node.info() or {}).get("state") not in ("running", "restarting"), timeout=150)
    try:
        node.boot()
    except Exception as err:  # the harness's own error says little of why the node ended
        record = node.engine.info([node.name], 40)
        raise AssertionError("node %s did not boot again after its poweroff: %s; its record: %r"
                             % (node.name, err, record[0] if record else None)) from err


def test_a_chain_starts_in_order_at_boot_and_a_store_failure_stops_its_dependants(boot_node, registry, conf_text):
    ports = {name: free_port() for name in ("store", "network", "runtime")}
    images = {name: push_web(registry, "node/chain-%s" % name, "1", name, 1, port) for name, port in ports.items()}
    node = boot_node()
    store = dict(common(), name="store", image=images["store"].ref)
    network = dict(common(), name="network", image=images["network"].ref, after=["store.service"],
                   requires=["store.service"])
    runtime = dict(common(), name="runtime", image=images["runtime"].ref, after=["network.service"])
    tasks = [{MODULE: args} for args in (store, network, runtime, store, network, runtime)]
    tasks.append({INFO: {"storage_root": STORE}})
    results = play(node, tasks, conf_text)
    first, again, info = results[:3], results[3:6], results[6]
    assert all(r["changed"] for r in first) and not any(r["changed"] for r in again), [r["actions"] for r in again]
    for name, port in ports.items():
        assert answer(port) == "%s v1\n" % name
    records = {r["name"]: r for r in info["system_containers"]}
    assert sorted(records) == ["network", "runtime", "store"]
    for name in ports:
        record = records[name]
        assert record["digest"] == images[name].digest and record["active_slot"] == 0
        assert record["active"] == {"%s.service" % name: True} and record["enabled"] == {"%s.service" % name: True}
    unit = node.sh("cat /etc/systemd/system/network.service")
    assert "After=store.service" in unit and "Requires=store.service" in unit

    booted = time.time()
    reboot(node)
    started = units_of(journal(node, "MESSAGE_ID=%s" % UNIT_STARTED, after=booted), "store.service",
                       "network.service", "runtime.service")
    assert started == ["store.service", "network.service", "runtime.service"], started
    for name, port in ports.items():
        assert answer(port) == "%s v1\n" % name

    # the store fails (killed): systemd stops the network service that requires it, not the runtime
    mark = time.time()
    node.sh("systemctl kill --signal=SIGKILL store.service")

    def network_stopped():
        return units_of(journal(node, "MESSAGE_ID=%s" % UNIT_STOPPED, after=mark), "network.service")
    wait_for("network.service stopped after the store failed", network_stopped)
    since = journal(node, after=mark)
    failed = [n for n, r in enumerate(since) if r.get("UNIT") == "store.service"
              and r.get("MESSAGE_ID") == UNIT_FAILED_RESULT]
    stopped = [n for n, r in enumerate(since) if r.get("UNIT") == "network.service"
               and r.get("MESSAGE_ID") == UNIT_STOPPED]
    assert failed and stopped and failed[0] < stopped[0], [r.get("MESSAGE") for r in since]
    assert not [r for r in since if r.get("UNIT") == "runtime.service" and r.get("MESSAGE_ID") == UNIT_STOPPED]
    # Restart=on-failure brings the store back, and the network with it
    for name, port in ports.items():
        assert answer(port) == "%s v1\n" % name
    for args in (runtime, network, store):
        play(node, [{MODULE: dict(common(), name=args["name"], state="absent")}], conf_text)


KV_SERVICE = """\
[Unit]
Description=kv store $NAME on port $PORT

[Service]
ExecStart=$EXEC_START
ExecStop=$EXEC_STOP
ExecStopPost=$EXEC_STOPPOST
WorkingDirectory=$DESTDIR
Environment=PEERS=${PEERS}

[Install]
WantedBy=multi-user.target
"""

KV_CONFIG = """\
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
             "args": ["/bin/sh", "-c", "trap 'exit 143' TERM; /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /srv & wait"],
             "env": ["PATH=/bin", "KV_UUID=$UUID", "STATE=$STATE_DIRECTORY/$NAME"]},
 "root": {"path": "rootfs", "readonly": true},
 "hostname": "$NAME",
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]}}
"""


def kv_layers(version, tmpfiles=True):
    """An image in the atomic format: templates, manifest defaults, renameFiles and hostfs."""
    files = [
        I.Entry("exports/", "dir", mode=0o755),
        I.Entry("exports/service.template", data=KV_SERVICE.encode()),
        I.Entry("exports/config.json.template", data=KV_CONFIG.encode()),
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
        I.Entry("srv/", "dir", mode=0o755),
        I.Entry("srv/index.html", data=("kv v%s\n" % version).encode()),
    ]
    if tmpfiles:
        files.insert(3, I.Entry("exports/tmpfiles.template", data=b"d $STATE_DIRECTORY/$NAME 0700 root root -\n"))
    return [I.tar_layer(I.busybox_entries()), I.tar_layer(files)]


def test_an_atomic_image_installs_with_its_templates_values_and_host_files(boot_node, registry, conf_text):
    kv = I.push_layers(registry, "node/atomic-kv", "1", kv_layers(1))
    port = free_port()
    node = boot_node()
    task = dict(common(), name="kv", image=kv.ref, values={"PORT": port})
    installed, again, info = play(node, [{MODULE: task}, {MODULE: task}, {INFO: dict(storage_root=STORE, name="kv")}],
                                  conf_text)
    assert installed["changed"] and not again["changed"], again["actions"]
    assert answer(port) == "kv v1\n"
    unit = node.sh("cat /etc/systemd/system/kv.service")
    assert "Description=kv store kv on port %d" % port in unit          # the user's value over the default
    assert "Environment=PEERS=none" in unit                              # the manifest's default
    assert " run --bundle %s/kv.0 kv\n" % SYSTEM_ROOT in unit, unit
    assert "SuccessExitStatus=143 SIGTERM" in unit                       # added: runc's clean stop
    # hostfs, renamed as renameFiles says, with the image's modes
    assert node.sh("cat /etc/kv-kv/kv.conf") == "version=1\n"
    assert node.sh("stat -c %a /etc/kv-kv /etc/kv-kv/kv.conf").split() == ["750", "640"]
    assert node.sh("/usr/local/bin/kv-ctl") == "kvctl\n"
    # the tmpfiles entry, created by the real systemd-tmpfiles
    assert node.sh("cat /etc/tmpfiles.d/kv.conf") == "d /var/lib/kv 0700 root root -\n"
    assert node.sh("stat -c %a /var/lib/kv").strip() == "700"
    record = info["system_containers"][0]
    assert record["digest"] == kv.digest and record["active_slot"] == 0
    assert record["values"]["PORT"] == str(port) and record["values"]["PEERS"] == "none"
    assert record["host_files"] == ["/etc/kv-kv/kv.conf", "/usr/local/bin/kv-ctl"]
    assert record["active"] == {"kv.service": True}
    config = json.loads(node.sh("cat %s/kv.0/config.json" % SYSTEM_ROOT))
    assert "KV_UUID=%s" % record["values"]["UUID"] in config["process"]["env"]
    assert "STATE=/var/lib/kv" in config["process"]["env"]
    show = node.sh("systemctl show -p ActiveState,SubState,MainPID kv.service")
    assert "ActiveState=active" in show and "SubState=running" in show, show
    removed, gone = play(node, [{MODULE: dict(common(), name="kv", state="absent")}] * 2, conf_text)
    assert removed["changed"] and not gone["changed"]
    assert node.exec(["test", "-e", "/etc/kv-kv/kv.conf"]).rc != 0
    assert node.exec(["test", "-e", "/etc/systemd/system/kv.service"]).rc != 0


def test_update_to_a_new_digest_and_rollback_each_answered_by_the_service(boot_node, registry, conf_text):
    port = free_port()
    first = push_web(registry, "node/updated", "stable", "web", 1, port)
    node = boot_node()
    task = dict(common(), name="web", image=first.ref, pull="newer")
    installed, again = play(node, [{MODULE: task}, {MODULE: task}], conf_text)
    assert installed["changed"] and not again["changed"], again["actions"]
    assert answer(port) == "web v1\n"
    second = push_web(registry, "node/updated", "stable", "web", 2, port)  # the tag moves to a new digest
    assert second.digest != first.digest
    updated, again = play(node, [{MODULE: task, "diff": True}, {MODULE: task}], conf_text)
    assert updated["changed"] and not again["changed"], again["actions"]
    assert updated["system_container"]["digest"] == second.digest and updated["system_container"]["active_slot"] == 1
    assert "restarted web.service" in updated["actions"], updated["actions"]
    assert "digest: %s" % first.digest in updated["diff"][0]["before"]
    assert "digest: %s" % second.digest in updated["diff"][0]["after"]
    assert answer(port, "web v2\n") == "web v2\n"
    back = dict(common(), name="web", rollback=True)
    rolled, again, info = play(node, [{MODULE: back}, {MODULE: back}, {INFO: dict(storage_root=STORE, name="web")}], conf_text)
    assert rolled["changed"] and not again["changed"], again["actions"]
    assert answer(port, "web v1\n") == "web v1\n"
    record = info["system_containers"][0]
    assert record["digest"] == first.digest and record["active_slot"] == 0 and record["rolled_back"]
    assert [(d["slot"], d["digest"]) for d in record["deployments"]] == [(0, first.digest), (1, second.digest)]
    assert "--bundle %s/web.0 " % SYSTEM_ROOT in node.sh("cat /etc/systemd/system/web.service")
    play(node, [{MODULE: dict(common(), name="web", state="absent")}], conf_text)


SERVER = b"""\
import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(143))  # init of its pid namespace: no default action
listener = socket.socket(fileno=3)
while True:
    connection, peer = listener.accept()
    connection.sendall(("activated fds=%s listen_pid=%s pid=%d\\n"
                        % (os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID"), os.getpid())).encode())
    connection.close()
"""

SOCKET_CONFIG = """\
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
             "args": ["/usr/bin/python3", "-S", "/srv/serve.py"], "env": ["PATH=/usr/bin:/bin"]},
 "root": {"path": "rootfs", "readonly": true},
 "hostname": "$NAME",
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]}}
"""


def socket_layers():
    """A server that accepts on fd 3 only (it never binds): the node's python3, bound in read-only."""
    files = [I.Entry("exports/", "dir", mode=0o755),
             I.Entry("exports/config.json.template", data=SOCKET_CONFIG.encode()),
             I.Entry("lib", "symlink", target="usr/lib"),
             I.Entry("lib64", "symlink", target="usr/lib64"),
             I.Entry("srv/", "dir", mode=0o755),
             I.Entry("srv/serve.py", data=SERVER)]
    return [I.tar_layer(I.busybox_entries()), I.tar_layer(files)]


def test_socket_activation_starts_the_container_on_the_first_connection(boot_node, registry, conf_text):
    image = I.push_layers(registry, "node/activated", "1", socket_layers())
    port = free_port()
    node = boot_node()
    task = dict(common(), name="sock", image=image.ref, listen=["127.0.0.1:%d" % port])
    installed, again, info = play(node, [{MODULE: task}, {MODULE: task}, {INFO: dict(storage_root=STORE, name="sock")}],
                                  conf_text)
    assert installed["changed"] and not again["changed"], again["actions"]
    record = info["system_containers"][0]
    assert record["units"] == ["sock.service", "sock.socket"]
    assert record["active"] == {"sock.service": False, "sock.socket": True}
    assert record["enabled"] == {"sock.service": False, "sock.socket": True}
    # nothing runs before the first connection
    assert node.exec(["systemctl", "is-active", "sock.service"]).stdout.decode().strip() == "inactive"
    assert "serve.py" not in node.sh("ps -eo args")
    mark = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.settimeout(30)
        said = connection.recv(200).decode()
    # served by the container's init (pid 1 in its namespace), handed the socket as fd 3
    assert said == "activated fds=1 listen_pid=1 pid=1\n", said
    show = dict(line.split("=", 1) for line in node.sh("systemctl show -p ActiveState,TriggeredBy sock.service")
                .splitlines() if "=" in line)
    assert show == {"ActiveState": "active", "TriggeredBy": "sock.socket"}, show
    assert "TriggeredBy: " in node.sh("systemctl status --no-pager sock.service || true")
    # started by that connection, not before (journald may write it a moment after the answer)
    started = wait_for("sock.service started in the journal",
                       lambda: units_of(journal(node, "MESSAGE_ID=%s" % UNIT_STARTED, after=mark), "sock.service"))
    assert started == ["sock.service"]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.settimeout(30)
        assert connection.recv(200).decode() == said  # the same process serves the next one
    stopped, again = play(node, [{MODULE: dict(common(), name="sock", state="stopped")}] * 2, conf_text)
    assert stopped["changed"] and not again["changed"]
    assert stopped["system_container"]["active"] == {"sock.service": False, "sock.socket": False}
    play(node, [{MODULE: dict(common(), name="sock", state="absent")}], conf_text)


LISTED = ("/etc", "/var/lib", "/run")
#: logs, and the test's own store (the image stays there after an uninstall: oci_image removes it)
NOT_LISTED = ("/var/log", "/run/log", "/var/lib/systemd/journal", STORE)


def listing(node):
    prune = " -o ".join("-path %s" % path for path in NOT_LISTED)
    return set(node.sh("find %s \\( %s \\) -prune -o -print" % (" ".join(LISTED), prune)).splitlines())


def test_uninstall_leaves_nothing(boot_node, registry, conf_text):
    port, socket_port = free_port(), free_port()
    web = push_web(registry, "node/leftover-web", "1", "web", 1, port)
    kv = I.push_layers(registry, "node/leftover-kv", "1", kv_layers(1, tmpfiles=False))
    activated = I.push_layers(registry, "node/leftover-sock", "1", socket_layers())
    node = boot_node()
    pulls = [{"undock.oci.oci_image": dict(common(), name=ref)} for ref in (web.ref, kv.ref, activated.ref)]
    play(node, pulls, conf_text)  # the store and its images exist before and after
    before = listing(node)
    installs = [dict(common(), name="web", image=web.ref, after=["network-online.target"]),
                dict(common(), name="kv", image=kv.ref, values={"PORT": free_port()}),
                dict(common(), name="sock", image=activated.ref, listen=["127.0.0.1:%d" % socket_port])]
    results = play(node, [{MODULE: args} for args in installs], conf_text)
    assert all(r["changed"] for r in results)
    assert answer(port) == "web v1\n"
    with socket.create_connection(("127.0.0.1", socket_port), timeout=30) as connection:
        connection.settimeout(30)
        assert connection.recv(200).startswith(b"activated")
    during = listing(node)
    assert {"/etc/systemd/system/web.service", "/etc/kv-kv/kv.conf", "/etc/systemd/system/sock.socket"} <= during
    removes = [{MODULE: dict(common(), name=args["name"], state="absent")} for args in installs]
    removed = play(node, removes + removes, conf_text)
    assert all(r["changed"] for r in removed[:3]) and not any(r["changed"] for r in removed[3:])
    after = listing(node)
    # runc's state root, made by the first container, may stay, empty (runc delete removes each container's)
    runc_root = {"/run/runc"} if node.sh("ls -A /run/runc 2>/dev/null || true").strip() == "" else set()
    added, lost = sorted(after - before - runc_root), sorted(before - after)
    assert added == [] and lost == [], (added, lost)
    assert node.sh("systemctl list-units --all --no-legend --plain web.service kv.service sock.service sock.socket "
                   "| grep -v 'not-found' || true").strip() == ""
    # in the store: no deployment and no hold left, only the lock files
    left = node.sh("ls -A %s; ls -A %s/holds 2>/dev/null || true" % (SYSTEM_ROOT, STORE)).split()
    assert left == [".locks"], left
