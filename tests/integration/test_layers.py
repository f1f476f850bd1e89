"""The layer store against a real registry: every layer unpacked once under
``overlay/<diff hex>/diff`` with its short link, whiteouts in overlay's native form,
sharing between images and between processes, failures that leave nothing behind, a
kill -9 in the middle of an unpack, zstd, and memory that stays flat as layers grow."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from typing import Dict, List, Optional

import pytest

from harness import images as I
from harness.engine import python_path, registries_conf, service

from ansible_collections.undock.oci.plugins.module_utils.common.errors import DigestMismatchError, UndockError
from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore, short_link

KILL_TIMEOUT = 120
CHILD_TIMEOUT = 600

# A pull in its own process, as a module run is. argv: STORE CONF REF TRACE ("-" for none).
# With a trace file, every LayerStore._unpack call appends "start|done DIFF_ID PID TIME".
CHILD = r'''
import json, os, sys, time
from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
from ansible_collections.undock.oci.plugins.module_utils.module_support import registry_context
from ansible_collections.undock.oci.plugins.module_utils.storage import layers

store, conf, ref, trace = sys.argv[1:5]

def note(what, diff_id):
    fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, ("%s %s %d %.6f\n" % (what, diff_id, os.getpid(), time.time())).encode())
    finally:
        os.close(fd)

if trace != "-":
    unpack = layers.LayerStore._unpack
    def traced(self, stream, desc, diff_id, commit=None):
        note("start", diff_id)
        unpack(self, stream, desc, diff_id, commit)
        note("done", diff_id)
    layers.LayerStore._unpack = traced

started = time.time()
context = registry_context({"registries_conf": conf, "auth_file": conf + ".auth.json"})
outcome = ImageService(store, context).present(ref)
print(json.dumps({"changed": outcome.changed, "started": started, "ended": time.time(), "pid": os.getpid()}))
'''

# argv: OUT COMMAND...: run COMMAND, write its ru_maxrss (KiB) to OUT, exit with its status.
LAUNCHER = r'''
import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
status, usage = os.wait4(pid, 0)[1:]
with open(sys.argv[1], "w") as handle:
    handle.write("%d" % usage.ru_maxrss)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
'''


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def layer_store(svc) -> LayerStore:
    return LayerStore(svc.store())


def diff_ids_of(outcome) -> List[str]:
    return list(outcome.resolved.config["rootfs"]["diff_ids"])


def leftovers(store_root: str) -> List[str]:
    """Temporaries a finished or failed pull must not leave: ``overlay/.tmp-*`` and partial
    or temporary blobs."""
    found = []
    overlay = os.path.join(store_root, "overlay")
    if os.path.isdir(overlay):
        found += ["overlay/" + n for n in os.listdir(overlay) if n.startswith(".tmp-")]
    tmp = os.path.join(store_root, "tmp")
    if os.path.isdir(tmp):
        found += ["tmp/" + n for n in os.listdir(tmp)]
    blobs = os.path.join(store_root, "blobs", "sha256")
    if os.path.isdir(blobs):
        found += ["blobs/sha256/" + n for n in os.listdir(blobs) if len(n) != 64]
    return found


def layer_dirs(store_root: str) -> List[str]:
    overlay = os.path.join(store_root, "overlay")
    if not os.path.isdir(overlay):
        return []
    return sorted(n for n in os.listdir(overlay) if n not in ("l",))


def blob_gets(registry, since: int, digest: str) -> List[tuple]:
    hexpart = digest.split(":", 1)[1]
    return [e for e in registry.access_log()[since:] if e[0] == "GET" and "/blobs/sha256:" + hexpart in e[1]]


def child_command(tmp_path, store: str, ref: str, registry, trace: Optional[str] = None) -> List[str]:
    script = os.path.join(str(tmp_path), "pull_child.py")
    if not os.path.exists(script):
        with open(script, "w") as handle:
            handle.write(CHILD)
    conf = registries_conf(os.path.join(str(tmp_path), "child-conf"), registry.host)
    return [sys.executable, script, store, conf, ref, trace or "-"]


def child_env() -> Dict[str, str]:
    return dict(os.environ, PYTHONPATH=python_path())


def peak_rss_kib(tmp_path, store: str, ref: str, registry) -> int:
    """Peak RSS of one pulling process, in KiB.

    Not wait4/getrusage on a child of this process, nor /usr/bin/time of one: at exec,
    Linux folds the high-water RSS of the address space being replaced (the forking
    parent's, shared or copied) into the new program's ru_maxrss, so every child of this
    pytest process, which holds the test images, reads as large as pytest itself. A fresh
    small launcher (LAUNCHER, ~9 MB) spawns the pull instead and reports its wait4 rusage."""
    out = os.path.join(str(tmp_path), "maxrss")
    command = [sys.executable, "-S", "-c", LAUNCHER, out] + child_command(tmp_path, store, ref, registry)
    proc = subprocess.run(command, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=CHILD_TIMEOUT)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    with open(out) as handle:
        return int(handle.read())


def write_layout(layout: str, layers: List[bytes], diff_ids: List[str], tag: str = "latest") -> I.LayoutImage:
    """An OCI layout whose config says ``diff_ids`` whatever the layers hold (gzip layers)."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)

    def put(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(layout, "blobs", "sha256", digest[7:]), "wb") as handle:
            handle.write(data)
        return digest

    descs = []
    for raw in layers:
        blob = gzip.compress(raw, mtime=0)
        descs.append({"mediaType": I.OCI_LAYER_GZIP, "digest": put(blob), "size": len(blob)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": I.CREATED,
                         "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": I.OCI_MANIFEST,
                           "config": {"mediaType": I.OCI_CONFIG, "digest": put(config), "size": len(config)},
                           "layers": descs}).encode()
    digest = put(manifest)
    with open(os.path.join(layout, "oci-layout"), "w") as handle:
        json.dump({"imageLayoutVersion": "1.0.0"}, handle)
    with open(os.path.join(layout, "index.json"), "w") as handle:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": I.OCI_MANIFEST, "digest": digest, "size": len(manifest),
             "annotations": {I.REF_NAME: tag}}]}, handle)
    return I.LayoutImage(layout, tag, digest, I.OCI_MANIFEST, None, [d["digest"] for d in descs], diff_ids)


def many_files_layer(count: int, prefix: str = "many", seed: int = 0, size: int = 64) -> bytes:
    rng = random.Random(seed)
    entries = [I.Entry(prefix + "/", "dir", mode=0o755)]
    for d in range(count // 1000 + 1):
        entries.append(I.Entry("%s/d%03d/" % (prefix, d), "dir", mode=0o755))
    entries += [I.Entry("%s/d%03d/f%06d" % (prefix, i // 1000, i), data=rng.randbytes(size)) for i in range(count)]
    return I.tar_layer(entries)


def assert_clean(store_root: str, diff_ids: List[str], digests: List[str]) -> None:
    overlay = os.path.join(store_root, "overlay")
    for diff_id in diff_ids:
        assert not os.path.exists(os.path.join(overlay, diff_id.split(":", 1)[1])), diff_id
        assert not os.path.lexists(os.path.join(overlay, "l", short_link(diff_id))), diff_id
    for digest in digests:
        assert not os.path.exists(os.path.join(store_root, "blobs", "sha256", digest.split(":", 1)[1])), digest
    assert leftovers(store_root) == []


# ---------------------------------------------------------------------------
# layout of the unpacked layers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["oci", "docker", "index", "list", "zstd", "whiteout"])
def test_every_layer_unpacked_with_short_link(tmp_path, registry, fixture_images, kind):
    pushed = fixture_images[kind]
    svc = service(tmp_path, registry)
    outcome = svc.present(pushed.ref)
    layers = layer_store(svc)
    overlay = os.path.join(str(tmp_path / "store"), "overlay")
    diff_ids = diff_ids_of(outcome)
    assert len(diff_ids) == len(outcome.resolved.manifest.layers) >= 2
    assert stat.S_IMODE(os.stat(overlay).st_mode) == 0o700
    for diff_id in diff_ids:
        hexpart = diff_id.split(":", 1)[1]
        diff = os.path.join(overlay, hexpart, "diff")
        assert os.path.isdir(diff) and layers.diff_dir(diff_id) == diff
        short = short_link(diff_id)
        assert len(short) == 12
        with open(os.path.join(overlay, hexpart, "link")) as handle:
            assert handle.read() == short
        link = os.path.join(overlay, "l", short)
        assert os.readlink(link) == os.path.join("..", hexpart, "diff")
        assert os.path.samefile(link, diff)
    assert sorted(layers.present()) == sorted(set(diff_ids))
    assert sorted(layer_dirs(str(tmp_path / "store"))) == sorted(d.split(":", 1)[1] for d in set(diff_ids))
    assert sorted(os.listdir(os.path.join(overlay, "l"))) == sorted(short_link(d) for d in set(diff_ids))
    assert leftovers(str(tmp_path / "store")) == []
    assert svc.store().check() == []
    base = layers.diff_dir(diff_ids[0])
    assert os.path.islink(os.path.join(base, "bin", "sh")) and os.readlink(os.path.join(base, "bin", "sh")) == "busybox"
    with open(os.path.join(base, "bin", "busybox"), "rb") as handle, open(I.BUSYBOX, "rb") as original:
        assert handle.read() == original.read()
    assert stat.S_IMODE(os.stat(os.path.join(base, "tmp")).st_mode) == 0o1777


def test_whiteouts_are_overlay_native(tmp_path, registry, fixture_images):
    pushed = fixture_images["whiteout"]
    svc = service(tmp_path, registry)
    diff_ids = diff_ids_of(svc.present(pushed.ref))
    top = layer_store(svc).diff_dir(diff_ids[2])
    for name in ("data/gone.txt", "data/gonedir"):
        st = os.lstat(os.path.join(top, name))
        assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0, name
    assert os.getxattr(os.path.join(top, "opaque"), "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    assert sorted(os.listdir(os.path.join(top, "opaque"))) == ["new.txt"]
    for name in ("data", "opaque"):  # only the directory that had .wh..wh..opq is opaque
        path = os.path.join(layer_store(svc).diff_dir(diff_ids[1]), name)
        assert "trusted.overlay.opaque" not in os.listxattr(path, follow_symlinks=False)
    assert "trusted.overlay.opaque" not in os.listxattr(os.path.join(top, "data"), follow_symlinks=False)
    for diff_id in diff_ids:  # no aufs-style name survives in any layer
        for directory, dirs, files in os.walk(layer_store(svc).diff_dir(diff_id)):
            assert not [n for n in dirs + files if n.startswith(".wh.")], directory


def test_zstd_layers_unpack(tmp_path, registry, fixture_images):
    pushed = fixture_images["zstd"]
    served = json.loads(pushed.manifest)
    assert {layer["mediaType"] for layer in served["layers"]} == {I.OCI_LAYER_ZSTD}
    svc = service(tmp_path, registry)
    diff_ids = diff_ids_of(svc.present(pushed.ref))
    layers = layer_store(svc)
    with open(os.path.join(layers.diff_dir(diff_ids[1]), "etc", "undock-fixture"), "rb") as handle:
        assert handle.read() == pushed.expected["files"]["/etc/undock-fixture"]
    with open(os.path.join(layers.diff_dir(diff_ids[0]), "etc", "undock-zstd-base"), "rb") as handle:
        assert handle.read() == b"zstd\n"
    assert os.readlink(os.path.join(layers.diff_dir(diff_ids[0]), "bin", "sh")) == "busybox"
    assert svc.store().check() == [] and leftovers(str(tmp_path / "store")) == []


# ---------------------------------------------------------------------------
# sharing
# ---------------------------------------------------------------------------
def test_shared_layer_unpacked_once(tmp_path, registry, fixture_images):
    first, second = fixture_images["oci"], fixture_images["docker"]
    assert first.layers[0] == second.layers[0]  # the busybox layer, same blob in both
    assert first.layers[1] != second.layers[1]
    svc = service(tmp_path, registry)
    shared = diff_ids_of(svc.present(first.ref))[0]
    diff = layer_store(svc).diff_dir(shared)
    before = {p: os.lstat(os.path.join(diff, p)).st_ino for p in ("", "bin", "bin/busybox")}
    mtime = os.lstat(os.path.dirname(diff)).st_mtime_ns
    since = len(registry.access_log())
    outcome = service(tmp_path, registry).present(second.ref)
    assert outcome.changed and diff_ids_of(outcome)[0] == shared
    assert {p: os.lstat(os.path.join(diff, p)).st_ino for p in before} == before
    assert os.lstat(os.path.dirname(diff)).st_mtime_ns == mtime
    assert blob_gets(registry, since, first.layers[0]) == []
    assert len(blob_gets(registry, since, second.layers[1])) == 1
    assert len(layer_store(svc).present()) == 3
    assert service(tmp_path, registry).store().check() == []


def test_two_processes_share_layers(tmp_path, registry):
    base = many_files_layer(6000, "base", seed=1)
    tops = [I.tar_layer([I.Entry("top/", "dir", mode=0o755), I.Entry("top/which", data=name.encode())])
            for name in ("one", "two")]
    middle = many_files_layer(2000, "middle", seed=2)
    images = [I.push_layers(registry, "layers/concurrent-%d" % i, "latest", [base, middle, top])
              for i, top in enumerate(tops)]
    assert images[0].layers[:2] == images[1].layers[:2]
    store = str(tmp_path / "store")
    trace = str(tmp_path / "unpack.trace")
    since = len(registry.access_log())
    procs = [subprocess.Popen(child_command(tmp_path, store, image.ref, registry, trace), env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for image in images]
    reports = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=CHILD_TIMEOUT)
            assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
            reports.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # The two pulls really ran at the same time.
    assert reports[0]["started"] < reports[1]["ended"] and reports[1]["started"] < reports[0]["ended"]
    with open(trace) as handle:
        lines = [line.split() for line in handle]
    starts: Dict[str, List[str]] = {}
    done: Dict[str, float] = {}
    for what, diff_id, pid, when in lines:
        assert what in ("start", "done")
        if what == "start":
            starts.setdefault(diff_id, []).append(pid)
        else:
            done[diff_id] = float(when)
    expected = {"sha256:" + hashlib.sha256(raw).hexdigest() for raw in [base, middle] + tops}
    assert set(starts) == set(done) == expected
    assert {d: len(p) for d, p in starts.items()} == {d: 1 for d in expected}, starts
    assert len([line for line in lines if line[0] == "done"]) == 4
    # Each shared layer was wanted by the other process before its unpack was over.
    for raw in (base, middle):
        shared = "sha256:" + hashlib.sha256(raw).hexdigest()
        other = [r for r in reports if str(r["pid"]) != starts[shared][0]]
        assert len(other) == 1 and other[0]["started"] < done[shared], (shared, reports, done)
    for digest in images[0].layers[:2]:
        assert len(blob_gets(registry, since, digest)) == 1, digest
    svc = service(tmp_path, registry)
    assert svc.store().check() == []
    assert leftovers(store) == []
    assert sorted(layer_store(svc).present()) == sorted(expected)
    for image in images:
        assert svc.store().lookup(image.ref) is not None


# ---------------------------------------------------------------------------
# failures leave nothing behind
# ---------------------------------------------------------------------------
def test_wrong_diff_id_is_refused_and_leaves_nothing(tmp_path, registry):
    good = I.tar_layer(I.busybox_entries())
    bad = I.tar_layer([I.Entry("etc/", "dir", mode=0o755), I.Entry("etc/real", data=b"real\n")])
    wrong = "sha256:" + hashlib.sha256(b"not the layer").hexdigest()
    diff_ids = ["sha256:" + hashlib.sha256(good).hexdigest(), wrong]
    image = write_layout(str(tmp_path / "layout"), [good, bad], diff_ids)
    pushed = I.copy_layout(registry, image, "layers/wrong-diff-id")
    svc = service(tmp_path, registry)
    with pytest.raises(UndockError) as caught:
        svc.present(pushed.ref)
    message = str(caught.value)
    assert pushed.layers[1] in message and wrong in message, message
    assert "diff ID" in message
    store = str(tmp_path / "store")
    true_diff_id = "sha256:" + hashlib.sha256(bad).hexdigest()
    assert svc.store().lookup(pushed.ref) is None
    assert_clean(store, [wrong, true_diff_id], [pushed.layers[1]])


def test_corrupted_blob_in_registry(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="layers/corrupt", cache=image_cache)
    victim = pushed.layers[0]  # the busybox layer, ~1 MB
    path = reg.blob_path(pushed.repo, victim)
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(size // 2)
        chunk = handle.read(64)
        handle.seek(size // 2)
        handle.write(bytes(b ^ 0x5A for b in chunk))  # same size, other bytes
    svc = service(tmp_path, reg)
    with pytest.raises(DigestMismatchError) as caught:
        svc.present(pushed.ref)
    assert victim in str(caught.value) and "does not match" in str(caught.value), caught.value
    config = json.loads(reg.request("GET", "/v2/%s/blobs/%s" % (pushed.repo, pushed.config))[2])
    assert_clean(str(tmp_path / "store"), config["rootfs"]["diff_ids"][:1], [victim])
    assert svc.store().lookup(pushed.ref) is None


def test_kill_during_unpack_then_next_run_completes(tmp_path, registry):
    big = many_files_layer(60000, "big", seed=3, size=32)
    pushed = I.push_layers(registry, "layers/killed", "latest", [I.tar_layer(I.busybox_entries()), big])
    big_diff = "sha256:" + hashlib.sha256(big).hexdigest()
    store = str(tmp_path / "store")
    overlay = os.path.join(store, "overlay")
    prefix = ".tmp-%s-" % big_diff.split(":", 1)[1]
    proc = subprocess.Popen(child_command(tmp_path, store, pushed.ref, registry), env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_in = None
    try:
        deadline = time.monotonic() + KILL_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            temps = [n for n in os.listdir(overlay) if n.startswith(prefix)] if os.path.isdir(overlay) else []
            if temps:
                subdirs = os.path.join(overlay, temps[0], "diff", "big")
                try:
                    done = len(os.listdir(subdirs))
                except FileNotFoundError:
                    done = 0
                if done >= 5:  # a few thousand files in: in the middle of the unpack
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_in = temps[0]
                    break
            time.sleep(0.01)
    finally:
        if proc.poll() is None and killed_in is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert killed_in is not None, "the pull finished before it could be killed mid-unpack"
    assert proc.returncode == -signal.SIGKILL
    killed = sorted(n for n in os.listdir(overlay) if n.startswith(".tmp-"))
    assert killed_in in killed  # what the kill left (another layer may have been unpacking too)
    assert not os.path.exists(os.path.join(overlay, big_diff.split(":", 1)[1]))
    svc = service(tmp_path, registry)
    outcome = svc.present(pushed.ref)
    assert outcome.changed
    diff = layer_store(svc).diff_dir(big_diff)
    assert sum(len(files) for _, _, files in os.walk(diff)) == 60000
    assert svc.store().check() == []
    left = [n for n in leftovers(store) if n not in ["overlay/" + k for k in killed]]
    assert left == []
    # Nothing may remain of the killed run.
    still = sorted(n for n in os.listdir(overlay) if n.startswith(".tmp-"))
    assert still == []


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------
def test_peak_memory_flat_as_the_layer_grows(tmp_path, registry, image_cache):
    small = I.push_large_image(registry, repo="layers/mem-small", total_size=20 * 1024 * 1024, layers=1,
                               seed=11, cache=image_cache)
    big = I.push_large_image(registry, repo="layers/mem-big", total_size=200 * 1024 * 1024, layers=1,
                             seed=12, cache=image_cache)
    peaks = {}
    for name, image in (("small", small), ("big", big)):
        store = str(tmp_path / ("store-" + name))
        peaks[name] = peak_rss_kib(tmp_path, store, image.ref, registry)
        overlay = os.path.join(store, "overlay")
        unpacked = [os.path.join(overlay, n, "diff", "random", "0.bin") for n in os.listdir(overlay) if len(n) == 64]
        assert [os.path.getsize(p) for p in unpacked] == [image.expected["total_size"]]
        shutil.rmtree(store)
    print("peak RSS: 20 MB layer %d KiB, 200 MB layer %d KiB" % (peaks["small"], peaks["big"]))
    assert peaks["big"] < peaks["small"] + 30 * 1024, peaks
