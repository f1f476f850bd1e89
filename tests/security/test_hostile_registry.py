# -*- coding: utf-8 -*-
"""The hostile-layer corpus through the whole path: pushed to the real registry (as-is,
by skopeo), pulled by the engine. Each must end in a clear error naming the entry, or
a contained result; never a file created or changed outside the store, and never a
store that fails its consistency check or keeps a half-unpacked layer."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402

from harness import images as I  # noqa: E402
from harness.engine import service  # noqa: E402

from ansible_collections.undock.oci.plugins.module_utils.common.errors import UndockError  # noqa: E402
from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore  # noqa: E402

MARKER = "UNDOCK_ESCAPED_REG_51c2"
DIFF_ID_LIMIT = 64 << 20


def diff_id_of(blob: bytes) -> str:
    """The diff ID a correct config would list, or a placeholder for bombs (rejected first)."""
    digest = hashlib.sha256()
    if blob[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        produced = 0
        for start in range(0, len(blob), 1 << 16):
            out = inflater.decompress(blob[start:start + (1 << 16)], DIFF_ID_LIMIT)
            produced += len(out)
            if produced >= DIFF_ID_LIMIT or inflater.unconsumed_tail:
                return "sha256:" + "0" * 64
            digest.update(out)
        return "sha256:" + digest.hexdigest()
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return "sha256:" + "0" * 64
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def push_raw(registry, repo, case) -> str:
    """Push ``case.blob`` unmodified as the only layer of an OCI image; return the reference."""
    layout = os.path.join(registry.workdir, "hostile-layouts", repo.replace("/", "_"))
    I._init_layout(layout)
    layer = I._put_blob(layout, case.blob)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id_of(case.blob)]}}).encode()
    config_digest = I._put_blob(layout, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": I.OCI_MANIFEST,
                           "config": {"mediaType": I.OCI_CONFIG, "digest": config_digest, "size": len(config)},
                           "layers": [{"mediaType": case.media_type, "digest": layer, "size": len(case.blob)}]
                           }).encode()
    manifest_digest = I._put_blob(layout, manifest)
    I._tag(layout, "x", {"mediaType": I.OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest)})
    I.run_skopeo(["copy", "--dest-tls-verify=false", "oci:%s:x" % layout, "docker://%s/%s:x" % (registry.host, repo)])
    return "%s/%s:x" % (registry.host, repo)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    sandbox = str(tmp_path_factory.mktemp("hostile-registry"))
    hostile.make_sentinel(sandbox)
    return sandbox


@pytest.fixture(scope="module")
def corpus(sandbox):
    return hostile.build_corpus(os.path.join(sandbox, "sentinel"), MARKER)


def case_names():
    return [case.name for case in hostile.build_corpus("/nonexistent/sentinel", MARKER)]


@pytest.mark.parametrize("name", case_names())
def test_hostile_layer_through_registry(sandbox, corpus, registry, name):
    case = next(c for c in corpus if c.name == name)
    work = os.path.join(sandbox, "case-" + name)
    store_root = os.path.join(work, "store")
    os.makedirs(work, exist_ok=True)
    before = hostile.snapshot(sandbox, exclude=work)
    ref = push_raw(registry, "hostile/%s" % name.lower().replace("_", "-"), case)

    svc = service(work, registry, max_layer_size=case.limits.get("max_size"))
    error = None
    try:
        svc.present(ref)
    except UndockError as err:
        error = err

    extra_limits = set(case.limits) - {"max_size"}
    if case.expect == "reject" and not extra_limits:
        assert error is not None, "%s was accepted: %s" % (name, case.about)
        if case.detail:
            assert case.detail in str(error), "%s: %r does not name %r" % (name, str(error), case.detail)
    elif case.expect == "contain" and error is None:
        store = svc.store()
        layers = LayerStore(store)
        [diff_dir] = [layers.diff_dir(d) for d in layers.present()]
        hostile.check_layer(diff_dir, case.checks)
    # else: a limit only unpack_layer's own tests can set (max_entries...): either outcome,
    # as long as nothing escaped and the store is consistent.

    store = svc.store(create=False)
    if store is not None:
        assert store.check() == []
        overlay = os.path.join(store_root, "overlay")
        leftovers = [n for n in os.listdir(overlay) if n.startswith(".tmp-")] if os.path.isdir(overlay) else []
        assert leftovers == [], leftovers
        if error is not None:
            assert store.lookup(ref) is None
            assert LayerStore(store).present() == []
    assert hostile.snapshot(sandbox, exclude=work) == before, "%s changed something outside the store" % name
    for root in ("/", "/tmp", "/etc", os.getcwd()):
        assert not os.path.lexists(os.path.join(root, MARKER)), "%s escaped to %s" % (name, root)
