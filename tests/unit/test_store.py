from __future__ import annotations

import io
import json
import os
import stat

import pytest

from ansible_collections.undock.oci.plugins.module_utils.model.digest import sha256_digest
from ansible_collections.undock.oci.plugins.module_utils.common.errors import (
    DigestMismatchError, StoreError, TransientError)
from ansible_collections.undock.oci.plugins.module_utils.model import manifest as m
from ansible_collections.undock.oci.plugins.module_utils.storage.layout import OCILayout
from ansible_collections.undock.oci.plugins.module_utils.storage.store import Store


def put_image(store, name, layer=b"layer-bytes"):
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    store.write_blob(layer)
    store.write_blob(config)
    doc = {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST,
           "config": {"mediaType": m.OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
           "layers": [{"mediaType": m.OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}]}
    raw = json.dumps(doc).encode()
    store.write_blob(raw)
    desc = {"mediaType": m.OCI_MANIFEST, "digest": sha256_digest(raw), "size": len(raw)}
    assert store.tag(name, desc)
    return desc


def opener_for(data, fail_after=None, calls=None):
    def opener(offset):
        if calls is not None:
            calls.append(offset)
        chunk = data[offset:]
        if fail_after is not None and len(calls or []) == 1:
            class Cut(io.BytesIO):
                def read(self, n=-1):
                    got = super().read(min(n, fail_after) if n and n > 0 else fail_after)
                    if not got:
                        raise TransientError("cut")
                    return got
            return Cut(chunk[:fail_after]), offset
        return io.BytesIO(chunk), offset
    return opener


def test_store_is_private_oci_layout(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    assert json.load(open(os.path.join(store.root, "oci-layout"))) == {"imageLayoutVersion": "1.0.0"}
    OCILayout.open(store.root)
    assert store.images() == []


def test_tag_is_idempotent_and_check_finds_corruption(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    desc = put_image(store, "example.com/a:1")
    assert not store.tag("example.com/a:1", desc)
    assert store.check() == []
    layer = sha256_digest(b"layer-bytes")
    with open(store.layout.blob_path(layer), "wb") as handle:
        handle.write(b"tampered")
    problems = store.check()
    assert len(problems) == 1 and "example.com/a:1" in problems[0] and layer in problems[0]


def test_ingest_resumes_after_cut_and_verifies(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    data = os.urandom(3 * 1024 * 1024 + 5)
    desc = {"digest": sha256_digest(data), "size": len(data)}
    calls = []
    assert store.ingest_blob(desc, opener_for(data, fail_after=1024 * 1024, calls=calls), backoff=0)
    assert calls[0] == 0 and calls[1] > 0  # the second request resumed from where the first stopped
    assert store.layout.read_blob(desc["digest"]) == data
    assert not store.ingest_blob(desc, opener_for(data))  # present: skipped


def test_partial_survives_and_is_resumed_by_next_run(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    data = os.urandom(2 * 1024 * 1024)
    desc = {"digest": sha256_digest(data), "size": len(data)}
    with open(store.partial_path(desc["digest"]), "wb") as handle:
        handle.write(data[:1500000])
    calls = []
    store.ingest_blob(desc, opener_for(data, calls=calls))
    assert calls == [1500000]
    assert not os.path.exists(store.partial_path(desc["digest"]))


def test_bad_content_never_gets_a_name(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    data = b"x" * 100
    desc = {"digest": sha256_digest(b"y" * 100), "size": 100}
    with pytest.raises(DigestMismatchError):
        store.ingest_blob(desc, opener_for(data))
    assert not store.has_blob(desc["digest"])
    assert not os.path.exists(store.partial_path(desc["digest"]))
    with pytest.raises(DigestMismatchError, match="more data"):
        store.ingest_blob({"digest": desc["digest"], "size": 10}, opener_for(data))


def test_garbage_collection_keeps_shared_blobs(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    put_image(store, "example.com/a:1")
    put_image(store, "example.com/b:1", layer=b"other")
    store.untag("example.com/b:1")
    freed = store.collect_garbage()
    assert freed["blobs"] == 2  # b's layer and manifest; the config is shared with a
    assert store.check() == []
    store.untag("example.com/a:1")
    store.collect_garbage()
    assert list(store.layout.blob_digests()) == []


def test_a_named_referrer_keeps_its_subject_and_check_walks_it(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    subject = put_image(store, "example.com/a:1")
    store.untag("example.com/a:1")
    config = b"{}"
    store.write_blob(config)
    doc = {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "subject": subject,
           "config": {"mediaType": "application/vnd.example.sig", "digest": sha256_digest(config), "size": 2},
           "layers": []}
    raw = json.dumps(doc).encode()
    store.write_blob(raw)
    assert store.tag("example.com/a:sig", {"mediaType": m.OCI_MANIFEST, "digest": sha256_digest(raw), "size": len(raw)})
    assert store.collect_garbage()["blobs"] == 0
    assert subject["digest"] in store.referenced_blobs()
    layer = store.layout.blob_path(sha256_digest(b"layer-bytes"))
    with open(layer, "wb") as handle:
        handle.write(b"tampered")
    assert len(store.check()) == 1 and "example.com/a:sig" in store.check()[0]


def test_stale_temporaries_cleaned(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    temp = os.path.join(store.tmp, ".tmp-abc")
    partial = store.partial_path("sha256:" + "b" * 64)
    for path in (temp, partial):
        open(path, "w").close()
        os.utime(path, (1, 1))
    fresh = os.path.join(store.tmp, ".tmp-new")
    open(fresh, "w").close()
    assert store.clean_stale_temporaries() == 2
    assert os.path.exists(fresh)


def test_open_requires_layout(tmp_path):
    with pytest.raises(StoreError):
        Store.open(str(tmp_path / "missing"), create=False)
    with pytest.raises(StoreError):
        OCILayout.open(str(tmp_path))


def test_complete_partial_is_verified_without_a_request(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    data = os.urandom(1000)
    desc = {"digest": sha256_digest(data), "size": len(data)}
    with open(store.partial_path(desc["digest"]), "wb") as handle:
        handle.write(data)
    calls = []
    assert store.ingest_blob(desc, opener_for(data, calls=calls))
    assert calls == [] and store.layout.read_blob(desc["digest"]) == data


def test_server_ignoring_range_restarts_cleanly(tmp_path):
    store = Store.open(str(tmp_path / "s"))
    data = os.urandom(300000)
    desc = {"digest": sha256_digest(data), "size": len(data)}
    with open(store.partial_path(desc["digest"]), "wb") as handle:
        handle.write(data[:100000])

    def ignores_range(offset):
        return io.BytesIO(data), 0

    assert store.ingest_blob(desc, ignores_range)
    assert store.layout.read_blob(desc["digest"]) == data


# -- storage_root never takes over a directory ------------------------------------------------

def test_a_store_is_made_in_a_new_or_empty_directory(tmp_path):
    assert Store.open(str(tmp_path / "new" / "store")).images() == []
    (tmp_path / "empty").mkdir(mode=0o755)
    Store.open(str(tmp_path / "empty"))
    assert stat.S_IMODE(os.stat(tmp_path / "empty").st_mode) == 0o700
    volume = tmp_path / "volume"
    (volume / "lost+found").mkdir(parents=True)   # the root of a fresh file system
    Store.open(str(volume))
    put_image(Store.open(str(tmp_path / "empty")), "a:1")
    assert [e["annotations"]["org.opencontainers.image.ref.name"]
            for e in Store.open(str(tmp_path / "empty")).images()] == ["a:1"]


def test_an_interrupted_creation_is_finished(tmp_path):
    root = tmp_path / "store"
    (root / "tmp").mkdir(parents=True)
    (root / "locks").mkdir()
    Store.open(str(root))
    assert (root / "oci-layout").is_file()


@pytest.mark.parametrize("create", [True, False])
def test_a_directory_with_other_content_is_refused(tmp_path, create):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / ".bashrc").write_text("x")
    with pytest.raises(StoreError, match=r"storage_root .*home is neither empty nor a store \(it holds .bashrc\)"):
        Store.open(str(home), create=create)
    assert sorted(os.listdir(home)) == [".bashrc"]
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o755


def test_an_oci_layout_of_another_tool_is_refused(tmp_path):
    layout = OCILayout.create(str(tmp_path / "skopeo-layout"))
    with pytest.raises(StoreError, match="not an undock store"):
        Store.open(layout.root)
    assert sorted(os.listdir(layout.root)) == ["blobs", "index.json", "oci-layout"]


def test_a_file_or_an_empty_name_is_refused(tmp_path):
    regular = tmp_path / "file"
    regular.write_text("data")
    with pytest.raises(StoreError, match="storage_root .*file is not a directory"):
        Store.open(str(regular))
    with pytest.raises(StoreError, match="storage_root .*cannot be used: Not a directory"):
        Store.open(str(regular / "below"))
    assert regular.read_text() == "data"
    for empty in ("", " "):
        with pytest.raises(StoreError, match="storage_root is empty"):
            Store.open(empty)


def test_a_store_being_made_by_another_process_is_waited_for_not_refused(tmp_path):
    """The maker holds an flock on storage_root from the emptiness check to oci-layout:
    a second process that looks meanwhile (and sees its temporary files) waits, then
    finds a store. Before, it refused the directory as "neither empty nor a store"."""
    import fcntl
    import subprocess
    import sys
    import time

    root = tmp_path / "store"
    root.mkdir()
    fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what Store.open holds while it makes the store
    try:
        (root / "locks").mkdir()
        (root / ".tmp-half-written").write_bytes(b"{")
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys; from ansible_collections.undock.oci.plugins.module_utils.storage.store "
             "import Store; store = Store.open(sys.argv[1]); print(len(store.images()))", str(root)],
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.0)
        assert child.poll() is None, child.communicate()  # it waits for the maker
        os.unlink(str(root / ".tmp-half-written"))
        os.makedirs(str(root / "tmp"))
        OCILayout.create(str(root), mode=0o700)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    assert out.decode().strip() == "0"


def test_two_stores_made_at_once_in_one_directory(tmp_path):
    import subprocess
    import sys

    root = str(tmp_path / "store")
    code = ("import sys; from ansible_collections.undock.oci.plugins.module_utils.storage.store import Store\n"
            "for _ in range(20):\n    Store.open(sys.argv[1])\n")
    children = [subprocess.Popen([sys.executable, "-c", code, root], env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
                                 stderr=subprocess.PIPE) for _ in range(4)]
    for child in children:
        err = child.communicate(timeout=120)[1]
        assert child.returncode == 0, err.decode()[-2000:]


def test_received_is_called_once_the_bytes_verify_before_the_blob_is_durable_or_named(tmp_path, monkeypatch):
    store = Store.open(str(tmp_path / "s"))
    data = os.urandom(64 * 1024)
    desc = {"digest": sha256_digest(data), "size": len(data)}
    events = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    received = lambda: events.append("received named=%s" % store.has_blob(desc["digest"]))  # noqa: E731
    assert store.ingest_blob(desc, opener_for(data), received=received)
    assert events[:2] == ["received named=False", "fsync"] and store.has_blob(desc["digest"])
    events.clear()
    wrong = {"digest": sha256_digest(b"other"), "size": len(data)}
    with pytest.raises(DigestMismatchError):
        store.ingest_blob(wrong, opener_for(data), received=received)
    assert events == []  # bytes that do not verify are never reported received
