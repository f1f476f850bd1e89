"""oci_prune against a real store: filters, in-use images kept, blobs and layers
collected, check mode predicting exactly what a real run frees, and the module."""

from __future__ import annotations

import os

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf, service

from ansible_collections.undock.oci.plugins.module_utils.image.prune import PruneFilters, prune
from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore
from ansible_collections.undock.oci.plugins.module_utils.storage.mounts import MountManager


def populate(tmp_path, registry, fixture_images):
    svc = service(tmp_path, registry)
    for kind in ("oci", "docker", "whiteout"):
        svc.present(fixture_images[kind].ref)
    svc.present(fixture_images["zstd"].by_digest)
    labelled = I.push_layers(registry, "prune/labelled", "v1", [I.tar_layer(I.marker_entries("labelled", "amd64"))],
                             config_extra={"Labels": {"team": "payments", "tier": "gold"}})
    svc.present(labelled.ref)
    return svc, labelled


def names(svc):
    return sorted(e["annotations"]["org.opencontainers.image.ref.name"] for e in svc.store().images())


def test_filters_check_mode_and_collection(tmp_path, registry, fixture_images):
    svc, labelled = populate(tmp_path, registry, fixture_images)
    before = names(svc)

    check = prune(service(tmp_path, registry, check_mode=True), PruneFilters(dangling=True))
    assert check.after["removed"] == [fixture_images["zstd"].by_digest]
    assert names(svc) == before  # check mode removed nothing
    real = prune(service(tmp_path, registry), PruneFilters(dangling=True))
    assert real.changed and real.after["removed"] == check.after["removed"]
    assert real.after["freed_bytes"] == check.after["freed_bytes"] > 0
    assert real.after["layers"] == check.after["layers"] >= 1
    assert not svc.store().has_blob(fixture_images["zstd"].layers[0])

    by_label = prune(service(tmp_path, registry), PruneFilters(all_images=True, labels=["team=payments"]))
    assert by_label.after["removed"] == [labelled.ref]
    assert prune(service(tmp_path, registry), PruneFilters(all_images=True, labels=["team=none"])) \
        .after["removed"] == []
    # the fixtures were created in 2023
    assert prune(service(tmp_path, registry, check_mode=True), PruneFilters(older_than="2023-01-01"),
                 ).after["removed"] == []
    assert len(prune(service(tmp_path, registry, check_mode=True), PruneFilters(older_than="1d"),
                     ).after["removed"]) == 3
    assert svc.store().check() == []
    again = prune(service(tmp_path, registry), PruneFilters(dangling=True))
    assert not again.changed


def test_images_in_use_are_kept(tmp_path, registry, fixture_images):
    svc, dummy = populate(tmp_path, registry, fixture_images)
    run_root = str(tmp_path / "run")
    mounts = MountManager(svc.store())
    target = str(tmp_path / "mnt")
    used = fixture_images["oci"].ref
    mounts.mount_image(used, target, owner="test")
    try:
        outcome = prune(service(tmp_path, registry), PruneFilters(all_images=True))
        assert outcome.after["kept"] == [used]
        assert used not in outcome.after["removed"] and len(outcome.after["removed"]) == 4
        assert any("in use by test at" in w for w in outcome.warnings)
        assert names(svc) == [used]
        assert os.path.exists(os.path.join(target, "bin", "busybox"))  # its layers survived
        assert svc.store().check() == []
        layers = LayerStore(svc.store())
        assert sorted(layers.present()) == sorted(svc.local_image(used).config["rootfs"]["diff_ids"])
    finally:
        mounts.unmount(target)


def test_module(tmp_path, registry, fixture_images):
    populate(tmp_path, registry, fixture_images)
    args = {"storage_root": str(tmp_path / "store"), "dangling": True,
            "registries_conf": registries_conf(str(tmp_path / "conf"), registry.host)}
    check, first, second = run_tasks([
        ("undock.oci.oci_prune", args, {"check_mode": True, "diff": True}),
        ("undock.oci.oci_prune", args, {"diff": True}),
        ("undock.oci.oci_prune", args, {}),
    ])
    assert check["changed"] and check["removed"] == [fixture_images["zstd"].by_digest], check
    assert check["diff"]["after"] == {"removed": check["removed"]}
    assert first["changed"] and first["freed_bytes"] == check["freed_bytes"]
    assert not second["changed"] and second["removed"] == []
