"""Pushing to a real docker-registry: blobs skipped or mounted, monolithic and chunked
uploads, no-op when the digest already matches, check mode."""

from __future__ import annotations

import pytest

from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.image.local import StoreImageSource
from ansible_collections.undock.oci.plugins.module_utils.image.remote import RegistryImageDestination
from ansible_collections.undock.oci.plugins.module_utils.image.copy import copy_image
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference


def test_push_then_push_again_is_a_no_op(tmp_path, registry_factory, image_cache):
    from harness import images as I
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="src/app", cache=image_cache)
    svc = service(tmp_path, reg)
    svc.present(pushed.ref)
    target = "%s/dst/app:1.0" % reg.host
    svc.present(target, source=pushed.ref)
    check = service(tmp_path, reg, check_mode=True).push(target)
    assert check.changed and check.actions[0].startswith("would push")
    assert reg.get_manifest("dst/app", "1.0")[0] == 404  # check mode wrote nothing
    outcome = svc.push(target)
    assert outcome.changed
    assert outcome.before == {"remote_digest": None}
    assert outcome.after == {"remote_digest": pushed.digest}
    # same registry, other repository: every blob was mounted, none uploaded
    assert "0 blobs uploaded, %d mounted" % (len(pushed.layers) + 1) in outcome.actions[0]
    status, headers, body = reg.get_manifest("dst/app", "1.0")
    assert status == 200 and body == pushed.manifest
    again = service(tmp_path, reg).push(target)
    assert not again.changed and again.before == again.after


@pytest.mark.parametrize("chunk_size", [None, 64 * 1024])
def test_upload_to_another_registry(tmp_path, registry, registry_factory, fixture_images, chunk_size):
    pushed = fixture_images["docker"]
    svc = service(tmp_path, registry)
    svc.present(pushed.ref)
    other = registry_factory()
    ref = parse_reference("%s/copied/app:x" % other.host)
    svc2 = service(tmp_path, other)
    client = svc2.registry.client(ref, push=True)
    destination = RegistryImageDestination(client, ref, chunk_size=chunk_size)
    result = copy_image(StoreImageSource(svc.store(), pushed.ref), destination)
    assert result.changed and destination.mounted == []
    status, _headers, body = other.get_manifest("copied/app", "x")
    assert status == 200 and body == pushed.manifest
    patches = [e for e in other.access_log() if e[0] == "PATCH"]
    assert bool(patches) == bool(chunk_size)


def test_push_requires_local_image(tmp_path, registry):
    with pytest.raises(Exception, match="not in the store"):
        service(tmp_path, registry).push("%s/nothing/here:1" % registry.host)


def test_push_skips_blobs_the_repository_has(tmp_path, registry, registry_factory, fixture_images):
    pushed = fixture_images["oci"]
    other = registry_factory()
    svc = service(tmp_path, registry, also=[other])
    svc.present(pushed.ref)
    first = "%s/skip/app:1" % other.host
    svc.present(first, source=pushed.ref)
    assert svc.push(first).changed
    uploads_before = [e for e in other.access_log() if e[0] == "POST" and "/blobs/uploads/" in e[1]]
    second = "%s/skip/app:2" % other.host
    svc.present(second, source=pushed.ref)
    outcome = svc.push(second)
    assert outcome.changed and "0 blobs uploaded, 0 mounted" in outcome.actions[0]
    uploads_after = [e for e in other.access_log() if e[0] == "POST" and "/blobs/uploads/" in e[1]]
    assert uploads_after == uploads_before
    heads = [e for e in other.access_log() if e[0] == "HEAD" and "/blobs/" in e[1]]
    assert len(heads) >= 2 * (len(pushed.layers) + 1)
