# -*- coding: utf-8 -*-
"""The no-op of oci_image answered from the store's files (image/quick.py): for every kind
of stored image and every name it serves, it gives field by field what the full engine
(ImageService.present) gives; it steps aside (None) whenever the full engine could do
something, resolve the name otherwise or report an error; and it imports nothing of the
registry client, the store's writers or jsonschema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from harness.engine import python_path, service

from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
from ansible_collections.undock.oci.plugins.module_utils.image.quick import unchanged
from ansible_collections.undock.oci.plugins.module_utils.model.platform import host_platform
from ansible_collections.undock.oci.plugins.module_utils.storage.peek import layer_dir

KINDS = ["oci", "docker", "index", "list", "zstd", "whiteout"]


def params(svc, name, **extra):
    """The module's parameters, with its defaults."""
    values = dict(name=name, state="present", pull="missing", platform=None, source=None, source_username=None,
                  source_password=None, push=False, export_to=None, force=False, sign_by=None, sign_passphrase=None,
                  policy=None, storage_root=svc.storage_root, run_root=svc.run_root)
    values.update(extra)
    return values


def fields(outcome):
    """Everything an Outcome says, the module's result and the engine-only parts alike."""
    return dict(outcome.result(), warnings=outcome.warnings, values=outcome.values,
                resolved=(outcome.resolved.manifest.raw, outcome.resolved.config_raw, outcome.resolved.top_digest,
                          outcome.resolved.platform) if outcome.resolved else None)


def assert_same(svc, name, check_mode=False, **extra):
    fast = unchanged(params(svc, name, **extra))
    engine = ImageService(svc.storage_root, svc.registry, check_mode=True, run_root=svc.run_root) if check_mode else svc
    full = engine.present(name, pull=extra.get("pull", "missing"))
    assert fast is not None, "the quick path stepped aside for %s %s" % (name, extra)
    assert full.changed is False
    got, want = fields(fast), fields(full)
    for key in want:  # one key at a time, so a difference names its field
        assert got[key] == want[key], key
    assert got == want
    return fast


@pytest.fixture
def pulled(tmp_path, registry, fixture_images):
    svc = service(tmp_path, registry)
    for kind in KINDS:
        assert svc.present(fixture_images[kind].ref).changed
    return svc


@pytest.mark.parametrize("kind", KINDS)
def test_same_answer_as_the_engine_by_tag(pulled, fixture_images, kind):
    name = fixture_images[kind].ref
    for pull in ("missing", "never"):
        assert_same(pulled, name, pull=pull)
    assert_same(pulled, name, check_mode=True)


@pytest.mark.parametrize("kind", KINDS)
def test_same_answer_as_the_engine_by_digest(pulled, fixture_images, kind):
    """A digest of the manifest, or of the index the tag named (the host's platform): the
    stored image of the same repository, whatever the pull policy but always."""
    image = fixture_images[kind]
    digests = [image.digest]
    if image.children:  # the index's own digest, and the digest of the child this host pulled
        arch = host_platform().architecture
        digests.append(next(c.digest for c in image.children if c.platform.get("architecture") == arch))
    for digest in digests:
        name = "%s/%s@%s" % (image.host, image.repo, digest)
        for pull in ("missing", "never", "newer"):
            fast = assert_same(pulled, name, pull=pull)
            assert fast.image["name"] == image.ref  # the name it is stored under


def test_a_name_stored_by_digest_is_found_by_that_name(tmp_path, registry, fixture_images):
    svc = service(tmp_path, registry)
    name = fixture_images["oci"].by_digest
    assert svc.present(name).changed
    assert assert_same(svc, name).image["name"] == name


@pytest.mark.parametrize("change", [
    {"pull": "always"},                     # verifies every blob, and may fetch
    {"pull": "newer"},                      # asks the registry for the tag's digest
    {"state": "absent"},
    {"source": "oci:/nowhere:x"},
    {"push": True},
    {"export_to": "oci:/nowhere:x"},
    {"sign_by": "/nowhere.key"},
    {"platform": "linux/amd64"},
    {"force": True},
    {"storage_root": ""},
])
def test_steps_aside_when_the_engine_could_act(pulled, fixture_images, change):
    assert unchanged(params(pulled, fixture_images["oci"].ref, **change)) is None


def test_steps_aside_for_names_it_cannot_resolve_alone(pulled, fixture_images):
    image = fixture_images["oci"]
    for name in ("fixtures/oci:latest",                      # a short name: registries.conf decides
                 "%s/%s:other" % (image.host, image.repo),    # not in the store: a pull
                 "%s/%s@sha256:%s" % (image.host, image.repo, "0" * 64),
                 "%s/other@%s" % (image.host, image.digest),  # the digest, in another repository
                 "%s/%s:la test" % (image.host, image.repo)):  # malformed: the engine says why
        assert unchanged(params(pulled, name)) is None, name


def test_a_tag_and_digest_is_the_stored_image_of_that_digest(pulled, fixture_images):
    image = fixture_images["oci"]
    fast = assert_same(pulled, "%s/%s:other@%s" % (image.host, image.repo, image.digest))
    assert fast.image["name"] == image.ref


def test_steps_aside_when_the_store_is_not_as_expected(tmp_path, registry, fixture_images):
    image = fixture_images["docker"]
    svc = service(tmp_path, registry)
    assert unchanged(params(svc, image.ref)) is None  # no store yet
    svc.present(image.ref)
    assert unchanged(params(svc, image.ref)) is not None
    root = svc.storage_root

    # a layer no longer unpacked: the engine unpacks it again (changed)
    config = json.loads(svc.store().read_blob(image.config))
    diff_id = config["rootfs"]["diff_ids"][0]
    shutil.rmtree(layer_dir(root, diff_id))
    assert unchanged(params(svc, image.ref)) is None
    assert svc.present(image.ref).changed
    assert assert_same(svc, image.ref).changed is False

    # a manifest that does not verify: the engine reports it
    blob = os.path.join(root, "blobs", "sha256", image.digest.split(":", 1)[1])
    with open(blob, "rb") as handle:
        saved = handle.read()
    with open(blob, "wb") as handle:
        handle.write(saved.replace(b"schemaVersion", b"schemaversion"))
    assert unchanged(params(svc, image.ref)) is None
    with open(blob, "wb") as handle:
        handle.write(saved)

    # an index.json that cannot be read, a store half made
    index = os.path.join(root, "index.json")
    os.rename(index, index + ".saved")
    with open(index, "w") as handle:
        handle.write("{not json")
    assert unchanged(params(svc, image.ref)) is None
    os.replace(index + ".saved", index)
    assert unchanged(params(svc, image.ref)) is not None
    os.rename(os.path.join(root, "locks"), os.path.join(root, "locks.saved"))
    assert unchanged(params(svc, image.ref)) is None
    os.rename(os.path.join(root, "locks.saved"), os.path.join(root, "locks"))


def test_imports_none_of_the_engine(pulled, fixture_images):
    """What makes it quick: the module's no-op loads neither the registry client, the
    store's writers, the layer code nor jsonschema."""
    code = ("import json, sys\n"
            "from ansible_collections.undock.oci.plugins.module_utils.image.quick import unchanged\n"
            "outcome = unchanged(json.loads(sys.argv[1]))\n"
            "assert outcome is not None and outcome.changed is False\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    args = json.dumps(params(pulled, fixture_images["index"].ref))
    proc = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=python_path()), check=True)
    loaded = set(json.loads(proc.stdout))
    prefix = "ansible_collections.undock.oci.plugins.module_utils."
    heavy = {prefix + name for name in ("image.ops", "image.copy", "image.local", "storage.store", "storage.layout",
                                        "storage.layers", "registry.client", "registry.context", "model.validation",
                                        "model.schemas", "signing.policy")} | {"jsonschema", "requests"}
    assert not loaded & heavy
