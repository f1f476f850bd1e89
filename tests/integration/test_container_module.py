# -*- coding: utf-8 -*-
"""oci_container through real Ansible and real runc: the idempotency corpus (every option
set, run again: unchanged; equivalent spellings: unchanged; each single-option change:
changed, with that field in --diff; one change applied and seen in the running
container), check mode, and state=absent leaving no mount; limits that runc changes in
place, seen in the running container's cgroups."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf, service

from ansible_collections.undock.oci.plugins.module_utils.runtime.limits import IN_PLACE
from ansible_collections.undock.oci.plugins.module_utils.runtime.quick import CONTAINER_OPTIONS
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService, container_options
from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "containers/module-busybox", "1", [I.tar_layer(I.busybox_entries())])


def base_args(tmp_path, registry, image, host_dir):
    return {
        "storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run"),
        "registries_conf": registries_conf(str(tmp_path / "conf"), registry.host),
        "auth_file": str(tmp_path / "conf" / "auth.json"),
        "name": "full", "image": image, "state": "started",
        "entrypoint": ["/usr/bin/env"], "command": ["sh", "-c", "echo hi; sleep 600"],
        "env": {"A": 1, "B": "x"}, "user": "nobody:nogroup", "working_dir": "/tmp", "hostname": "full-host",
        "volumes": ["%s:/host:ro" % host_dir, "namedvol:/named"],
        "mounts": [{"type": "tmpfs", "target": "/scratch", "options": "size=1m"}],
        "read_only": True, "tmpfs": ["/run:size=2m"], "cap_add": ["net_admin"], "cap_drop": ["MKNOD"],
        "privileged": False, "no_new_privileges": True, "memory": "64m", "cpus": 0.5, "pids_limit": 64,
        "ulimits": ["nofile=512:1024"], "sysctls": {"net.ipv4.ip_forward": 1}, "labels": {"app": "x"},
        "annotations": {"a": "b"}, "stop_signal": "TERM", "stop_timeout": 0, "restart_policy": "on-failure:3",
        "runtime": "runc", "network": "none", "dns": ["192.0.2.53"], "pull": "missing",
    }


#: option -> (new value, the field of the normalised container that must differ)
CHANGES = {
    "command": (["sh", "-c", "sleep 61"], "args"),
    "entrypoint": (["/bin/env"], "args"),
    "env": ({"A": 2, "B": "x"}, "env"),
    "user": ("nobody", "user"),
    "working_dir": ("/", "working_dir"),
    "hostname": ("other", "hostname"),
    "volumes": (["namedvol:/named"], "volumes"),
    "mounts": ([{"type": "tmpfs", "target": "/scratch", "options": "size=2m"}], "mounts"),
    "read_only": (False, "read_only"),
    "tmpfs": (["/run:size=3m"], "tmpfs"),
    "cap_add": ([], "capabilities"),
    "cap_drop": ([], "capabilities"),
    "privileged": (True, "privileged"),
    "no_new_privileges": (False, "no_new_privileges"),
    "memory": ("65m", "memory"),
    "cpus": (1.0, "cpus"),
    "pids_limit": (65, "pids_limit"),
    "ulimits": (["nofile=256:1024"], "ulimits"),
    "sysctls": ({"net.ipv4.ip_forward": 0}, "sysctls"),
    "labels": ({"app": "y"}, "labels"),
    "annotations": ({"a": "c"}, "annotations"),
    "stop_signal": ("INT", "stop_signal"),
    "stop_timeout": (1, "stop_timeout"),
    "restart_policy": ("always", "restart_policy"),
    "network": ("host", "network"),
    "dns": (["192.0.2.54"], "dns"),
}
#: the same intention spelled another way: no change
EQUIVALENT = {"memory": 67108864, "cap_drop": ["cap_mknod"], "cap_add": ["NET_ADMIN", "CAP_NET_ADMIN"],
              "env": {"A": "1", "B": "x"}, "ulimits": {"RLIMIT_NOFILE": "512:1024"}, "stop_signal": "SIGTERM",
              "restart_policy": "ON-FAILURE:3", "tmpfs": ["/run:size=2097152"],
              "sysctls": {"net.ipv4.ip_forward": "1"}, "dns": ["192.0.2.53", " 192.0.2.53"]}


def mounts_below(path):
    path = os.path.realpath(str(path))
    return [e["point"] for e in M.mountinfo() if e["point"].startswith(path + "/")]


def test_idempotency_corpus(tmp_path, registry, busybox):
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    args = base_args(tmp_path, registry, busybox.ref, host_dir)
    check = {"check_mode": True, "diff": True}
    tasks = [("undock.oci.oci_container", args, check),
             ("undock.oci.oci_container", args, {"diff": True}),
             ("undock.oci.oci_container", args, {"diff": True}),
             ("undock.oci.oci_container", args, check)]
    tasks += [("undock.oci.oci_container", dict(args, **{k: v}), check) for k, v in EQUIVALENT.items()]
    tasks += [("undock.oci.oci_container", dict(args, **{k: v[0]}), check) for k, v in CHANGES.items()]
    tasks += [("undock.oci.oci_container", dict(args, memory="96m"), {"diff": True}),
              ("undock.oci.oci_container", dict(args, memory="96m"), {}),
              ("undock.oci.oci_container", dict(args, state="absent"), {"diff": True})]
    results = run_tasks(tasks)
    dry, created, again, again_check = results[:4]
    equivalent = results[4:4 + len(EQUIVALENT)]
    changes = results[4 + len(EQUIVALENT):4 + len(EQUIVALENT) + len(CHANGES)]
    changed, unchanged, removed = results[-3:]

    assert dry["changed"] and not dry.get("failed"), dry
    assert dry["container"]["state"] == "running" and dry["container"]["bundle"] is None
    assert created["changed"] and not created.get("failed"), created.get("msg")
    container = created["container"]
    assert container["state"] == "running", container
    assert container["config"]["memory"] == 64 << 20 and container["config"]["env"]["A"] == "1"
    assert created["diff"]["before"] == {} and created["diff"]["after"]["capabilities"] == container["config"][
        "capabilities"]
    assert not again["changed"] and again["actions"] == [], again["actions"]
    assert not again_check["changed"], again_check["actions"]
    for (option, value), result in zip(EQUIVALENT.items(), equivalent):
        assert not result.get("failed"), (option, result.get("msg"))
        assert not result["changed"], (option, value, result["actions"])
    for (option, (value, field)), result in zip(CHANGES.items(), changes):
        assert not result.get("failed"), (option, result.get("msg"))
        assert result["changed"], (option, value)
        before, after = result["diff"]["before"], result["diff"]["after"]
        assert before[field] != after[field], (option, field, before[field])
        if field in IN_PLACE:  # a limit runc changes in the running container
            assert result["actions"] == ["would update container full in place: %s" % field], result["actions"]
        else:
            assert "recreate container full: these fields changed: " in result["actions"][0], result["actions"]
            assert field in result["actions"][0], (option, result["actions"][0])

    assert changed["changed"] and changed["diff"]["after"]["memory"] == 96 << 20
    assert changed["container"]["state"] == "running", changed["container"]
    assert changed["container"]["config"]["memory"] == 96 << 20
    assert changed["actions"] == ["updated container full in place: memory"], changed["actions"]
    assert changed["container"]["pid"] == container["pid"]
    assert not unchanged["changed"], unchanged["actions"]
    assert removed["changed"] and removed["container"] is None
    assert not mounts_below(tmp_path)
    assert not os.path.exists(tmp_path / "store" / "containers" / "full")


def test_running_container_shows_the_limit(tmp_path, registry, busybox):
    """The memory limit reaches the container's cgroup, and the process runs as the user asked."""
    args = dict(storage_root=str(tmp_path / "store"), run_root=str(tmp_path / "run"),
                registries_conf=registries_conf(str(tmp_path / "conf"), registry.host),
                auth_file=str(tmp_path / "conf" / "auth.json"), name="limited", image=busybox.ref, memory="48m",
                user="nobody", stop_timeout=0,
                command=["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; id -u; sleep 60"])
    started, = run_tasks([("undock.oci.oci_container", args, {})])
    try:
        assert started["container"]["state"] == "running", started
        deadline = time.monotonic() + 10
        logs = []
        while time.monotonic() < deadline and len(logs) < 2:
            with open(started["container"]["log_path"]) as handle:
                logs = handle.read().splitlines()
            time.sleep(0.05)
        assert logs[:2] == [str(48 << 20), "65534"], logs
    finally:
        removed, = run_tasks([("undock.oci.oci_container", dict(args, state="absent"), {})])
    assert removed["changed"] and not mounts_below(tmp_path)


# -- limits that runc changes in place (runtime/limits.py) ------------------------------

CGROUP_FILES = {"memory": ("memory", "memory.limit_in_bytes"), "pids_limit": ("pids", "pids.max"),
                "cpus": ("cpu", "cpu.cfs_quota_us")}
V1_NO_MEMORY_LIMIT = 9223372036854771712  # memory.limit_in_bytes of an unlimited v1 cgroup (4 KiB pages)


def cgroup_limits(pid):
    """The container's limits as its cgroups on the host say, found through /proc/PID/cgroup."""
    paths = {}
    with open("/proc/%d/cgroup" % pid) as handle:
        for line in handle:
            dummy, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(","):
                paths[controller] = path
    limits = {}
    for field, (controller, name) in CGROUP_FILES.items():
        with open(os.path.join("/sys/fs/cgroup", controller, paths[controller].lstrip("/"), name)) as handle:
            limits[field] = handle.read().strip()
    return limits


def config_resources(result):
    with open(os.path.join(result["container"]["bundle"], "config.json")) as handle:
        return json.load(handle)["linux"]["resources"]


FILL = ("if [ $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) -gt 33554432 ]; "
        "then dd if=/dev/zero of=/dev/shm/fill bs=1M count=24; fi; echo ready; sleep 300")


def test_limits_change_in_place(tmp_path, registry, busybox):
    """memory, pids_limit and cpus change in the running container's cgroups (same pid; the
    diff names the field; config.json follows; the next run is unchanged); a change mixing a
    limit and another field recreates; a limit the kernel refuses (memory below what the
    container uses, which no swap can reclaim) recreates the container, with a warning."""
    args = dict(storage_root=str(tmp_path / "store"), run_root=str(tmp_path / "run"),
                registries_conf=registries_conf(str(tmp_path / "conf"), registry.host),
                auth_file=str(tmp_path / "conf" / "auth.json"), name="limits", image=busybox.ref, memory="64m",
                cpus=0.5, pids_limit=64, network="none", stop_timeout=0, command=["sh", "-c", FILL])
    module = "undock.oci.oci_container"
    try:
        started, = run_tasks([(module, args, {})])
        assert started["container"]["state"] == "running", started
        pid = started["container"]["pid"]
        assert cgroup_limits(pid) == {"memory": str(64 << 20), "pids_limit": "64", "cpus": "50000"}
        record = tmp_path / "store" / "containers" / "limits" / "container.json"
        files = record.read_bytes(), json.dumps(config_resources(started))
        checked, = run_tasks([(module, dict(args, memory="32m", pids_limit=8), {"check_mode": True, "diff": True})])
        assert checked["actions"] == ["would update container limits in place: memory, pids_limit"], checked
        assert checked["container"]["config"]["memory"] == 32 << 20 and checked["container"]["pid"] == pid
        assert (record.read_bytes(), json.dumps(config_resources(started))) == files  # check mode: nothing touched
        assert cgroup_limits(pid) == {"memory": str(64 << 20), "pids_limit": "64", "cpus": "50000"}

        steps = [("memory", "96m", {"memory": str(96 << 20)}, {"memory": {"limit": 96 << 20}}),
                 ("pids_limit", 32, {"pids_limit": "32"}, {"pids": {"limit": 32}}),
                 ("cpus", 1.5, {"cpus": "150000"}, {"cpu": {"quota": 150000, "period": 100000}})]
        expected = cgroup_limits(pid)
        for option, value, cgroup, resources in steps:
            args[option] = value
            checked, updated, again = run_tasks([(module, args, {"check_mode": True, "diff": True}),
                                                 (module, args, {"diff": True}), (module, args, {"diff": True})])
            assert checked["changed"], checked
            assert checked["actions"] == ["would update container limits in place: %s" % option], checked["actions"]
            assert updated["changed"] and not updated.get("failed"), updated.get("msg")
            assert updated["actions"] == ["updated container limits in place: %s" % option], updated["actions"]
            before, after = updated["diff"]["before"], updated["diff"]["after"]
            assert [k for k in after if before.get(k) != after[k]] == [option], (before, after)
            assert updated["container"]["pid"] == pid and updated["container"]["state"] == "running"
            assert updated["container"]["config"][option] == after[option]
            assert not again["changed"] and again["actions"] == [], again
            expected.update(cgroup)
            assert cgroup_limits(pid) == expected, option
            for key, value in resources.items():
                assert config_resources(updated)[key] == value, (option, config_resources(updated))

        lifted = dict(args, memory=None, cpus=None, pids_limit=None)
        updated, again = run_tasks([(module, lifted, {"diff": True}), (module, lifted, {})])
        assert updated["actions"] == ["updated container limits in place: cpus, memory, pids_limit"], updated
        assert updated["container"]["pid"] == pid and not again["changed"], again
        assert cgroup_limits(pid) == {"memory": str(V1_NO_MEMORY_LIMIT), "pids_limit": "max", "cpus": "-1"}
        assert set(config_resources(updated)) == {"devices"}

        args = dict(lifted, env={"X": "1"}, memory="80m")
        mixed, = run_tasks([(module, args, {"diff": True})])
        assert mixed["changed"] and "recreate container limits: these fields changed: env, memory" in mixed["actions"]
        assert mixed["container"]["pid"] != pid and mixed["container"]["state"] == "running"
        pid = mixed["container"]["pid"]
        assert cgroup_limits(pid)["memory"] == str(80 << 20)

        # the container filled 24 MiB of its /dev/shm (its limit is above 32 MiB): 16 MiB cannot be applied
        logs = []
        deadline = time.monotonic() + 15
        while "ready" not in logs and time.monotonic() < deadline:
            with open(mixed["container"]["log_path"]) as handle:
                logs = handle.read().splitlines()
            time.sleep(0.05)
        assert "ready" in logs and "24+0 records in" in logs, logs
        args["memory"] = "16m"
        below, again = run_tasks([(module, args, {"diff": True}), (module, args, {})])
        assert below["changed"] and not below.get("failed"), below.get("msg")
        warning, = below["warnings"]
        assert warning.startswith("container limits could not be updated in place, so it is recreated: runc update "
                                  "--memory %d " % (16 << 20)), warning
        assert "recreate container limits: these fields changed: memory" in below["actions"], below["actions"]
        assert below["container"]["pid"] != pid and below["container"]["state"] == "running", below["container"]
        assert cgroup_limits(below["container"]["pid"])["memory"] == str(16 << 20)
        assert not again["changed"], again

        # a stopped container takes the new limits in its files; its next start runs with them
        stopped, updated, started = run_tasks([(module, dict(args, state="stopped"), {}),
                                               (module, dict(args, state="stopped", memory="24m"), {"diff": True}),
                                               (module, dict(args, memory="24m"), {})])
        assert stopped["container"]["state"] == "stopped", stopped
        assert updated["actions"] == ["updated container limits: memory (it is not running: they apply when it "
                                      "starts)"], updated["actions"]
        assert updated["container"]["state"] == "stopped" and config_resources(updated)["memory"] == {"limit": 24 << 20}
        assert started["actions"][-1] == "started container limits", started["actions"]
        assert cgroup_limits(started["container"]["pid"])["memory"] == str(24 << 20)
    finally:
        removed, = run_tasks([(module, dict(args, state="absent"), {})])
    assert removed["changed"] and not mounts_below(tmp_path)


# -- every single-option change, applied: the running container shows it --------------

def proc_text(pid, name):
    with open("/proc/%d/%s" % (pid, name), "rb") as handle:
        return handle.read().decode("utf-8", "replace")


def status_fields(pid, *names):
    return [line for line in proc_text(pid, "status").splitlines() if line.split(":")[0] in names]


def in_namespace(pid, flag, *argv):
    return subprocess.run(["nsenter", "--target", str(pid), flag] + list(argv), capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()


def mount_table(pid):
    """Mount points as the container sees them: file system type, ro/rw and tmpfs sizes (not
    sources or device numbers, which every new rootfs mount changes)."""
    table = {}
    for line in proc_text(pid, "mountinfo").splitlines():
        fields = line.split()
        tail = fields[fields.index("-") + 1:]
        sizes = [o for o in tail[2].split(",") if o.startswith("size=")]
        table[fields[4]] = (tail[0], "ro" in fields[5].split(","), sizes)
    return table


def working_dir(pid):
    return [d for d in ("/", "/tmp") if os.path.samefile("/proc/%d/cwd" % pid, "/proc/%d/root%s" % (pid, d))]


#: field of the normalised container -> what the running container (init PID, its record) shows of it
OBSERVE = {
    "args": lambda pid, info: (proc_text(pid, "cmdline"), "ENTRY=2" in proc_text(pid, "environ").split("\0")),
    "env": lambda pid, info: sorted(e for e in proc_text(pid, "environ").split("\0") if e.startswith(("A=", "B="))),
    "user": lambda pid, info: status_fields(pid, "Uid", "Gid", "Groups"),
    "working_dir": lambda pid, info: working_dir(pid),
    "hostname": lambda pid, info: in_namespace(pid, "--uts", "hostname"),
    "volumes": lambda pid, info: mount_table(pid),
    "mounts": lambda pid, info: mount_table(pid),
    "read_only": lambda pid, info: mount_table(pid)["/"],
    "tmpfs": lambda pid, info: mount_table(pid),
    "capabilities": lambda pid, info: status_fields(pid, "CapBnd"),
    "privileged": lambda pid, info: (status_fields(pid, "CapBnd"), mount_table(pid)["/sys"]),
    "no_new_privileges": lambda pid, info: status_fields(pid, "NoNewPrivs"),
    "memory": lambda pid, info: cgroup_limits(pid)["memory"],
    "cpus": lambda pid, info: cgroup_limits(pid)["cpus"],
    "pids_limit": lambda pid, info: cgroup_limits(pid)["pids_limit"],
    "ulimits": lambda pid, info: [line for line in proc_text(pid, "limits").splitlines() if "open files" in line],
    "sysctls": lambda pid, info: in_namespace(pid, "--net", "cat", "/proc/sys/net/ipv4/ip_forward"),
    "labels": lambda pid, info: info["config"]["labels"],
    "annotations": lambda pid, info: runc_state(info)["annotations"],
    "stop_signal": lambda pid, info: info["config"]["stop_signal"],
    "stop_timeout": lambda pid, info: info["config"]["stop_timeout"],
    "restart_policy": lambda pid, info: monitor_config(info)["restart_policy"],
    "dns": lambda pid, info: proc_text(pid, "root/etc/resolv.conf"),
    "network": lambda pid, info: os.readlink("/proc/%d/ns/net" % pid) == os.readlink("/proc/self/ns/net"),
}
#: values that a running container can show (the corpus's own leave it alike: nobody:nogroup and
#: nobody share their group; an entrypoint or command that execs sleep 60 shows as sleep 60)
APPLIED = {"command": ["sh", "-c", "sleep 601"], "entrypoint": ["/usr/bin/env", "ENTRY=2"], "user": "root"}


def runc_state(info):
    run_root = info["run_root"]
    state = subprocess.run(["runc", "--root", os.path.join(run_root, "runtime", "runc"), "state", info["name"]],
                           capture_output=True, text=True, timeout=30, check=True).stdout
    return json.loads(state)


def monitor_config(info):
    run_root = info["run_root"]
    with open(os.path.join(run_root, "containers", info["name"], "monitor.json")) as handle:
        return json.load(handle)


def test_every_change_shows_in_the_running_container(tmp_path, registry, busybox):
    """Each option of the corpus changed for real, one after the other: changed, the field
    alone in the diff (privileged brings every capability with it), a new container (the same one for a limit) that shows the new value,
    and the same task again changes nothing."""
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    args = base_args(tmp_path, registry, busybox.ref, host_dir)
    params = dict(container_options({}), **{k: v for k, v in args.items() if k in CONTAINER_OPTIONS})
    params.update(recreate=False, force_restart=False)
    engine = ContainerService(service(tmp_path, registry))
    order = [o for o in CHANGES if o not in ("network", "privileged")] + ["privileged", "network"]
    assert sorted(order) == sorted(CHANGES)
    try:
        info = dict(engine.ensure(params).values["container"], run_root=args["run_root"])
        assert info["state"] == "running", info
        for option in order:
            value, field = CHANGES[option]
            if option == "network":  # runc refuses net.* sysctls in the host's network namespace
                params["sysctls"] = {}
                info = dict(engine.ensure(params).values["container"], run_root=args["run_root"])
            before = OBSERVE[field](info["pid"], info)
            params[option] = APPLIED.get(option, value)
            outcome = engine.ensure(params)
            result = outcome.result()
            assert outcome.changed and not outcome.warnings, (option, outcome.actions, outcome.warnings)
            diff = result["diff"]
            fields = sorted(k for k in diff["after"] if diff["before"].get(k) != diff["after"][k])
            assert fields == (["capabilities", field] if option == "privileged" else [field]), option
            new = dict(result["container"], run_root=args["run_root"])
            assert new["state"] == "running", (option, new)
            assert (new["pid"] == info["pid"]) == (field in IN_PLACE), (option, outcome.actions)
            after = OBSERVE[field](new["pid"], new)
            assert after != before, (option, before)
            again = engine.ensure(params)
            assert not again.changed and again.actions == [], (option, again.actions)
            info = new
        assert OBSERVE["network"](info["pid"], info) is True and OBSERVE["privileged"](info["pid"], info)[1][1] is False
    finally:
        engine.ensure(dict(params, state="absent"))
    assert not mounts_below(tmp_path)
