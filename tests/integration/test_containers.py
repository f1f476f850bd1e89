# -*- coding: utf-8 -*-
"""Containers run for real: a busybox image from the test registry, overlay rootfs, runc,
the detached monitor. Started, reported running, killed from outside, restarted by the
policy, logs, stop signals, a reboot (run_root wiped), a kill -9 in the middle of a create,
check mode, the image held while a container uses it, and nothing left after removal; a
moved tag counts only when the pull fetched it; per-name locks (different containers do not
wait on each other)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness import images as I
from harness.engine import python_path, service
from harness.specschema import SpecSchema, runtime_spec_dir

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ImageInUseError
from ansible_collections.undock.oci.plugins.module_utils.image.prune import PruneFilters, prune
from ansible_collections.undock.oci.plugins.module_utils.runtime.errors import ContainerError
from ansible_collections.undock.oci.plugins.module_utils.runtime import monitor
from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers, volume_name
from ansible_collections.undock.oci.plugins.module_utils.runtime.monitoring import MonitorLaunch, early_monitor
from ansible_collections.undock.oci.plugins.module_utils.runtime.network import lifecycle
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
from ansible_collections.undock.oci.plugins.module_utils.runtime.supervisor import systemd_booted
from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
RUNC = "runc"


def busybox_layers():
    data = [I.Entry("data/", "dir", mode=0o755), I.Entry("data/seed", data=b"from the image\n")]
    return [I.tar_layer(I.busybox_entries()), I.tar_layer(data)]


@pytest.fixture(scope="module")
def busybox(session_registry):
    """A busybox image with a Volume (/data, seeded by the image) in the test registry."""
    return I.push_layers(session_registry, "containers/busybox", "1", busybox_layers(),
                         config_extra={"Volumes": {"/data": {}}, "Cmd": ["sh", "-c", "echo default"]})


def mounts_below(path):
    path = os.path.realpath(str(path))
    return [e["point"] for e in M.mountinfo() if e["point"] == path or e["point"].startswith(path + "/")]


@pytest.fixture
def engine(tmp_path, registry, busybox):
    """(ContainerService, Containers) on a store of this test; every container is removed
    and nothing may stay mounted at the end."""
    svc = service(tmp_path, registry)
    containers = ContainerService(svc)
    yield containers, busybox.ref
    store = svc.store(create=False)
    if store is not None:
        manager = Containers(store, svc.run_root)
        for name in manager.names():
            manager.remove(name)
    leaked = mounts_below(tmp_path)
    for point in sorted(leaked, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    assert not leaked, "the test left mounts behind: %s" % leaked


def manager(engine_service):
    svc = engine_service.images
    return Containers(svc.store(), svc.run_root)


def signal_bit(number: int) -> int:
    """The bit of signal ``number`` in /proc/PID/status's signal masks."""
    return 1 << (number - 1)


def caller_ignored_signals() -> int:
    """SigIgn of this test process (a bit per ignored signal)."""
    with open("/proc/self/status") as handle:
        return int(next(line for line in handle if line.startswith("SigIgn:")).split()[1], 16)


def wait_for(what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met within %s s" % timeout)


def monitors_of(run_root):
    """Pids of the processes running a monitor script of ``run_root`` (monitoring.monitor_script)."""
    scripts = os.path.join(str(run_root), "monitor") + "/"
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except (OSError, ValueError):
            continue
        if any(arg.decode("utf-8", "replace").startswith(scripts) for arg in argv):
            found.append(int(entry))
    return found


def runc_list(run_root):
    root = os.path.join(str(run_root), "runtime", "runc")
    out = subprocess.run([RUNC, "--root", root, "list", "--format", "json"], capture_output=True, text=True,
                         timeout=30).stdout
    return [c["id"] for c in json.loads(out or "null") or []]


def test_run_kill_from_outside_logs_and_removal(engine, tmp_path):
    svc, image = engine
    params = dict(name="web", image=image, command="sh -c 'echo started; id; cat /data/seed; sleep 60'",
                  user="nobody", stop_timeout=1)
    first = svc.ensure(params)
    assert first.changed
    info = first.values["container"]
    assert info["state"] == "running" and info["pid"] and info["supervised"], info
    # held by the monitor where systemd is not PID 1 (this machine, CI); tests/node/ has the systemd units
    held_by = "systemd" if systemd_booted() else "monitor"
    assert manager(svc).record("web")["supervisor"] == held_by and manager(svc).supervisor.kind == held_by
    assert (info["unit"] is None) == (held_by == "monitor"), info
    with open(os.path.join(info["bundle"], "config.json")) as handle:
        assert SpecSchema(runtime_spec_dir(), "config-schema.json").errors(json.load(handle)) == []
    logs = wait_for(lambda: len(manager(svc).info("web")["logs"]) >= 3 and manager(svc).info("web")["logs"])
    assert logs[:3] == ["started", "uid=65534(nobody) gid=65534(nogroup)", "from the image"], logs

    again = svc.ensure(params)
    assert not again.changed and again.actions == [], again.actions

    # the image is held while the container exists
    with pytest.raises(ImageInUseError, match="container:web"):
        svc.images.absent(image)
    pruned = prune(svc.images, PruneFilters(all_images=True))
    assert pruned.values["kept"] == [image] and "container:web" in pruned.warnings[0]

    os.kill(info["pid"], signal.SIGKILL)
    # until its monitor has left too: while it lives, the container counts as running (it might restart it)
    stopped = wait_for(lambda: (lambda i: i["state"] == "stopped" and not i["supervised"] and i)(manager(svc).info("web")))
    assert stopped["exit_code"] == 137 and stopped["finished_at"] and stopped["pid"] is None, stopped

    restarted = svc.ensure(params)
    assert restarted.changed and restarted.values["container"]["state"] == "running"

    gone = svc.ensure(dict(params, state="absent"))
    assert gone.changed and gone.values["container"] is None
    assert not mounts_below(tmp_path)
    assert not os.path.exists(os.path.join(str(tmp_path), "store", "containers", "web"))
    assert not [v for v in os.listdir(os.path.join(str(tmp_path), "store", "volumes")) if v.startswith("web-")]
    assert runc_list(tmp_path / "run") == []
    assert not svc.ensure(dict(params, state="absent")).changed
    svc.images.absent(image)  # no longer held


def test_the_container_starts_with_default_signals_and_no_stray_descriptors(engine):
    """What the monitor passes down through the runtime: no signal ignored (the monitor ignores
    SIGPIPE and SIGHUP itself; glibc's posix_spawn would leave its internal 32 and 33 ignored),
    nothing blocked, and no descriptor but 0, 1 and 2 (/dev/null and the log pipe)."""
    svc, image = engine
    out = svc.ensure(dict(name="sigs", image=image, command="sh -c 'grep -E \"^Sig(Ign|Blk)\" /proc/self/status; "
                                                               "ls /proc/self/fd; sleep 60'", stop_timeout=1))
    assert out.values["container"]["state"] == "running"
    logs = wait_for(lambda: (lambda lines: len(lines) >= 5 and lines)(manager(svc).info("sigs")["logs"]))
    blocked, ignored = sorted(logs[:2])
    assert blocked == "SigBlk:\t0000000000000000", logs
    # Only what this test's own caller ignores may be ignored: GNU make starts its commands with
    # glibc's posix_spawn, which leaves 32 and 33 ignored in every process below `make test`.
    # Python's own SIGPIPE and SIGXFSZ are not the caller's: the monitor must not pass them on.
    inherited = caller_ignored_signals() & ~(signal_bit(signal.SIGPIPE) | signal_bit(signal.SIGXFSZ))
    assert ignored.startswith("SigIgn:\t") and int(ignored.split("\t")[1], 16) & ~inherited == 0, (logs, hex(inherited))
    # ls's own descriptor for /proc/self/fd is the fourth
    assert logs[2:6] == ["0", "1", "2", "3"] and (len(logs) == 6 or not logs[6].isdigit()), logs


def test_restart_policy_on_failure(engine):
    svc, image = engine
    out = svc.ensure(dict(name="flaky", image=image, command="sh -c 'echo run; exit 3'",
                          restart_policy="on-failure:2"))
    assert out.changed
    final = wait_for(lambda: (lambda i: i["state"] == "stopped" and not i["supervised"] and i)(manager(svc).info("flaky")))
    assert final["exit_code"] == 3 and final["restart_count"] == 2, final
    assert final["logs"] == ["run", "run", "run"], final["logs"]

    # always: restarted whatever the exit status, until stopped by us (even during a back-off)
    svc.ensure(dict(name="looping", image=image, command="sh -c 'echo again; exit 0'", restart_policy="always"))
    wait_for(lambda: manager(svc).info("looping")["restart_count"] >= 2)
    stopped = svc.ensure(dict(name="looping", image=image, command="sh -c 'echo again; exit 0'",
                              restart_policy="always", state="stopped")).values["container"]
    assert stopped["state"] == "stopped" and not stopped["supervised"], stopped
    count = stopped["restart_count"]
    time.sleep(0.5)
    assert manager(svc).info("looping")["restart_count"] == count


def test_a_monitor_that_is_leaving_does_not_swallow_a_start(engine):
    """A monitor saves the exit and its decision (leave or restart) in one write. One still
    alive in state "exited" is leaving: a start asked for meanwhile (a node powered off and
    booted again at once) must start the container, not take it for one about to restart."""
    svc, image = engine
    # the first run leaves a mark in the container's own upper layer and exits; the next one stays
    params = dict(name="once", image=image, restart_policy="no",
                  command="sh -c 'test -f /ran && exec sleep 600; touch /ran'")
    svc.ensure(params)
    wait_for(lambda: (lambda i: i["state"] == "stopped" and not i["supervised"] and i)(manager(svc).info("once")))
    paths = manager(svc).paths("once")
    with open(paths.state) as handle:
        state = json.load(handle)
    assert state["status"] == "exited" and state["exit_code"] == 0, state
    # the monitor's last moments, made to last: a live process stands for it, its decision saved
    leaving = subprocess.Popen(["sleep", "600"])
    try:
        state.update(monitor_pid=leaving.pid, monitor_start=monitor.process_start(leaving.pid))
        with open(paths.state, "w") as handle:
            json.dump(state, handle)
        info = manager(svc).info("once")
        assert info["state"] == "stopped" and not info["supervised"], info
        out = svc.ensure(params)
        assert out.changed and any(a.startswith("started container once") for a in out.actions), out.actions
        assert wait_for(lambda: manager(svc).info("once")["state"] == "running")
    finally:
        leaving.kill()
        leaving.wait()
    assert svc.ensure(dict(params, state="absent")).changed


def test_stop_signal_then_sigkill_after_timeout(engine):
    svc, image = engine
    polite = dict(name="polite", image=image, stop_signal="USR1", stop_timeout=5,
                  command=["sh", "-c", "trap 'echo got usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done"])
    svc.ensure(polite)
    wait_for(lambda: manager(svc).info("polite")["logs"] == ["ready"])
    began = time.monotonic()
    stopped = svc.ensure(dict(polite, state="stopped")).values["container"]
    assert time.monotonic() - began < 4
    assert stopped["state"] == "stopped" and stopped["exit_code"] == 0 and stopped["logs"][-1] == "got usr1"

    stubborn = dict(name="stubborn", image=image, stop_timeout=1, command=["sh", "-c", "echo ready; sleep 60"])
    svc.ensure(stubborn)
    out = svc.ensure(dict(stubborn, state="stopped"))
    assert out.values["container"]["exit_code"] == 137
    assert any("did not stop within 1 s of SIGTERM" in a for a in out.actions), out.actions
    assert not svc.ensure(dict(stubborn, state="stopped")).changed


def test_reboot_reads_stopped_and_started_brings_it_back(engine, tmp_path):
    svc, image = engine
    params = dict(name="boot", image=image, stop_timeout=0,
                  command="sh -c 'echo up; echo data > /data/written; sleep 60'")
    info = svc.ensure(params).values["container"]
    wait_for(lambda: manager(svc).info("boot")["logs"] == ["up"])
    # a reboot: every process and mount gone, run_root (tmpfs) empty
    state = json.load(open(os.path.join(str(tmp_path), "run", "containers", "boot", "state.json")))
    os.kill(state["monitor_pid"], signal.SIGKILL)
    os.kill(info["pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists("/proc/%d/status" % info["pid"]) or
             "Z" in open("/proc/%d/status" % info["pid"]).read().split("State:")[1][:4])
    # the network namespace (its veth) and firewall rules do not survive a boot either
    lifecycle.detach("boot", os.path.join(str(tmp_path), "run", "containers", "boot", "network"),
                     os.path.join(str(tmp_path), "run"))
    subprocess.run(["umount", "-l", os.path.join(info["bundle"], "rootfs")], check=True)
    subprocess.run(["rm", "-rf", os.path.join(str(tmp_path), "run")], check=True)

    assert manager(svc).status("boot")["state"] == "stopped"
    back = svc.ensure(params)
    assert back.changed and back.values["container"]["state"] == "running"
    assert any("mounted the rootfs of boot again" in a for a in back.actions)
    wait_for(lambda: manager(svc).info("boot")["logs"][-1:] == ["up"])
    volume = os.path.join(str(tmp_path), "store", "volumes", volume_name("boot", "/data"), "_data")
    wait_for(lambda: os.path.exists(os.path.join(volume, "written")))
    with open(os.path.join(volume, "seed")) as handle:
        assert handle.read() == "from the image\n"  # the anonymous volume was seeded once and kept


def reboot(svc, tmp_path, name, info):
    """What a boot forgets: every process, the network, the mounts and run_root (tmpfs)."""
    state = json.load(open(os.path.join(str(tmp_path), "run", "containers", name, "state.json")))
    os.kill(state["monitor_pid"], signal.SIGKILL)
    os.kill(info["pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists("/proc/%d/status" % info["pid"]) or
             "Z" in open("/proc/%d/status" % info["pid"]).read().split("State:")[1][:4])
    lifecycle.detach(name, os.path.join(str(tmp_path), "run", "containers", name, "network"),
                     os.path.join(str(tmp_path), "run"))
    subprocess.run(["umount", "-l", os.path.join(info["bundle"], "rootfs")], check=True)
    subprocess.run(["rm", "-rf", os.path.join(str(tmp_path), "run")], check=True)


def test_image_held_by_a_container_whose_rootfs_is_not_mounted(engine, tmp_path):
    """After a reboot the mount record is gone with run_root: the store's hold still names the container."""
    svc, image = engine
    params = dict(name="held", image=image, stop_timeout=0, command="sleep 60")
    info = svc.ensure(params).values["container"]
    reboot(svc, tmp_path, "held", info)
    assert not mounts_below(tmp_path)
    for force in (False, True):  # force unmounts mounts; it never removes a container's image
        with pytest.raises(ImageInUseError, match=r"held by container:held .*remove container:held first"):
            svc.images.absent(image, force=force)
    pruned = prune(svc.images, PruneFilters(all_images=True))
    assert pruned.values["kept"] == [image] and "container:held" in pruned.warnings[0], pruned.warnings
    assert svc.images.local_image(image) is not None
    back = svc.ensure(params)  # its layers are all still there
    assert back.values["container"]["state"] == "running"
    svc.ensure(dict(params, state="absent"))
    assert svc.images.absent(image).changed  # no longer held


def test_a_hold_left_by_a_removal_cut_short_holds_nothing(engine, tmp_path):
    svc, image = engine
    svc.ensure(dict(name="cut", image=image, state="present"))
    holds = os.listdir(os.path.join(str(tmp_path), "store", "holds"))
    assert len(holds) == 1
    with open(os.path.join(str(tmp_path), "store", "holds", holds[0]), "rb") as handle:
        saved = handle.read()
    svc.ensure(dict(name="cut", state="absent"))
    assert os.listdir(os.path.join(str(tmp_path), "store", "holds")) == []
    with open(os.path.join(str(tmp_path), "store", "holds", holds[0]), "wb") as handle:
        handle.write(saved)  # as if the removal was killed after the container's directory went
    assert svc.images.absent(image).changed
    assert os.listdir(os.path.join(str(tmp_path), "store", "holds")) == []


def test_kill_9_halfway_through_create_is_repaired(engine, tmp_path):
    svc, image = engine
    svc.images.present(image)
    script = textwrap.dedent("""
        import os, signal, sys
        from harness.engine import service
        from ansible_collections.undock.oci.plugins.module_utils.runtime import containers
        from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
        def die(*args):  # after the rootfs is mounted and the volumes made: a real kill -9
            os.kill(os.getpid(), signal.SIGKILL)
        containers.Containers._etc_files = die
        svc = service(sys.argv[1], registry=None, registries_conf=sys.argv[2])
        ContainerService(svc).ensure(dict(name="half", image=sys.argv[3], command="sleep 60"))
    """)
    conf = os.path.join(str(tmp_path), "conf", "registries.conf")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), conf, image], timeout=120,
                          env=dict(os.environ, PYTHONPATH=python_path()), capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    half = os.path.join(str(tmp_path), "store", "containers", "half")
    assert os.path.isdir(half) and mounts_below(half) and not os.path.exists(os.path.join(half, "container.json"))
    assert manager(svc).names() == []
    # the monitor started ahead of the container was never handed it: it left, and made nothing
    wait_for(lambda: not monitors_of(tmp_path / "run"))
    assert not os.path.exists(os.path.join(str(tmp_path), "run", "containers", "half"))

    out = svc.ensure(dict(name="half", image=image, command="sleep 60", stop_timeout=0))
    assert out.actions[0] == "removed the unfinished container half (its creation was interrupted)", out.actions
    assert out.values["container"]["state"] == "running"


def test_a_monitor_started_ahead_leaves_without_its_container(tmp_path):
    """A monitor started ahead of its container (monitoring.MonitorLaunch) waits, detached from
    the engine; when the engine closes it without handing it a container, or dies (kill -9)
    before that, it leaves and has made nothing."""
    run_root = tmp_path / "run"
    launch = MonitorLaunch(str(run_root))
    try:
        waiting = wait_for(lambda: monitors_of(run_root))
        with open("/proc/%d/stat" % waiting[0]) as handle:
            assert int(handle.read().rsplit(")", 1)[1].split()[1]) != os.getpid()  # detached: not our child
    finally:
        launch.close()
    wait_for(lambda: not monitors_of(run_root))
    assert os.listdir(str(run_root)) == ["monitor"] and len(os.listdir(str(run_root / "monitor"))) == 1

    script = "import sys, time\nfrom %s import MonitorLaunch\nMonitorLaunch(sys.argv[1])\ntime.sleep(120)\n" \
        % MonitorLaunch.__module__
    engine = subprocess.Popen([sys.executable, "-c", script, str(run_root)], env=dict(os.environ, PYTHONPATH=python_path()))
    try:
        wait_for(lambda: monitors_of(run_root))
    finally:
        engine.kill()
        engine.wait(30)
    wait_for(lambda: not monitors_of(run_root))
    assert os.listdir(str(run_root)) == ["monitor"] and len(os.listdir(str(run_root / "monitor"))) == 1


def zombie_children():
    """Our children that exited and were not reaped."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append(int(entry))
    return found


def test_a_monitor_launched_before_the_engine_holds_the_container(engine, tmp_path):
    """oci_container launches a start's monitor before it imports the engine
    (monitoring.early_monitor) and hands it to ensure: that monitor, already waiting, is the
    one that holds the container, and no child of ours is left unreaped. No monitor is launched
    where none will be needed."""
    svc, image = engine
    store, run_root = svc.images.storage_root, svc.images.run_root
    params = dict(name="ahead", image=image, command="sleep 60", stop_timeout=0)
    svc.ensure(dict(params, state="present"))  # the run root exists from here on
    assert monitors_of(run_root) == []

    early = early_monitor(store, run_root, params, check_mode=False)
    assert early is not None
    waiting = wait_for(lambda: monitors_of(run_root))
    out = svc.ensure(params, early=early)
    assert out.values["container"]["state"] == "running"
    with open(os.path.join(run_root, "containers", "ahead", "state.json")) as handle:
        assert json.load(handle)["monitor_pid"] == waiting[0]
    assert zombie_children() == []

    for case in (dict(params), dict(params, state="stopped"), dict(params, state="present"),
                 dict(params, state="absent")):  # running already; or no start asked for
        assert early_monitor(store, run_root, case, check_mode=False) is None
    assert early_monitor(store, run_root, dict(params, state="restarted"), check_mode=True) is None
    assert early_monitor(store, str(tmp_path / "no-run-root"), dict(params, name="new"), check_mode=False) is None
    restart = early_monitor(store, run_root, dict(params, state="restarted"), check_mode=False)
    assert restart is not None
    restart.close()
    wait_for(lambda: monitors_of(run_root) == [waiting[0]])
    assert zombie_children() == []
    with pytest.raises(ContainerError, match="container name '../x' is invalid"):
        early_monitor(store, run_root, dict(params, name="../x"), check_mode=False)


def test_a_container_whose_record_cannot_be_read_is_named_and_removed(engine, tmp_path):
    """A record that cannot be read (a disk fault, a hand edit) no longer takes the name for good:
    a start says what is wrong and what to do; ``absent`` kills what runs, unmounts and removes
    it (check mode only says so); then the name can be used again."""
    svc, image = engine
    params = dict(name="hurt", image=image, command="sleep 60", stop_timeout=0)
    assert svc.ensure(params).values["container"]["state"] == "running"
    record = os.path.join(str(tmp_path), "store", "containers", "hurt", "container.json")
    with open(record, "w") as handle:
        handle.write('{"desired": ')  # cut short
    with pytest.raises(ContainerError, match=r"container hurt cannot be brought to started: its record .*container.json "
                                             r"cannot be read; remove it \(state: absent\) and create it again"):
        svc.ensure(params)
    check = ContainerService(service(tmp_path, None, check_mode=True)).ensure(dict(params, state="absent"))
    assert check.changed and check.actions == ["would remove container hurt, whose record %s cannot be read" % record]
    assert runc_list(tmp_path / "run") != []

    out = svc.ensure(dict(params, state="absent"))
    assert out.changed and out.actions[-1] == "removed container hurt, whose record %s could not be read" % record
    assert runc_list(tmp_path / "run") == []
    wait_for(lambda: not monitors_of(tmp_path / "run"))
    assert not mounts_below(tmp_path)
    assert not os.path.exists(os.path.dirname(record))
    assert not svc.ensure(dict(params, state="absent")).changed
    assert svc.ensure(params).values["container"]["state"] == "running"


def test_check_mode_never_touches_the_host(tmp_path, registry, busybox):
    svc = service(tmp_path, registry, check_mode=True)
    out = ContainerService(svc).ensure(dict(name="dry", image=busybox.ref, memory="64m"))
    assert out.changed and out.values["container"]["state"] == "running"
    assert out.actions[-2:] == ["would create container dry from %s" % busybox.ref, "would start container dry"]
    assert out.after["memory"] == 64 << 20
    assert not os.path.exists(os.path.join(str(tmp_path), "store"))
    assert not os.path.exists(os.path.join(str(tmp_path), "run"))


def test_failures_leave_nothing_and_say_why(engine, tmp_path):
    """A user the image does not have fails the create and cleans it at once; a command that
    does not exist fails the start with the runtime's own words; nothing stays mounted."""
    svc, image = engine
    with pytest.raises(ContainerError, match="'ghost' is not in the image's /etc/passwd"):
        svc.ensure(dict(name="ghostly", image=image, user="ghost"))
    assert not os.path.exists(os.path.join(str(tmp_path), "store", "containers", "ghostly"))
    assert not mounts_below(tmp_path)
    wait_for(lambda: not monitors_of(tmp_path / "run"))  # the one started ahead leaves with nothing to hold
    assert not os.path.exists(os.path.join(str(tmp_path), "run", "containers", "ghostly"))

    with pytest.raises(ContainerError, match=r"container nocmd could not start: runc create failed .*"
                                             r"/no/such/command.*no such file or directory"):
        svc.ensure(dict(name="nocmd", image=image, command=["/no/such/command"]))
    info = manager(svc).info("nocmd")
    assert info["state"] == "stopped" and info["error"], info
    assert runc_list(tmp_path / "run") == []


def test_log_is_capped(tmp_path, registry, busybox):
    """The monitor rotates the log at its cap and keeps one older part; the tail reads across."""
    svc = ContainerService(service(tmp_path, registry), log_max=4096)
    try:
        out = svc.ensure(dict(name="chatty", image=busybox.ref, stop_timeout=0,
                              command=["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done"]))
        assert out.changed
        info = wait_for(lambda: (lambda i: i["state"] == "stopped" and not i["supervised"] and i)(
            manager(svc).info("chatty", log_lines=5)))
        assert info["exit_code"] == 0 and info["logs"][-1] == "line 1999", info["logs"]
        log = info["log_path"]
        assert os.path.getsize(log) <= 4096 and os.path.getsize(log + ".1") <= 4096
    finally:
        svc.ensure(dict(name="chatty", state="absent"))
    assert not mounts_below(tmp_path)


def test_two_runs_on_one_name_wait_on_its_lock(engine, tmp_path):
    """Two processes ensure the same container at once: one creates it, the other waits
    and finds it as wanted."""
    svc, image = engine
    svc.images.present(image)
    script = textwrap.dedent("""
        import json, sys
        from harness.engine import service
        from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
        svc = service(sys.argv[1], registry=None, registries_conf=sys.argv[2])
        out = ContainerService(svc).ensure(dict(name="shared", image=sys.argv[3], command="sleep 60", stop_timeout=0))
        print(json.dumps({"changed": out.changed, "state": out.values["container"]["state"]}))
    """)
    conf = os.path.join(str(tmp_path), "conf", "registries.conf")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), conf, image], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=python_path()))
             for dummy in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.splitlines()[-1]))
    assert sorted(r["changed"] for r in results) == [False, True], results
    assert all(r["state"] == "running" for r in results), results
    assert manager(svc).names() == ["shared"] and runc_list(tmp_path / "run") == ["shared"]


def test_runtime_crun_runs_a_container_here(engine, tmp_path):
    """runtime: crun runs crun, not runc: a busybox container started, stopped and removed.
    crun 1.8.1 refuses these machines' hybrid cgroups ("cgroups in hybrid mode not supported,
    drop all controllers from cgroupv2", whatever --cgroup-manager says): OCIRuntime runs it
    where the v2 hierarchy is not mounted (runc.crun_command), and it runs, and updates limits
    in place."""
    svc, image = engine
    params = dict(name="crunny", image=image, command="sh -c 'echo from crun; sleep 30'", stop_timeout=1,
                  runtime="crun", memory="64m")
    out = svc.ensure(params)
    info = out.values["container"]
    assert info["state"] == "running" and info["pid"], info
    with open(os.path.join(str(tmp_path), "run", "containers", "crunny", "monitor.json")) as handle:
        binary = json.load(handle)["runtime"]
    assert os.path.basename(binary) == "crun"
    crun_root = os.path.join(str(tmp_path), "run", "runtime", "crun")
    listed = subprocess.run([binary, "--root", crun_root, "list", "--format", "json"], capture_output=True,
                            text=True, timeout=30, check=True).stdout
    assert [c["id"] for c in json.loads(listed)] == ["crunny"] and runc_list(tmp_path / "run") == []
    with open("/proc/%d/cgroup" % info["pid"]) as handle:  # crun's own cgroup, with the limit asked for
        memory = [line.split(":", 2)[2].strip() for line in handle if line.split(":")[1] == "memory"][0]
    with open("/sys/fs/cgroup/memory%s/memory.limit_in_bytes" % memory) as handle:
        assert int(handle.read()) == 64 << 20
    wait_for(lambda: manager(svc).info("crunny")["logs"] == ["from crun"])
    ran = svc.exec("crunny", ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 3"])  # crun exec, too
    assert (ran.rc, ran.stdout) == (3, b"sleep 30 "), ran  # sh exec'd its last command
    updated = svc.ensure(dict(params, memory="96m", pids_limit=16))  # crun update, through the same wrapper
    assert updated.actions == ["updated container crunny in place: memory, pids_limit"], (updated.actions, updated.warnings)
    assert updated.values["container"]["pid"] == info["pid"]
    with open("/sys/fs/cgroup/memory%s/memory.limit_in_bytes" % memory) as handle:
        assert int(handle.read()) == 96 << 20
    with open("/sys/fs/cgroup/pids%s/pids.max" % memory) as handle:
        assert handle.read().strip() == "16"
    lifted = svc.ensure(dict(params, memory="96m"))  # crun's update cannot lift pids.max: recreated, no warning
    assert lifted.actions[0] == "recreate container crunny: these fields changed: pids_limit" and not lifted.warnings
    params.update(memory="96m")
    assert svc.ensure(dict(params, state="stopped")).values["container"]["state"] == "stopped"
    assert svc.ensure(dict(params, state="started")).values["container"]["state"] == "running"
    assert svc.ensure(dict(params, state="absent")).changed
    assert not mounts_below(tmp_path) and not os.path.exists(os.path.join(crun_root, "crunny"))


def test_a_new_digest_counts_only_when_the_pull_fetched_it(tmp_path, registry):
    """The tag moves in the registry: pull=missing and never keep the container (the store's
    image is as it was); newer fetches the new digest and recreates it; always, fetching the
    same digest again, changes nothing."""
    svc = ContainerService(service(tmp_path, registry))
    first = I.push_layers(registry, "containers/moving", "1", busybox_layers())
    params = dict(name="moving", image=first.ref, command="sleep 60", stop_timeout=0, network="none")
    try:
        made = svc.ensure(params).values["container"]
        assert made["image_digest"] == first.digest and made["state"] == "running"
        moved = I.push_layers(registry, "containers/moving", "1",
                              busybox_layers() + [I.tar_layer([I.Entry("new", data=b"v2\n")])])
        assert moved.ref == first.ref and moved.digest != first.digest
        for pull in ("missing", "never"):
            kept = svc.ensure(dict(params, pull=pull))
            assert not kept.changed and kept.actions == [], (pull, kept.actions)
            assert kept.values["container"]["pid"] == made["pid"]
        newer = svc.ensure(dict(params, pull="newer"))
        assert newer.changed and newer.after["image_digest"] == moved.digest != newer.before["image_digest"]
        assert "recreate container moving: these fields changed: image_digest" in newer.actions, newer.actions
        assert newer.values["container"]["pid"] != made["pid"]
        again = svc.ensure(dict(params, pull="always"))
        assert not again.changed and again.values["container"]["pid"] == newer.values["container"]["pid"]
    finally:
        svc.ensure(dict(params, state="absent"))
    assert not mounts_below(tmp_path)


def test_different_containers_do_not_wait_on_each_other(engine, tmp_path):
    """While a task holds container a's lock (another run creating it, say), container b is
    made and started by another process: the locks are per name, not per store."""
    svc, image = engine
    svc.images.present(image)
    script = textwrap.dedent("""
        import json, sys
        from harness.engine import service
        from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
        svc = service(sys.argv[1], registry=None, registries_conf=sys.argv[2])
        out = ContainerService(svc).ensure(dict(name="b", image=sys.argv[3], command="sleep 60", stop_timeout=0))
        print(json.dumps({"changed": out.changed, "state": out.values["container"]["state"]}))
    """)
    conf = os.path.join(str(tmp_path), "conf", "registries.conf")
    with manager(svc).lock("a"):
        proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), conf, image], capture_output=True,
                              text=True, timeout=120, env=dict(os.environ, PYTHONPATH=python_path()))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"changed": True, "state": "running"}
