# -*- coding: utf-8 -*-
"""Commands and Ansible tasks inside running containers, for real: the engine's exec (runc
exec: argv, env, user, working dir, stdin, timeout, errors), the oci_container_exec module,
and a real play through the undock.oci.oci connection against a container whose rootfs is a
debootstrapped Debian with Python (copy, template, command, stat, fetch), with files put and
fetched through symlinks of the image that point out of it."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from harness import images as I
from harness.ansible import run_play_on, run_tasks
from harness.debian import debootstrap_root, layer_of
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers
from ansible_collections.undock.oci.plugins.module_utils.runtime.errors import ContainerError
from ansible_collections.undock.oci.plugins.module_utils.runtime.exec import exec_in_container
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

#: symlinks of the image that point out of it, were they followed on the host
HOSTILE = [I.Entry("escape", "symlink", target="/", mode=0o777),
           I.Entry("deep", "symlink", target="../../../../../../../..", mode=0o777)]


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "exec/busybox", "1", [I.tar_layer(I.busybox_entries() + HOSTILE)])


@pytest.fixture(scope="module")
def debian(session_registry):
    """Debian bookworm (minbase, with python3) plus the hostile links, in the test registry."""
    layer = layer_of(debootstrap_root())
    return I.push_layers(session_registry, "exec/debian", "bookworm", [layer, I.tar_layer(HOSTILE)], compress="none",
                         config_extra={"Cmd": ["sleep", "3600"]})


def mounts_below(path):
    path = os.path.realpath(str(path))
    return [e["point"] for e in M.mountinfo() if e["point"] == path or e["point"].startswith(path + "/")]


@pytest.fixture
def containers(tmp_path, registry):
    """(ContainerService, Containers); everything removed, nothing left mounted at the end."""
    svc = service(tmp_path, registry)
    engine = ContainerService(svc)
    manager = []

    def get():
        if not manager:
            manager.append(Containers(svc.store(), svc.run_root))
        return manager[0]
    yield engine, get
    store = svc.store(create=False)
    if store is not None:
        left = Containers(store, svc.run_root)
        for name in left.names():
            left.remove(name)
    leaked = mounts_below(tmp_path)
    for point in sorted(leaked, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    assert not leaked, "the test left mounts behind: %s" % leaked


def test_exec_argv_env_user_cwd_stdin_timeout_and_errors(containers, busybox):
    engine, get = containers
    params = dict(name="box", image=busybox.ref, command=["sleep", "300"], env={"FROM": "container"}, stop_timeout=1)
    engine.ensure(params)
    manager = get()

    done = exec_in_container(manager, "box", ["sh", "-c", "echo $FROM $EXTRA; id; pwd; cat; echo err >&2; exit 3"],
                             env={"EXTRA": "exec"}, user="nobody", working_dir="/tmp", stdin=b"piped\n")
    assert done.rc == 3
    assert done.stdout.decode().splitlines() == ["container exec", "uid=65534(nobody) gid=65534(nogroup)", "/tmp",
                                                 "piped"]
    assert done.stderr == b"err\n"
    assert exec_in_container(manager, "box", ["id", "-u"]).stdout == b"0\n"

    started = time.monotonic()
    with pytest.raises(ContainerError, match="did not finish within 1 s"):
        exec_in_container(manager, "box", ["sleep", "100"], timeout=1)
    assert time.monotonic() - started < 15
    listed = exec_in_container(manager, "box", ["sh", "-c", "cat /proc/[0-9]*/cmdline"]).stdout
    assert b"sleep\x00300" in listed and b"sleep\x00100" not in listed, listed  # killed, not left behind

    with pytest.raises(ContainerError, match="timeout must be a positive number"):
        exec_in_container(manager, "box", ["true"], timeout=0)
    with pytest.raises(ContainerError, match="not in the image's /etc/passwd"):
        exec_in_container(manager, "box", ["id"], user="nosuchuser")
    with pytest.raises(ContainerError, match="exec in container box failed"):
        exec_in_container(manager, "box", ["/no/such/binary"])
    with pytest.raises(ContainerError, match="container ghost does not exist"):
        exec_in_container(manager, "ghost", ["true"])
    engine.ensure(dict(params, state="stopped"))
    with pytest.raises(ContainerError, match="container box is not running"):
        exec_in_container(manager, "box", ["true"])


def test_module_returns_like_podman_and_docker_and_check_mode_runs_nothing(containers, busybox, tmp_path):
    engine, get = containers
    engine.ensure(dict(name="box", image=busybox.ref, command=["sleep", "300"], stop_timeout=1))
    storage = {"storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run")}
    marker = "/tmp/ran-%s" % uuid.uuid4().hex
    results = run_tasks([
        ("undock.oci.oci_container_exec", dict(storage, name="box", command="sh -c 'echo out; echo err >&2'"), {}),
        ("undock.oci.oci_container_exec", dict(storage, name="box", argv=["sh", "-c", "cat; exit 4"],
                                               stdin="in"), {}),
        ("undock.oci.oci_container_exec", dict(storage, name="box", argv=["touch", marker]), {"check_mode": True}),
        ("undock.oci.oci_container_exec", dict(storage, name="box", argv=["cat", marker], user="nobody",
                                               env={"A": 1}, working_dir="/"), {}),
        ("undock.oci.oci_container_exec", dict(storage, name="ghost", command="true"), {}),
        ("undock.oci.oci_container_exec", dict(storage, name="box", command="echo 'unclosed"), {}),
    ])
    ok, failing, checked, missing, ghost, unsplit = results
    assert ok["changed"] and not ok.get("failed") and ok["rc"] == 0, ok
    assert ok["stdout"] == "out\n" and ok["stdout_lines"] == ["out"] and ok["stderr_lines"] == ["err"], ok
    assert failing["failed"] and failing["rc"] == 4 and failing["stdout"] == "in\n", failing
    assert checked["changed"] is False and checked.get("skipped"), checked
    assert missing["failed"] and missing["rc"] == 1 and "No such file" in missing["stderr"], missing
    assert ghost["failed"] and "container ghost does not exist" in ghost["msg"], ghost
    assert unsplit["failed"] and "cannot be split" in unsplit["msg"], unsplit


def test_play_through_the_connection_plugin(containers, debian, tmp_path):
    engine, get = containers
    engine.ensure(dict(name="pyct", image=debian.ref, stop_timeout=1))
    token = uuid.uuid4().hex
    host_secret = "/tmp/undock-host-%s" % token
    with open(host_secret, "w") as handle:
        handle.write("on the host only\n")
    fetched = tmp_path / "fetched"
    template = tmp_path / "motd.j2"
    template.write_text("hello {{ who }} from {{ inventory_hostname }}\n")
    host_vars = {"ansible_connection": "undock.oci.oci", "ansible_oci_storage_root": str(tmp_path / "store"),
                 "ansible_oci_run_root": str(tmp_path / "run"), "ansible_python_interpreter": "/usr/bin/python3"}
    tasks = [
        {"ansible.builtin.copy": {"content": "copied\n", "dest": "/etc/copied.txt", "mode": "0600"}},
        {"ansible.builtin.template": {"src": str(template), "dest": "/root/motd"}, "vars": {"who": "ansible"}},
        {"ansible.builtin.command": {"argv": ["cat", "/etc/copied.txt", "/root/motd"]}},
        {"ansible.builtin.stat": {"path": "/etc/copied.txt"}},
        {"ansible.builtin.fetch": {"src": "/etc/os-release", "dest": str(fetched) + "/", "flat": True}},
        # put_file into a remote tmp whose path runs through /escape -> / and /deep -> ../..: inside the rootfs
        {"ansible.builtin.command": {"argv": ["true"]}, "vars": {"ansible_remote_tmp": "/escape/rt-%s" % token}},
        {"ansible.builtin.command": {"argv": ["true"]}, "vars": {"ansible_remote_tmp": "/deep/tmp/rt-%s" % token}},
        # fetch through /deep reads the container's file of that name, not the host's
        {"ansible.builtin.copy": {"content": "inside\n", "dest": host_secret}},
        {"ansible.builtin.fetch": {"src": "/deep" + host_secret, "dest": str(tmp_path / "stolen"), "flat": True}},
        {"ansible.builtin.copy": {"content": "again\n", "dest": "/deep/tmp/through-%s" % token}},
        {"ansible.builtin.command": {"argv": ["id", "-un"]},
         "vars": {"ansible_user": "nobody", "ansible_remote_tmp": "/tmp/nobody-%s" % token}},
    ]
    try:
        results, proc = run_play_on("pyct", host_vars, tasks)
    finally:
        os.unlink(host_secret)
    copy, template_r, command, stat_r, fetch, tmp_escape, tmp_deep, inside, stolen, copy_deep, as_nobody = results
    for result in (copy, template_r, command, stat_r, fetch, tmp_escape, tmp_deep, inside, stolen, copy_deep, as_nobody):
        assert not result.get("failed"), (result, proc.stdout[-4000:])
    assert copy["changed"] and template_r["changed"]
    assert command["stdout_lines"] == ["copied", "hello ansible from pyct"], command
    assert stat_r["stat"]["exists"] and stat_r["stat"]["mode"] == "0600" and stat_r["stat"]["size"] == 7, stat_r
    assert "bookworm" in (fetched / "os-release").read_text()
    assert (tmp_path / "stolen").read_text() == "inside\n"
    assert as_nobody["stdout"] == "nobody", as_nobody
    # the remote tmp directories and the copy landed in the container, never on the host
    root = os.path.join(str(tmp_path), "store", "containers", "pyct", "bundle", "rootfs")
    for host_path, in_container in (("/rt-%s" % token, "rt-%s" % token), ("/tmp/rt-%s" % token, "tmp/rt-%s" % token),
                                    ("/tmp/through-%s" % token, "tmp/through-%s" % token)):
        assert not os.path.lexists(host_path), host_path
        assert os.path.lexists(os.path.join(root, in_container)), in_container
    with open(os.path.join(root, "etc", "copied.txt")) as handle:
        assert handle.read() == "copied\n"
