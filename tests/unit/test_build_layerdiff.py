# -*- coding: utf-8 -*-
"""The diff of an overlay upper directory as an OCI layer: whiteouts converted, entries in a
reproducible form (sorted, clamped mtimes, numeric owners, no atime/ctime)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError
from ansible_collections.undock.oci.plugins.module_utils.build.layerdiff import walk_tree
from ansible_collections.undock.oci.plugins.module_utils.build.layers import write_layer
from ansible_collections.undock.oci.plugins.module_utils.model.manifest import OCI_LAYER_GZIP

pytestmark = pytest.mark.unit

EPOCH = 1700000000


def _upper(root: str) -> None:
    """An upper directory as overlay leaves it: a new file, a deletion, an opaque directory."""
    os.makedirs(os.path.join(root, "etc", "conf.d"))
    with open(os.path.join(root, "etc", "motd"), "w") as handle:
        handle.write("hello\n")
    os.chmod(os.path.join(root, "etc", "motd"), 0o640)
    os.chown(os.path.join(root, "etc", "motd"), 1000, 1001)
    os.mknod(os.path.join(root, "etc", "gone"), 0o600 | 0o020000, os.makedev(0, 0))  # overlay's whiteout
    os.setxattr(os.path.join(root, "etc", "conf.d"), "trusted.overlay.opaque", b"y")
    with open(os.path.join(root, "etc", "conf.d", "new.conf"), "w") as handle:
        handle.write("x=1\n")
    os.symlink("motd", os.path.join(root, "etc", "motd.link"))
    os.link(os.path.join(root, "etc", "motd"), os.path.join(root, "etc", "motd.hard"))
    os.setxattr(os.path.join(root, "etc", "motd"), "user.note", b"kept")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames + [""]:
            os.utime(os.path.join(dirpath, name), (EPOCH + 5000, EPOCH + 5000), follow_symlinks=False)


def _members(path: str):
    with tarfile.open(path, "r:*") as tar:
        return [(m.name, m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime, m.linkname, dict(m.pax_headers))
                for m in tar.getmembers()]


def test_overlay_whiteouts_become_oci_whiteouts(tmp_path):
    upper = tmp_path / "upper"
    _upper(str(upper))
    out = tmp_path / "out"
    out.mkdir()
    blob = write_layer(walk_tree(str(upper), whiteouts=True, epoch=EPOCH), str(out), OCI_LAYER_GZIP, "gzip")
    members = {m[0]: m for m in _members(blob.path)}
    assert list(members) == ["etc", "etc/conf.d", "etc/conf.d/.wh..wh..opq", "etc/conf.d/new.conf",
                             "etc/.wh.gone", "etc/motd", "etc/motd.hard", "etc/motd.link"]
    assert members["etc/.wh.gone"][1] == tarfile.REGTYPE
    assert members["etc/conf.d/.wh..wh..opq"][1] == tarfile.REGTYPE
    motd = members["etc/motd"]
    assert (motd[2], motd[3], motd[4], motd[5], motd[6]) == (0o640, 1000, 1001, "", "")
    assert motd[9] == {"SCHILY.xattr.user.note": "kept"}  # user xattrs kept, trusted.overlay.* never
    assert all("trusted.overlay" not in key for m in members.values() for key in m[9])
    assert all("atime" not in m[9] and "ctime" not in m[9] for m in members.values())
    assert members["etc/motd.hard"][1] == tarfile.LNKTYPE and members["etc/motd.hard"][8] == "etc/motd"
    assert members["etc/motd.link"][1] == tarfile.SYMTYPE and members["etc/motd.link"][8] == "motd"
    assert {m[7] for m in members.values()} == {EPOCH}  # clamped


def test_same_tree_same_blob_whatever_the_times(tmp_path):
    digests = set()
    for run in range(2):
        upper = tmp_path / ("upper%d" % run)
        _upper(str(upper))
        if run:
            os.utime(str(upper / "etc" / "motd"), (EPOCH + 99999, EPOCH + 99999))  # later than the epoch
        out = tmp_path / ("out%d" % run)
        out.mkdir()
        blob = write_layer(walk_tree(str(upper), whiteouts=True, epoch=EPOCH), str(out), OCI_LAYER_GZIP, "gzip")
        with open(blob.path, "rb") as handle:
            raw = gzip.decompress(handle.read())
        assert "sha256:" + __import__("hashlib").sha256(raw).hexdigest() == blob.diff_id
        digests.add((blob.desc["digest"], blob.diff_id))
    assert len(digests) == 1


def test_without_an_epoch_mtimes_are_kept(tmp_path):
    upper = tmp_path / "u"
    _upper(str(upper))
    members = {e.path: e for e in walk_tree(str(upper), whiteouts=True)}
    assert members["etc/motd"].mtime == EPOCH + 5000


def test_a_squashed_tree_has_no_whiteouts(tmp_path):
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "sh").write_bytes(b"#!")
    os.setxattr(str(root / "bin"), "trusted.overlay.opaque", b"y")  # never a marker outside an upper dir
    names = [e.path for e in walk_tree(str(root), whiteouts=False)]
    assert names == ["bin", "bin/sh"]


def test_a_user_file_named_like_a_whiteout_is_refused(tmp_path):
    upper = tmp_path / "u"
    upper.mkdir()
    (upper / ".wh.trick").write_bytes(b"")
    with pytest.raises(BuildError, match=r"\.wh\. prefix"):
        list(walk_tree(str(upper), whiteouts=True))


def test_a_redirected_directory_is_refused(tmp_path):
    upper = tmp_path / "u"
    (upper / "d").mkdir(parents=True)
    os.setxattr(str(upper / "d"), "trusted.overlay.redirect", b"/old")
    with pytest.raises(BuildError, match="redirect"):
        list(walk_tree(str(upper), whiteouts=True))


def test_the_layer_unpacks_with_our_own_reader(tmp_path):
    """What we write goes back through the store's unpacker: the whiteout removes the file below."""
    from ansible_collections.undock.oci.plugins.module_utils.storage.unpack import unpack_layer
    upper = tmp_path / "upper"
    _upper(str(upper))
    out = tmp_path / "out"
    out.mkdir()
    blob = write_layer(walk_tree(str(upper), whiteouts=True, epoch=EPOCH), str(out), OCI_LAYER_GZIP, "gzip")
    dest = tmp_path / "dest"
    dest.mkdir()
    with open(blob.path, "rb") as handle:
        unpack_layer(io.BufferedReader(handle), str(dest), expected_blob_digest=blob.desc["digest"],
                     expected_diff_id=blob.diff_id)
    assert (dest / "etc" / "motd").read_text() == "hello\n"
    gone = os.lstat(str(dest / "etc" / "gone"))
    assert os.major(gone.st_rdev) == 0 and os.minor(gone.st_rdev) == 0  # overlay-native again
    assert os.getxattr(str(dest / "etc" / "conf.d"), "trusted.overlay.opaque") == b"y"
    shutil.rmtree(str(dest))
