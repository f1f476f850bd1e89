"""Images written by skopeo, umoci and buildah unpack to the same file tree that umoci
unpack produces: the same paths, types, modes, owners, sizes, content hashes, symlink
targets and whiteout effects.

Ours: ``ImageService.present`` pulls from the registry and unpacks every layer into
``overlay/<diff hex>/diff`` (whiteouts in overlay's native form); the rootfs we compare is
a real read-only overlay mount of those layer directories, in manifest order. Theirs:
``skopeo copy docker://REF oci:DIR:x`` then ``umoci unpack --image DIR:x BUNDLE`` of the
same image; umoci applies whiteouts by deleting, so only the merged views are comparable.

Compared per path: type, permission bits (setuid/setgid/sticky included), uid, gid, size
and sha256 of files, symlink targets, device numbers, xattrs (security.capability, user.*,
trusted.*, POSIX ACLs), hardlink groups, and mtimes, with one exclusion: the mtime of the
root directory ``/``. No layer of these images carries an entry for the root itself, so
its mtime is not defined by the image: umoci sets it to 0 (the epoch), while overlay shows
the mtime of the topmost layer directory, the time we created it. Directory sizes and link
counts are not recorded at all (they belong to the filesystem, ext4 vs overlay).

umoci 0.4.7 cannot unpack zstd layers, so the zstd fixture is compared with umoci's tree
of the same image recompressed to gzip by skopeo (``--dest-compress-format gzip``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from typing import Callable, Iterator, List, Sequence

import pytest

from harness import images as I
from harness import treediff as T
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore

TIMEOUT = 300
SKOPEO = I.Skopeo()


# The one difference that is not the image's (see the module docstring).
def IGNORE(path, field, ours, theirs):  # noqa: N802 - a constant of the module
    return path == "/" and field == "mtime"


def run(command: Sequence[str], env=None, cwd=None) -> str:
    proc = subprocess.run(list(command), capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, "%s failed (%d):\n%s\n%s" % (" ".join(command), proc.returncode,
                                                              proc.stdout, proc.stderr)
    return proc.stdout


def our_layers(tmp_path, registry, ref: str) -> List[str]:
    """Pull ``ref`` with the engine; the diff directories of its layers, manifest order."""
    svc = service(tmp_path / "ours", registry)
    outcome = svc.present(ref)
    assert outcome.changed
    layers = LayerStore(svc.store())
    diff_ids = outcome.resolved.config["rootfs"]["diff_ids"]
    assert len(diff_ids) == len(outcome.resolved.manifest.layers)
    dirs = [layers.diff_dir(d) for d in diff_ids]
    for d in dirs:
        assert os.path.isdir(d), d
    return dirs


def umoci_tree(tmp_path, registry, ref: str, skopeo_extra: Sequence[str] = ()) -> T.Snapshot:
    layout, bundle = str(tmp_path / "umoci-layout"), str(tmp_path / "umoci-bundle")
    SKOPEO.copy("docker://" + ref, "oci:%s:x" % layout, src_registry=registry, extra=skopeo_extra)
    run(["umoci", "unpack", "--image", layout + ":x", bundle])
    return T.snapshot(os.path.join(bundle, "rootfs"), mtimes=True)


def whiteouts(layer_dirs: Sequence[str]) -> dict:
    """Counts of overlay-native whiteouts and opaque directories in the layer dirs."""
    counts = {"whiteouts": 0, "opaque": 0}
    for d in layer_dirs:
        snap = T.snapshot(d, content=False)
        counts["whiteouts"] += sum(1 for n in snap.values() if n.is_whiteout)
        counts["opaque"] += sum(1 for n in snap.values() if n.is_opaque)
    return counts


def compare(tmp_path, registry, ref: str, skopeo_extra: Sequence[str] = ()):
    """Assert that our merged tree equals umoci's; return (ours, umoci's, our layer dirs)."""
    dirs = our_layers(tmp_path, registry, ref)
    ours = T.merged_snapshot(dirs, mtimes=True)
    # The Python model of overlay's merge agrees with the kernel's (checks the helper).
    assert T.diff(ours, T.apply_layers(dirs, mtimes=True), names=("mount", "model")) == []
    theirs = umoci_tree(tmp_path, registry, ref, skopeo_extra)
    differences = T.diff(ours, theirs, ignore=IGNORE, names=("ours", "umoci"))
    assert differences == [], "%s: our merged tree differs from umoci unpack:\n%s" % (ref, "\n".join(differences))
    assert len(ours) > 10
    return ours, theirs, dirs


# ---------------------------------------------------------------------------
# fixture images (written by our harness in Python, pushed by skopeo)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["oci", "docker", "index", "list", "whiteout", "zstd"])
def test_fixture_unpacks_like_umoci(tmp_path, registry, fixture_images, kind):
    pushed = fixture_images[kind]
    extra = ["--dest-compress-format", "gzip"] if kind == "zstd" else []
    ours, theirs, dirs = compare(tmp_path, registry, pushed.ref, extra)
    if kind == "whiteout":
        assert whiteouts(dirs) == {"whiteouts": 2, "opaque": 1}
        for path in pushed.expected["absent"]:
            assert path.rstrip("/") not in ours
        for path, data in pushed.expected["files"].items():
            assert ours[path].size == len(data)
    if kind == "zstd":
        served = json.loads(I.describe(registry, pushed.repo, pushed.tag).manifest)
        assert {layer["mediaType"] for layer in served["layers"]} == {I.OCI_LAYER_ZSTD}


# ---------------------------------------------------------------------------
# an image built by buildah
# ---------------------------------------------------------------------------
@contextlib.contextmanager
def buildah(tmp_path) -> Iterator[Callable[..., str]]:
    """``buildah`` with its own storage (overlay driver), registries.conf and auth file;
    every container and image removed, and every mount it left undone, at the end."""
    root = str(tmp_path / "buildah-root")
    runroot = tempfile.mkdtemp(prefix="ubr-", dir="/tmp")
    conf = str(tmp_path / "buildah-conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "registries.conf"), "w") as handle:
        handle.write("unqualified-search-registries = []\n")
    with open(os.path.join(conf, "auth.json"), "w") as handle:
        handle.write('{"auths": {}}')
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=os.path.join(conf, "registries.conf"),
               REGISTRY_AUTH_FILE=os.path.join(conf, "auth.json"))
    base = ["buildah", "--root", root, "--runroot", runroot, "--storage-driver", "overlay"]

    def call(*args: str) -> str:
        return run(base + list(args), env=env).strip()
    try:
        yield call
    finally:
        for args in (["rm", "--all"], ["rmi", "--all", "--force"]):
            subprocess.run(base + args, capture_output=True, timeout=TIMEOUT, env=env)
        try:
            T.unmount_all_below(root)
            T.unmount_all_below(runroot)
        finally:
            shutil.rmtree(runroot, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def _buildah_context(ctx: str) -> None:
    """What ``buildah add`` copies into the first layer."""
    os.makedirs(os.path.join(ctx, "bin"))
    shutil.copy2(I.BUSYBOX, os.path.join(ctx, "bin", "busybox"))
    for applet in I.BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(ctx, "bin", applet))
    _write(os.path.join(ctx, "etc", "passwd"), b"root:x:0:0:root:/root:/bin/sh\n")
    _write(os.path.join(ctx, "etc", "group"), b"root:x:0:\n")
    _write(os.path.join(ctx, "data", "keep.txt"), b"keep\n")
    _write(os.path.join(ctx, "data", "gone.txt"), b"gone\n")
    _write(os.path.join(ctx, "data", "gonedir", "inner.txt"), b"inner\n")
    _write(os.path.join(ctx, "data", "sub", "file.txt"), b"sub\n")
    _write(os.path.join(ctx, "data", "dir-then-file", "x"), b"x\n")
    _write(os.path.join(ctx, "data", "file-then-dir"), b"file\n")
    _write(os.path.join(ctx, "data", "secret"), b"secret\n", 0o600)
    _write(os.path.join(ctx, "data", "suid"), b"#!/bin/sh\n", 0o4755)
    _write(os.path.join(ctx, "data", "hard1"), b"hard\n")
    os.link(os.path.join(ctx, "data", "hard1"), os.path.join(ctx, "data", "hard2"))
    _write(os.path.join(ctx, "opaque", "old1.txt"), b"old1\n")
    _write(os.path.join(ctx, "opaque", "sub", "old2.txt"), b"old2\n")
    os.chmod(os.path.join(ctx, "opaque", "sub"), 0o750)


def _second_layer(root: str) -> None:
    """Changes made in the mounted working container; buildah commit diffs them."""
    os.unlink(os.path.join(root, "data", "gone.txt"))
    shutil.rmtree(os.path.join(root, "data", "gonedir"))
    shutil.rmtree(os.path.join(root, "opaque"))        # removed and recreated: opaque in overlay
    _write(os.path.join(root, "opaque", "new.txt"), b"new\n")
    shutil.rmtree(os.path.join(root, "data", "dir-then-file"))
    _write(os.path.join(root, "data", "dir-then-file"), b"now a file\n")
    os.unlink(os.path.join(root, "data", "file-then-dir"))
    _write(os.path.join(root, "data", "file-then-dir", "y"), b"y\n")
    _write(os.path.join(root, "data", "keep.txt"), b"kept and changed\n", 0o640)
    os.chown(os.path.join(root, "data", "sub", "file.txt"), 1000, 1001)
    os.chmod(os.path.join(root, "data", "sub"), 0o700)
    os.symlink("../etc/passwd", os.path.join(root, "data", "link"))
    os.mkfifo(os.path.join(root, "data", "fifo"), 0o620)
    _write(os.path.join(root, "data", "xattr.txt"), b"x\n")
    os.setxattr(os.path.join(root, "data", "xattr.txt"), "user.undock", b"yes")
    os.unlink(os.path.join(root, "bin", "false"))      # a symlink removed


def test_buildah_built_image_unpacks_like_umoci(tmp_path, registry):
    ref = "%s/interop/buildah:latest" % registry.host
    ctx = str(tmp_path / "context")
    _buildah_context(ctx)
    with buildah(tmp_path) as b:
        first = b("from", "scratch")
        b("add", first, ctx + "/.", "/")
        b("config", "--cmd", "/bin/sh", first)
        b("commit", "--quiet", "--format", "oci", first, "undock-interop-base")
        second = b("from", "--pull=never", "undock-interop-base")
        mounted = b("mount", second)
        try:
            _second_layer(mounted)
        finally:
            b("umount", second)
        b("commit", "--quiet", "--format", "oci", second, "undock-interop-final")
        b("push", "--quiet", "--tls-verify=false", "undock-interop-final", "docker://" + ref)
    ours, theirs, dirs = compare(tmp_path, registry, ref)
    assert len(dirs) == 2
    counts = whiteouts(dirs)
    assert counts["whiteouts"] >= 3 and counts["opaque"] >= 1, counts  # the image really has them
    for gone in ("/data/gone.txt", "/data/gonedir", "/opaque/old1.txt", "/opaque/sub", "/bin/false",
                 "/data/dir-then-file/x"):
        assert gone not in ours, gone
    assert ours["/data/dir-then-file"].kind == "file" and ours["/data/file-then-dir"].kind == "dir"
    assert ours["/data/sub/file.txt"].uid == 1000 and ours["/data/suid"].mode == 0o4755
    assert ours["/data/hard1"].link == ("/data/hard1", "/data/hard2")
    assert ("user.undock", b"yes") in ours["/data/xattr.txt"].xattrs


# ---------------------------------------------------------------------------
# an image modified by umoci
# ---------------------------------------------------------------------------
def test_umoci_modified_image_unpacks_like_umoci(tmp_path, registry, fixture_images):
    base = fixture_images["whiteout"]
    layout, bundle = str(tmp_path / "edit-layout"), str(tmp_path / "edit-bundle")
    SKOPEO.copy("docker://" + base.ref, "oci:%s:base" % layout, src_registry=registry)
    run(["umoci", "unpack", "--image", layout + ":base", bundle])
    rootfs = os.path.join(bundle, "rootfs")
    os.unlink(os.path.join(rootfs, "bin", "ls"))
    shutil.rmtree(os.path.join(rootfs, "usr"))
    shutil.rmtree(os.path.join(rootfs, "data", "sub"))
    _write(os.path.join(rootfs, "etc", "new.conf"), b"new\n", 0o600)
    os.link(os.path.join(rootfs, "etc", "new.conf"), os.path.join(rootfs, "etc", "new.link"))
    os.chown(os.path.join(rootfs, "etc", "group"), 1000, 1000)
    os.chmod(os.path.join(rootfs, "etc", "passwd"), 0o600)
    os.symlink("/data/keep.txt", os.path.join(rootfs, "keep"))
    run(["umoci", "repack", "--image", layout + ":edited", bundle])
    run(["umoci", "insert", "--image", layout + ":edited", "--whiteout", "/tmp"])
    ref = "%s/interop/umoci:latest" % registry.host
    SKOPEO.copy("oci:%s:edited" % layout, "docker://" + ref, dest_registry=registry)
    ours, theirs, dirs = compare(tmp_path, registry, ref)
    assert len(dirs) == 5  # three of the fixture, repack, whiteout insert
    counts = whiteouts(dirs)
    assert counts["whiteouts"] >= 5 and counts["opaque"] >= 1, counts
    for gone in ("/bin/ls", "/usr", "/tmp", "/data/sub"):
        assert gone not in ours, gone
    assert ours["/etc/new.conf"].link == ("/etc/new.conf", "/etc/new.link")
    assert ours["/etc/group"].uid == 1000 and ours["/etc/passwd"].mode == 0o600


def test_umoci_repack_of_directory_replaced_by_file(tmp_path, registry, fixture_images):
    layout, bundle = str(tmp_path / "edit-layout"), str(tmp_path / "edit-bundle")
    SKOPEO.copy("docker://" + fixture_images["whiteout"].ref, "oci:%s:base" % layout, src_registry=registry)
    run(["umoci", "unpack", "--image", layout + ":base", bundle])
    rootfs = os.path.join(bundle, "rootfs")
    shutil.rmtree(os.path.join(rootfs, "data", "sub"))
    _write(os.path.join(rootfs, "data", "sub"), b"a file where a directory was\n")
    run(["umoci", "repack", "--image", layout + ":edited", bundle])
    ref = "%s/interop/umoci-dir-to-file:latest" % registry.host
    SKOPEO.copy("oci:%s:edited" % layout, "docker://" + ref, dest_registry=registry)
    ours, theirs, dirs = compare(tmp_path, registry, ref)
    assert ours["/data/sub"].kind == "file" and "/data/sub/file.txt" not in ours


def test_umoci_insert_layer_without_tar_footer(tmp_path, registry, fixture_images):
    layout = str(tmp_path / "edit-layout")
    SKOPEO.copy("docker://" + fixture_images["whiteout"].ref, "oci:%s:edited" % layout, src_registry=registry)
    source = str(tmp_path / "insert")
    _write(os.path.join(source, "only.txt"), b"only this\n")
    os.symlink("only.txt", os.path.join(source, "also"))
    run(["umoci", "insert", "--image", layout + ":edited", "--opaque", source, "/opaque"])
    ref = "%s/interop/umoci-insert:latest" % registry.host
    SKOPEO.copy("oci:%s:edited" % layout, "docker://" + ref, dest_registry=registry)
    ours, theirs, dirs = compare(tmp_path, registry, ref)
    assert sorted(p for p in ours if p.startswith("/opaque/")) == ["/opaque/also", "/opaque/only.txt"]
