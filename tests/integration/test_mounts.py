"""Image mounts on real overlayfs: read-only inspection mounts, whiteouts, flattening of deep
images, the copy fallback (forced, and for real on a store that sits on overlayfs), mount
records and their repair after kill -9, image removal refused while mounted, and oci_mount
through ansible-playbook.

Every test runs under the ``no_leaked_mounts`` fixture: whatever is still mounted below
its tmp_path at teardown is unmounted, and the test fails, so a leak never breaks the rest.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import python_path, registries_conf, service

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ImageInUseError
from ansible_collections.undock.oci.plugins.module_utils.storage import mount_commands as C
from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M
from ansible_collections.undock.oci.plugins.module_utils.storage.flat import chain_id
from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def mounts_below(path):
    path = os.path.realpath(str(path))
    return [e["point"] for e in M.mountinfo() if e["point"] == path or e["point"].startswith(path + "/")]


@pytest.fixture(autouse=True)
def no_leaked_mounts(tmp_path):
    yield
    leaked = mounts_below(tmp_path)
    for point in sorted(leaked, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    assert not leaked, "the test left mounts behind: %s" % leaked


def load(tmp_path, layers, name="example.com/test/img:1", store=None):
    """Store an image made of raw tar ``layers`` (from an OCI layout, no registry needed)."""
    layout = os.path.join(str(tmp_path), "layout-%s" % hashlib.sha256(name.encode()).hexdigest()[:8])
    image = I.write_image(layout, layers)
    svc = service(tmp_path, storage_root=store)
    svc.present(name, source="oci:%s:latest" % layout)
    return svc, image


def manager(svc, tmp_path, **kwargs):
    return M.MountManager(svc.store(), str(tmp_path / "run"), **kwargs)


def tree(root):
    """Everything an inspection can see: type, mode, owner, mtime, content or link target."""
    root = str(root)
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in [""] + dirs + files if directory == root else dirs + files:
            path = os.path.join(directory, name) if name else root
            st = os.lstat(path)
            rel = "/" + os.path.relpath(path, root) if name else "/"
            kind = stat.S_IFMT(st.st_mode)
            item = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                item += (os.readlink(path),)
            else:
                item += (st.st_mtime_ns,)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    item += (hashlib.sha256(handle.read()).hexdigest(),)
            elif not stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode):
                item += (st.st_rdev,)
            found[rel] = item
    return found


def whiteout_layers():
    base = I.busybox_entries()
    l1 = [I.Entry("data/", "dir", mode=0o755), I.Entry("data/keep.txt", data=b"keep\n"),
          I.Entry("data/gone.txt", data=b"gone\n"), I.Entry("data/gonedir/", "dir", mode=0o755),
          I.Entry("data/gonedir/inner.txt", data=b"inner\n"), I.Entry("data/sub/", "dir", mode=0o755),
          I.Entry("data/sub/file.txt", data=b"sub\n"), I.Entry("opaque/", "dir", mode=0o755),
          I.Entry("opaque/old1.txt", data=b"old1\n"), I.Entry("opaque/sub/", "dir", mode=0o700),
          I.Entry("opaque/sub/old2.txt", data=b"old2\n"), I.Entry("usr/bin/suid", data=b"#!/bin/sh\n", mode=0o4755),
          I.Entry("usr/bin/hard", "hardlink", target="usr/bin/suid"), I.Entry("lib", "symlink", target="/outside"),
          I.Entry("replaced/", "dir", mode=0o755), I.Entry("replaced/x", data=b"x\n")]
    l2 = [I.Entry("data/", "dir", mode=0o750), I.Entry("data/.wh.gone.txt"), I.Entry("data/.wh.gonedir"),
          I.Entry("opaque/", "dir", mode=0o755), I.Entry("opaque/.wh..wh..opq"),
          I.Entry("opaque/new.txt", data=b"new\n"), I.Entry("lib/", "dir", mode=0o755),
          I.Entry("lib/real.so", data=b"lib\n"), I.Entry("replaced", data=b"now a file\n"),
          I.Entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n", uid=0, gid=0)]
    return [I.tar_layer(base), I.tar_layer(l1), I.tar_layer(l2)]


def check_whiteout_view(root):
    root = str(root)
    for path in I.WHITEOUT_EXPECTED["present"]:
        assert os.path.lexists(root + path.rstrip("/")), path
    for path in ["/data/gone.txt", "/data/gonedir", "/opaque/old1.txt", "/opaque/sub"]:
        assert not os.path.lexists(root + path), path
    with open(root + "/opaque/new.txt", "rb") as handle:
        assert handle.read() == b"new\n"
    assert sorted(os.listdir(root + "/opaque")) == ["new.txt"]
    assert "keep.txt" in os.listdir(root + "/data")
    assert {"gone.txt", "gonedir", ".wh.gone.txt"}.isdisjoint(os.listdir(root + "/data"))


# ---------------------------------------------------------------------------
# overlay mounts
# ---------------------------------------------------------------------------
def test_read_only_mount_is_ro_nodev_nosuid_and_recorded(tmp_path, registry, fixture_images):
    pushed = fixture_images["oci"]
    svc = service(tmp_path, registry)
    svc.present(pushed.ref)
    mounts = manager(svc, tmp_path)
    target = str(tmp_path / "mnt" / "oci")
    record = mounts.mount_image(pushed.ref, target, owner="test")
    try:
        assert record.kind == "overlay" and record.read_only and record.note is None
        assert record.digest == pushed.digest and record.layers == 2
        with open(os.path.join(target, "etc/undock-fixture"), "rb") as handle:
            assert handle.read() == pushed.expected["files"]["/etc/undock-fixture"]
        assert os.readlink(os.path.join(target, "bin/sh")) == "busybox"
        entry = M.mount_entry(os.path.realpath(target))
        assert entry["fstype"] == "overlay"
        assert {"ro", "nodev", "nosuid"} <= set(entry["options"]), entry
        # lower directories by short links under the store's overlay directory (given to mount(2)
        # absolute, as they fit in the page; see test_deep_image_is_flattened_to_fit_the_mount_option_page)
        lowerdir = [o for o in entry["super_options"] if o.startswith("lowerdir=")][0]
        assert lowerdir == "lowerdir=" + ":".join(os.path.join(svc.store().root, "overlay", p) for p in record.lowers)
        assert all(len(p) == 14 and p.startswith("l/") for p in record.lowers)
        with pytest.raises(OSError) as err:
            with open(os.path.join(target, "new-file"), "w"):
                pass
        assert err.value.errno == errno.EROFS
        assert mounts.mounted(target) == record
        assert mounts.users(pushed.ref) == [record]
        assert mounts.users(pushed.digest) == [record]
        assert os.stat(str(tmp_path / "run" / "mounts")).st_mode & 0o777 == 0o700
    finally:
        assert mounts.unmount(target) == record
    assert M.mount_entry(os.path.realpath(target)) is None
    assert mounts.mounted(target) is None and mounts.records() == []
    assert mounts.unmount(target) is None


def test_whiteouts_and_opaque_directories_from_the_registry(tmp_path, registry, fixture_images):
    pushed = fixture_images["whiteout"]
    svc = service(tmp_path, registry)
    svc.present(pushed.ref)
    mounts = manager(svc, tmp_path)
    target = str(tmp_path / "mnt")
    mounts.mount_image(pushed.ref, target, owner="test")
    try:
        check_whiteout_view(target)
        for path, data in pushed.expected["files"].items():
            with open(target + path, "rb") as handle:
                assert handle.read() == data
    finally:
        mounts.unmount(target)


def test_single_layer_image_mounts_read_only(tmp_path):
    svc, dummy = load(tmp_path, [I.tar_layer(I.busybox_entries())])
    mounts = manager(svc, tmp_path)
    target = str(tmp_path / "mnt")
    record = mounts.mount_image("example.com/test/img:1", target, owner="test")
    try:
        assert record.kind == "overlay" and len(record.lowers) == 2  # the layer plus an empty lower
        assert os.path.exists(os.path.join(target, "bin/busybox"))
    finally:
        mounts.unmount(target)


def test_writable_mount_uses_a_scratch_upper_that_unmount_discards(tmp_path):
    svc, dummy = load(tmp_path, whiteout_layers())
    mounts = manager(svc, tmp_path)
    target = str(tmp_path / "mnt")
    record = mounts.mount_image("example.com/test/img:1", target, owner="test", read_only=False)
    try:
        entry = M.mount_entry(os.path.realpath(target))
        assert "ro" not in entry["options"] and {"nodev", "nosuid"} <= set(entry["options"])
        with open(os.path.join(target, "data/keep.txt"), "a") as handle:
            handle.write("changed\n")
        upper = record.upper_dir
        assert os.path.exists(os.path.join(upper, "data/keep.txt"))
        assert upper.startswith(svc.store().root + "/")
    finally:
        mounts.unmount(target)
    assert not os.path.exists(upper)
    layer = LayerStore(svc.store()).diff_dir(record.diff_ids[1])
    with open(os.path.join(layer, "data/keep.txt"), "rb") as handle:
        assert handle.read() == b"keep\n"


def test_mounting_over_a_foreign_mount_or_twice_is_refused(tmp_path):
    svc, dummy = load(tmp_path, whiteout_layers())
    mounts = manager(svc, tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(foreign)], check=True)
    try:
        with pytest.raises(M.MountError, match="already a mount point"):
            mounts.mount_image("example.com/test/img:1", str(foreign), owner="test")
        assert mounts.foreign_mount(str(foreign))
    finally:
        subprocess.run(["umount", str(foreign)], check=True)
    target = str(tmp_path / "mnt")
    mounts.mount_image("example.com/test/img:1", target, owner="test")
    try:
        assert not mounts.foreign_mount(target)
        with pytest.raises(M.MountError, match="already in use.*mounted there by test"):
            mounts.mount_image("example.com/test/img:1", target, owner="other")
    finally:
        mounts.unmount(target)
    with pytest.raises(Exception, match="not in the store"):
        mounts.mount_image("example.com/test/missing:1", target, owner="test")


# ---------------------------------------------------------------------------
# flattening and the copy fallback
# ---------------------------------------------------------------------------
def reference_tree(tmp_path, svc):
    mounts = manager(svc, tmp_path)
    target = str(tmp_path / "reference")
    record = mounts.mount_image("example.com/test/img:1", target, owner="test")
    try:
        assert record.kind == "overlay"
        return tree(target)
    finally:
        mounts.unmount(target)


@pytest.mark.parametrize("options, kept", [({"max_lowers": 1}, 0), ({"max_lowers": 2}, 1),
                                           ({"page_size": 40}, 1)])
def test_flattening_shows_the_same_tree_as_overlay(tmp_path, options, kept):
    svc, dummy = load(tmp_path, whiteout_layers())
    expected = reference_tree(tmp_path, svc)
    check = {p: v for p, v in expected.items() if p.startswith(("/data", "/opaque", "/lib", "/replaced"))}
    assert "/lib/real.so" in check and check["/replaced"][0] == stat.S_IFREG
    mounts = manager(svc, tmp_path, **options)
    target = str(tmp_path / "flat")
    record = mounts.mount_image("example.com/test/img:1", target, owner="test")
    try:
        assert record.kind == "flat" and record.note and "3 layers" in record.note, record
        assert len(record.lowers) == kept + 1 + (1 if kept == 0 else 0)
        assert record.flat and os.path.isdir(os.path.join(svc.store().root, "overlay-flat", record.flat, "diff"))
        got = tree(target)
        got.pop("/"), expected.pop("/")  # the mount point itself
        assert got == expected
        check_whiteout_view(target)
        hard = os.path.join(target, "usr/bin/hard")
        assert os.stat(hard).st_ino == os.stat(os.path.join(target, "usr/bin/suid")).st_ino
        flat_file = os.path.join(svc.store().root, "overlay-flat", record.flat, "diff", "usr/bin/suid")
        assert os.stat(flat_file).st_nlink == 2  # linked to its twin in the copy, never to the layer
    finally:
        mounts.unmount(target)


def test_deep_image_is_flattened_to_fit_the_mount_option_page(tmp_path):
    count = 300  # 300 short links need 4500 bytes of options: more than one page
    layers = [I.tar_layer(I.busybox_entries())]
    for number in range(1, count):
        entries = [I.Entry("layers/", "dir", mode=0o755), I.Entry("layers/%03d" % number, data=b"%d\n" % number)]
        if number % 10 == 0:
            entries.append(I.Entry("layers/.wh.%03d" % (number - 5)))
        layers.append(I.tar_layer(entries))
    svc, dummy = load(tmp_path, layers)
    mounts = manager(svc, tmp_path)
    target = str(tmp_path / "deep")
    record = mounts.mount_image("example.com/test/img:1", target, owner="test")
    try:
        assert record.kind == "flat" and "300 layers" in record.note and "page" in record.note
        assert 200 < len(record.lowers) < 300
        names = sorted(os.listdir(os.path.join(target, "layers")))
        assert names == ["%03d" % n for n in range(1, count) if not (n + 5) % 10 == 0 or n + 5 >= count]
        with open(os.path.join(target, "layers/299"), "rb") as handle:
            assert handle.read() == b"299\n"
        # too long for the page as absolute paths: mounted from the store's overlay directory, by a child
        lowerdir = lower_dirs(target)
        assert len(lowerdir) == len(record.lowers) and not any(d.startswith("/") for d in lowerdir)
    finally:
        mounts.unmount(target)


def lower_dirs(target):
    entry = M.mount_entry(os.path.realpath(target))
    return next(o for o in entry["super_options"] if o.startswith("lowerdir=")).split("=", 1)[1].split(":")


def test_overlay_is_mounted_by_the_syscall_and_by_mount8_without_it(tmp_path, monkeypatch):
    """mount(2) through ctypes with absolute lower paths when they fit in the page (the engine's
    cwd untouched); util-linux mount(8), run in the store's overlay directory, where ctypes is missing."""
    svc, dummy = load(tmp_path, whiteout_layers())
    mounts = manager(svc, tmp_path)
    layers_root = svc.store().root + "/overlay"
    here = os.getcwd()
    for label, syscall in (("syscall", True), ("mount8", False)):
        if not syscall:
            monkeypatch.setattr(C, "libc_function", lambda name: None)
        target = str(tmp_path / label)
        upper, work = tmp_path / (label + "-upper"), tmp_path / (label + "-work")
        upper.mkdir()
        work.mkdir()
        record = mounts.mount_image("example.com/test/img:1", target, owner="test", read_only=False,
                                    upper_dir=str(upper), work_dir=str(work))
        try:
            assert os.getcwd() == here
            lowerdir = lower_dirs(target)
            if syscall:
                assert lowerdir == [os.path.join(layers_root, lower) for lower in record.lowers]
            else:
                assert lowerdir == record.lowers and not lowerdir[0].startswith("/")
            entry = M.mount_entry(os.path.realpath(target))
            assert "nodev" in entry["options"] and "nosuid" in entry["options"] and "rw" in entry["options"]
            check_whiteout_view(target)
            with open(os.path.join(target, "written"), "w") as handle:
                handle.write("x")
            assert os.path.exists(str(upper / "written"))
        finally:
            mounts.unmount(target)


@pytest.mark.parametrize("many", [False, True])
def test_overlay_mount_failure_is_a_clear_error(tmp_path, many):
    """A lower directory that is not there: MountError naming the errno and the target, from
    the syscall and from the child that mounts from the layers' directory alike."""
    lowers = ["missing-%04d" % n for n in range(600 if many else 1)] + ["also-missing"]
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(M.MountError, match=r"mount -t overlay overlay %s failed: No such file or directory \(ENOENT"
                       % re.escape(str(target))):
        C.mount_overlay(str(target), lowers, str(tmp_path), read_only=True, nodev_nosuid=True)
    assert not mounts_below(target)


@pytest.mark.parametrize("backend", ["copy", "directory"])
def test_copy_fallback_forced_shows_the_same_tree(tmp_path, backend, monkeypatch):
    svc, dummy = load(tmp_path, whiteout_layers())
    expected = reference_tree(tmp_path, svc)
    monkeypatch.setenv(M.BACKEND_ENV, backend)
    mounts = manager(svc, tmp_path)
    target = str(tmp_path / "copy")
    record = mounts.mount_image("example.com/test/img:1", target, owner="test")
    try:
        assert record.kind == backend and "backend was chosen" in record.note
        got = tree(target)
        got.pop("/"), expected.pop("/")
        assert got == expected
        if backend == "copy":
            entry = M.mount_entry(os.path.realpath(target))
            assert {"ro", "nodev", "nosuid"} <= set(entry["options"]), entry
            with pytest.raises(OSError) as err:
                open(os.path.join(target, "x"), "w").close()
            assert err.value.errno == errno.EROFS
        else:
            assert "not read-only" in record.note
        assert mounts.users("example.com/test/img:1") == [record]
    finally:
        mounts.unmount(target)
    assert os.listdir(target) == []


def test_store_on_overlayfs_falls_back_to_a_copy(tmp_path):
    base = tmp_path / "ovl"
    for name in ("lower", "upper", "work", "merged"):
        (base / name).mkdir(parents=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s"
                    % (base / "lower", base / "upper", base / "work"), str(base / "merged")], check=True)
    try:
        # no whiteouts in this image: unpacking them needs a filesystem that overlayfs is not
        layers = [I.tar_layer(I.busybox_entries()), I.tar_layer(I.marker_entries("ovl", "amd64"))]
        svc, dummy = load(tmp_path, layers, store=str(base / "merged" / "store"))
        mounts = manager(svc, tmp_path)
        caps = mounts.capabilities()
        assert caps["overlay"] is False and caps["bind"] is True, caps
        assert os.listdir(str(tmp_path / "run" / "probes"))  # cached for the next mounts
        target = str(tmp_path / "mnt")
        record = mounts.mount_image("example.com/test/img:1", target, owner="test")
        try:
            assert record.kind == "copy" and "overlay is not available" in record.note, record
            with open(os.path.join(target, "etc/undock-fixture"), "rb") as handle:
                assert handle.read() == b"name=ovl\narch=amd64\n"
            assert {"ro", "nodev", "nosuid"} <= set(M.mount_entry(os.path.realpath(target))["options"])
        finally:
            mounts.unmount(target)
        svc.absent("example.com/test/img:1")
        assert os.listdir(os.path.join(svc.store().root, "overlay-flat")) == ["empty"] or \
            os.listdir(os.path.join(svc.store().root, "overlay-flat")) == []
    finally:
        subprocess.run(["umount", "-l", str(base / "merged")], check=True)


# ---------------------------------------------------------------------------
# users, removal, repair
# ---------------------------------------------------------------------------
def test_absent_is_refused_while_mounted_and_force_unmounts(tmp_path, registry, fixture_images):
    pushed, other = fixture_images["oci"], fixture_images["docker"]  # they share the busybox layer
    svc = service(tmp_path, registry)
    svc.present(pushed.ref)
    svc.present(other.ref)
    run_root = str(tmp_path / "run")
    mounts = M.MountManager(svc.store(), run_root, max_lowers=1)  # a flat directory too
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    mounts.mount_image(pushed.ref, first, owner="test")
    mounts.mount_image(pushed.ref, second, owner="container:web", read_only=False)
    diff_ids = mounts.image_layers(pushed.ref)[2]
    other_ids = mounts.image_layers(other.ref)[2]
    layers = LayerStore(svc.store())
    try:
        assert len(mounts.users(pushed.ref)) == 2
        with pytest.raises(ImageInUseError) as err:
            svc.absent(pushed.ref)
        message = str(err.value)
        assert pushed.ref in message and "test at %s" % first in message
        assert "container:web at %s" % second in message and "force" in message
        assert svc.local_image(pushed.ref) is not None  # nothing was removed
        check = service(tmp_path, registry, check_mode=True).absent(pushed.ref, force=True)
        assert check.changed and check.actions[0].startswith("would unmount")
        assert len(mounts.users(pushed.ref)) == 2
        outcome = svc.absent(pushed.ref, force=True)
        assert outcome.changed
        assert sum(a.startswith("unmounted %s" % pushed.ref) for a in outcome.actions) == 2, outcome.actions
    finally:
        for target in (first, second):
            mounts.unmount(target)
    assert mounts_below(tmp_path) == [] and mounts.records() == []
    assert svc.local_image(pushed.ref) is None
    shared = set(diff_ids) & set(other_ids)
    assert shared and all(layers.has(d) for d in shared)  # still used by the docker image
    assert not any(layers.has(d) for d in set(diff_ids) - shared)
    flats = os.listdir(os.path.join(svc.store().root, "overlay-flat"))
    assert chain_id(diff_ids) not in flats
    assert svc.absent(other.ref).changed
    assert layers.present() == []


CHILD = textwrap.dedent("""
    import sys, time
    from ansible_collections.undock.oci.plugins.module_utils.storage.store import Store
    from ansible_collections.undock.oci.plugins.module_utils.storage.mounts import MountManager
    store_root, run_root, ref, target = sys.argv[1:5]
    MountManager(Store.open(store_root), run_root).mount_image(ref, target, owner="oci_scan", transient=True)
    print("mounted", flush=True)
    time.sleep(600)
""")


def test_mount_of_a_killed_process_is_repaired(tmp_path):
    svc, dummy = load(tmp_path, whiteout_layers())
    run_root = str(tmp_path / "run")
    target = str(tmp_path / "scan")
    env = dict(os.environ, PYTHONPATH=python_path())
    child = subprocess.Popen([sys.executable, "-c", CHILD, svc.store().root, run_root, "example.com/test/img:1", target],
                             stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout.readline() == b"mounted\n"
        mounts = M.MountManager(svc.store(), run_root)
        [record] = mounts.users("example.com/test/img:1")
        assert record.pid == child.pid and record.transient
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert M.mount_entry(os.path.realpath(target)) is not None  # the kernel keeps it
    assert mounts.users("example.com/test/img:1") == []          # but it has no user any more
    assert mounts.state(record) == "orphaned"
    done = mounts.repair()
    assert len(done) == 1 and "owner oci_scan (pid %d) is gone" % child.pid in done[0]
    assert M.mount_entry(os.path.realpath(target)) is None and mounts.records() == []
    # a persistent mount removed behind our back leaves a record that repair drops
    mounts.mount_image("example.com/test/img:1", target, owner="oci_mount")
    subprocess.run(["umount", target], check=True)
    assert mounts.mounted(target) is None and mounts.users("example.com/test/img:1") == []
    assert "no longer mounted" in mounts.repair()[0] and mounts.records() == []
    assert svc.absent("example.com/test/img:1").changed


def test_records_of_a_reused_pid_are_not_trusted(tmp_path):
    svc, dummy = load(tmp_path, whiteout_layers())
    mounts = manager(svc, tmp_path)
    target = str(tmp_path / "mnt")
    record = mounts.mount_image("example.com/test/img:1", target, owner="oci_scan", transient=True)
    try:
        assert mounts.state(record) == "live"
        record.pid_start = (record.pid_start or 0) + 1  # as if our pid belonged to another process now
        assert mounts.state(record) == "orphaned"
    finally:
        mounts.unmount(target)


# ---------------------------------------------------------------------------
# oci_mount through ansible-playbook
# ---------------------------------------------------------------------------
def test_oci_mount_module_check_diff_idempotent(tmp_path, registry, fixture_images):
    pushed, other = fixture_images["whiteout"], fixture_images["oci"]
    common = {"storage_root": str(tmp_path / "store"), "registries_conf": registries_conf(str(tmp_path / "conf"),
                                                                                          registry.host)}
    run_root = str(tmp_path / "run")
    path = str(tmp_path / "mnt" / "img")
    mount = dict(common, name=pushed.ref, path=path, run_root=run_root)
    try:
        results = run_tasks([
            ("undock.oci.oci_mount", mount, {}),                                            # 0 missing image
            ("undock.oci.oci_image", dict(common, name=pushed.ref), {}),
            ("undock.oci.oci_image", dict(common, name=other.ref), {}),
            ("undock.oci.oci_mount", mount, {"check_mode": True, "diff": True}),            # 3
            ("ansible.builtin.stat", {"path": path + "/data/keep.txt"}, {}),
            ("undock.oci.oci_mount", mount, {"diff": True}),                                # 5
            ("ansible.builtin.slurp", {"src": path + "/data/keep.txt"}, {}),
            ("undock.oci.oci_mount", mount, {"diff": True}),                                # 7 idempotent
            ("undock.oci.oci_mount", dict(mount, name=other.ref), {"check_mode": True, "diff": True}),
            ("undock.oci.oci_mount", dict(mount, name=other.ref), {"diff": True}),          # 9 remount
            ("ansible.builtin.slurp", {"src": path + "/etc/undock-fixture"}, {}),
            ("undock.oci.oci_mount", dict(mount, state="unmounted", name=pushed.ref), {}),  # 11 another image
            ("undock.oci.oci_mount", dict(common, path=path, run_root=run_root, state="unmounted"),
             {"check_mode": True, "diff": True}),
            ("undock.oci.oci_mount", dict(common, path=path, run_root=run_root, state="unmounted"), {"diff": True}),
            ("undock.oci.oci_mount", dict(common, path=path, run_root=run_root, state="unmounted"), {}),
            ("ansible.builtin.stat", {"path": path + "/etc/undock-fixture"}, {}),
            ("undock.oci.oci_mount", dict(mount, path=str(tmp_path / "store" / "blobs")), {}),  # 16 in the store
            ("undock.oci.oci_mount", dict(mount, path=str(tmp_path / "run" / "x")), {}),        # in the run root
            ("undock.oci.oci_mount", dict(mount, path=str(tmp_path)), {}),                      # holds the store
            ("undock.oci.oci_mount", dict(mount, username="u", password="Secr3t-pw"), {}),      # no credentials
        ])
    finally:
        for point in mounts_below(tmp_path):
            subprocess.run(["umount", "-l", point], check=False)
    in_store, in_run_root, above_store, with_credentials = results[16:20]
    assert in_store.get("failed") and "is inside the store" in in_store["msg"], in_store
    assert in_run_root.get("failed") and "is inside the runtime root" in in_run_root["msg"], in_run_root
    assert above_store.get("failed") and "holds the store" in above_store["msg"], above_store
    assert with_credentials.get("failed") and "Unsupported parameters" in with_credentials["msg"]
    assert not (tmp_path / "store" / "blobs" / "sha256").is_mount()
    missing = results[0]
    assert missing["failed"] and "not in the store" in missing["msg"] and "oci_image" in missing["msg"]
    check, statted, first, slurped, again = results[3:8]
    assert check["changed"] and check["diff"]["before"] == {"mounted": False, "name": None, "digest": None,
                                                            "read_only": None}
    assert check["diff"]["after"] == {"mounted": True, "name": pushed.ref, "digest": pushed.digest, "read_only": True}
    assert check["actions"][0].startswith("would mount")
    assert not statted["stat"]["exists"]  # check mode mounted nothing
    assert first["changed"] and first["mount"]["kind"] == "overlay" and first["mount"]["layers"] == pushed.layers, first
    assert first["image"] == results[1]["image"]  # the same record as oci_image's
    assert check["mount"]["layers"] == pushed.layers and check["mount"]["name"] == pushed.ref
    assert first["mount"]["path"] == path and first["mount"]["read_only"] is True
    assert first["diff"]["after"] == check["diff"]["after"]
    assert slurped["content"] == "a2VlcAo="  # "keep\n"
    assert not again["changed"] and again["mount"] == first["mount"]
    recheck, remount, marker, other_image = results[8:12]
    assert recheck["changed"] and recheck["actions"][0].startswith("would unmount")
    assert remount["changed"] and remount["diff"]["before"]["name"] == pushed.ref
    assert remount["diff"]["after"]["name"] == other.ref and remount["mount"]["digest"] == other.digest
    assert marker["content"] == "bmFtZT1vY2kKYXJjaD1hbWQ2NAo="  # name=oci arch=amd64
    assert not other_image["changed"] and other_image["warnings"]
    uncheck, unmount, unmount_again, gone = results[12:16]
    assert uncheck["changed"] and uncheck["diff"]["after"]["mounted"] is False
    assert unmount["changed"] and unmount["diff"]["before"]["name"] == other.ref
    assert not unmount_again["changed"] and not gone["stat"]["exists"]


def test_oci_image_absent_names_the_mount_and_force_unmounts(tmp_path, registry, fixture_images):
    """Through the modules, with the default runtime root that oci_image uses too."""
    pushed = fixture_images["oci"]
    common = {"storage_root": str(tmp_path / "store"), "registries_conf": registries_conf(str(tmp_path / "conf"),
                                                                                          registry.host)}
    path = str(tmp_path / "inspect")
    try:
        results = run_tasks([
            ("undock.oci.oci_image", dict(common, name=pushed.ref), {}),
            ("undock.oci.oci_mount", dict(common, name=pushed.ref, path=path), {}),
            ("undock.oci.oci_image", dict(common, name=pushed.ref, state="absent"), {}),
            ("undock.oci.oci_image", dict(common, name=pushed.ref, state="absent", force=True), {"check_mode": True}),
            ("ansible.builtin.stat", {"path": path + "/etc/undock-fixture"}, {}),
            ("undock.oci.oci_image", dict(common, name=pushed.ref, state="absent", force=True), {}),
            ("ansible.builtin.stat", {"path": path + "/etc/undock-fixture"}, {}),
            ("undock.oci.oci_mount", dict(common, path=path, state="unmounted"), {}),
        ])
    finally:
        for point in mounts_below(tmp_path):
            subprocess.run(["umount", "-l", point], check=False)
    pulled, mounted, refused, check, still, forced, gone, unmounted = results
    assert mounted["changed"] and not mounted.get("failed"), mounted
    assert refused["failed"] and "in use" in refused["msg"] and "oci_mount at %s" % path in refused["msg"], refused
    assert check["changed"] and check["actions"][0].startswith("would unmount"), check
    assert still["stat"]["exists"]
    assert forced["changed"] and forced["actions"][0] == "unmounted %s at %s (used by oci_mount)" % (pushed.ref, path)
    assert not gone["stat"]["exists"]
    assert not unmounted["changed"] and not unmounted.get("failed"), unmounted
    assert not os.listdir(str(tmp_path / "store" / "overlay")) or \
        os.listdir(str(tmp_path / "store" / "overlay")) == ["l"]
