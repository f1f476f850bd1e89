"""Pulling from a real docker-registry: every manifest kind a peer writes, idempotency,
and the pull policies."""

from __future__ import annotations

import json
import os

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.model import manifest as m


@pytest.mark.parametrize("kind", ["oci", "docker", "index", "list", "zstd", "whiteout"])
def test_every_fixture_pulls_and_verifies(tmp_path, registry, fixture_images, kind):
    pushed = fixture_images[kind]
    svc = service(tmp_path, registry)
    outcome = svc.present(pushed.ref)
    assert outcome.changed
    image = outcome.image
    expected = pushed.child("amd64") if pushed.children else pushed
    assert image["digest"] == expected.digest
    assert image["source_digest"] == pushed.digest
    assert image["id"] == expected.config
    assert image["platform"] == "linux/amd64"
    assert image["layers"] == expected.layers
    store = svc.store()
    assert store.check() == []
    # stored byte for byte as served
    assert store.read_blob(expected.digest) == expected.manifest
    entry = store.lookup(pushed.ref)
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == pushed.ref
    if expected.media_type == m.DOCKER_MANIFEST:
        # indexed through an OCI view so OCI layout readers see it; the original is kept
        assert entry["mediaType"] == m.OCI_MANIFEST
        assert entry["annotations"]["io.undock.manifest.digest"] == expected.digest
    else:
        assert entry["digest"] == expected.digest


def test_platform_choice_from_index_and_list(tmp_path, registry, fixture_images):
    for kind in ("index", "list"):
        pushed = fixture_images[kind]
        svc = service(tmp_path / kind, registry)
        outcome = svc.present(pushed.ref, platform="linux/arm64")
        assert outcome.image["digest"] == pushed.child("arm64").digest
        assert outcome.image["platform"].startswith("linux/arm64")
        with pytest.raises(Exception, match="no image for platform linux/s390x.*available: linux/amd64"):
            service(tmp_path / (kind + "2"), registry).present(pushed.ref, platform="linux/s390x")


def test_wrong_platform_for_single_manifest(tmp_path, registry, fixture_images):
    with pytest.raises(Exception, match="is for linux/amd64, not the requested platform linux/arm64"):
        service(tmp_path, registry).present(fixture_images["oci"].ref, platform="linux/arm64")


def test_second_pull_is_not_a_change_and_makes_no_blob_requests(tmp_path, registry, fixture_images):
    pushed = fixture_images["oci"]
    svc = service(tmp_path, registry)
    assert svc.present(pushed.ref).changed
    before = len(registry.access_log())
    again = service(tmp_path, registry).present(pushed.ref)
    assert not again.changed
    assert again.before == again.after == {"digest": pushed.digest}
    assert len(registry.access_log()) == before  # pull=missing never asks the registry
    for policy in ("always", "newer"):
        outcome = service(tmp_path, registry).present(pushed.ref, pull=policy)
        assert not outcome.changed, policy
    blob_gets = [e for e in registry.access_log()[before:] if "/blobs/" in e[1] and e[0] == "GET"
                 and pushed.layers[0].split(":")[1] in e[1]]
    assert blob_gets == []  # only manifest and config were read


def test_pull_by_digest(tmp_path, registry, fixture_images):
    pushed = fixture_images["docker"]
    svc = service(tmp_path, registry)
    outcome = svc.present(pushed.by_digest)
    assert outcome.changed and outcome.image["digest"] == pushed.digest
    assert svc.store().lookup(pushed.by_digest) is not None
    assert not service(tmp_path, registry).present(pushed.by_digest, pull="always").changed


def test_moved_tag_with_pull_newer(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    first = I.push_oci_image(reg, repo="app/moving", tag="v1", cache=image_cache)
    svc = service(tmp_path, reg)
    assert svc.present(first.ref).changed
    # move the tag to another image
    other = I.push_docker_image(reg, repo="app/moving", tag="v1", cache=image_cache)
    assert other.digest != first.digest
    assert not service(tmp_path, reg).present(first.ref, pull="missing").changed
    outcome = service(tmp_path, reg).present(first.ref, pull="newer")
    assert outcome.changed
    assert outcome.before == {"digest": first.digest} and outcome.after == {"digest": other.digest}
    store = service(tmp_path, reg).store()
    assert store.lookup(first.ref)["annotations"]["io.undock.manifest.digest"] == other.digest
    assert store.check() == []
    # the old image's unshared blobs were collected
    assert not store.has_blob(first.digest)


def test_pull_newer_keeps_local_when_registry_is_gone(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="app/gone", cache=image_cache)
    assert service(tmp_path, reg).present(pushed.ref).changed
    reg.stop()
    svc = service(tmp_path, reg)
    svc.registry.transport(svc.local_name(pushed.ref), True).retries = 0
    outcome = svc.present(pushed.ref, pull="newer")
    assert not outcome.changed and outcome.warnings and "keeping the local one" in outcome.warnings[0]
    with pytest.raises(Exception, match="cannot reach registry"):
        s2 = service(tmp_path, reg)
        s2.registry.transport(s2.local_name(pushed.ref), True).retries = 0
        s2.present(pushed.ref, pull="always")


def test_pull_never(tmp_path, registry, fixture_images):
    with pytest.raises(Exception, match="not in the store .* pull is never"):
        service(tmp_path, registry).present(fixture_images["oci"].ref, pull="never")


def test_check_mode_writes_nothing(tmp_path, registry, fixture_images):
    pushed = fixture_images["oci"]
    svc = service(tmp_path, registry, check_mode=True)
    outcome = svc.present(pushed.ref)
    assert outcome.changed and outcome.actions[0].startswith("would pull")
    assert outcome.after == {"digest": pushed.digest}
    assert not os.path.exists(tmp_path / "store")


def test_store_is_readable_oci_layout(tmp_path, registry, fixture_images):
    svc = service(tmp_path, registry)
    svc.present(fixture_images["index"].ref)
    index = json.load(open(tmp_path / "store" / "index.json"))
    assert index["manifests"][0]["platform"]["architecture"] == "amd64"
    assert index["manifests"][0]["mediaType"] == m.OCI_MANIFEST


def test_a_stored_index_digest_is_the_image_of_its_platform(tmp_path, registry, fixture_images):
    """An index digest names the stored image only for the platform it was pulled for."""
    pushed = fixture_images["index"]
    svc = service(tmp_path, registry)
    svc.present(pushed.ref)
    requests_before = len(registry.access_log())
    same = svc.present(pushed.by_digest, pull="always")
    assert not same.changed and same.image["name"] == pushed.ref
    assert same.image["digest"] == pushed.child("amd64").digest
    by_child = svc.present("%s/%s@%s" % (pushed.host, pushed.repo, pushed.child("amd64").digest))
    assert not by_child.changed and by_child.image["name"] == pushed.ref
    assert len(registry.access_log()) == requests_before  # neither asked the registry
    other = svc.present(pushed.by_digest, platform="linux/arm64")
    assert other.changed and other.image["digest"] == pushed.child("arm64").digest
    assert other.image["name"] == pushed.by_digest
    names = sorted(e["annotations"]["org.opencontainers.image.ref.name"] for e in svc.store().images())
    assert names == sorted([pushed.ref, pushed.by_digest])
