"""oci_prune against a real store: filters, in-use images kept, blobs and layers
collected, check mode predicting exactly what a real run frees, and the module."""

from __future__ import annotations

import os

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import service

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
    assert check.values["removed"] == [fixture_images["zstd"].by_digest]
    assert names(svc) == before  # check mode removed nothing
    real = prune(service(tmp_path, registry), PruneFilters(dangling=True))
    assert real.changed and real.values["removed"] == check.values["removed"]
    assert real.values["freed_bytes"] == check.values["freed_bytes"] > 0
    assert real.values["layer_count"] == check.values["layer_count"] >= 1
    assert not svc.store().has_blob(fixture_images["zstd"].layers[0])

    by_label = prune(service(tmp_path, registry), PruneFilters(all_images=True, labels=["team=payments"]))
    assert by_label.values["removed"] == [labelled.ref]
    assert prune(service(tmp_path, registry), PruneFilters(all_images=True, labels=["team=none"])) \
        .values["removed"] == []
    # the fixtures were created in 2023
    assert prune(service(tmp_path, registry, check_mode=True), PruneFilters(older_than="2023-01-01"),
                 ).values["removed"] == []
    assert len(prune(service(tmp_path, registry, check_mode=True), PruneFilters(older_than="1d"),
                     ).values["removed"]) == 3
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
        assert outcome.values["kept"] == [used]
        assert used not in outcome.values["removed"] and len(outcome.values["removed"]) == 4
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
    args = {"storage_root": str(tmp_path / "store"), "dangling": True, "run_root": str(tmp_path / "run")}
    stored = sorted(e["annotations"]["org.opencontainers.image.ref.name"]
                    for e in service(tmp_path, registry).store().images())
    dangling = fixture_images["zstd"].by_digest
    check, first, second = run_tasks([
        ("undock.oci.oci_prune", args, {"check_mode": True, "diff": True}),
        ("undock.oci.oci_prune", args, {"diff": True}),
        ("undock.oci.oci_prune", args, {}),
    ])
    assert check["changed"] and check["removed"] == [dangling], check
    kept = [n for n in stored if n != dangling]
    # before is read before anything is removed, and after has the same keys
    assert check["diff"] == {"before": {"images": stored}, "after": {"images": kept}}
    assert first["diff"] == check["diff"], first
    assert first["changed"] and first["freed_bytes"] == check["freed_bytes"]
    assert first["blob_count"] >= 1 and first["layer_count"] >= 1 and "blobs" not in first
    assert not second["changed"] and second["removed"] == []


def test_module_takes_no_registry_options(tmp_path):
    """oci_prune sends nothing to a registry, so it has no credentials to take."""
    result = run_tasks([("undock.oci.oci_prune", {"storage_root": str(tmp_path / "store"), "username": "u",
                                                  "password": "Secr3t-pw"}, {})])[0]
    assert result.get("failed") and "Unsupported parameters" in result["msg"] and "password" in result["msg"]


def test_malformed_filters_fail_before_anything_is_removed(tmp_path, registry, fixture_images):
    svc, dummy = populate(tmp_path, registry, fixture_images)
    before = names(svc)
    common = {"storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run"), "all": True}
    bad_label, empty_key, bad_date, bad_duration = run_tasks([
        ("undock.oci.oci_prune", dict(common, labels=["team=payments", "has space"]), {}),
        ("undock.oci.oci_prune", dict(common, labels=["=payments"]), {}),
        ("undock.oci.oci_prune", dict(common, older_than="2024-13-45"), {}),
        ("undock.oci.oci_prune", dict(common, older_than="7 days"), {}),
    ])
    assert bad_label.get("failed") and "'has space' is not KEY or KEY=VALUE" in bad_label["msg"], bad_label
    assert empty_key.get("failed") and "'=payments'" in empty_key["msg"], empty_key
    assert bad_date.get("failed") and "older_than '2024-13-45'" in bad_date["msg"], bad_date
    assert bad_duration.get("failed") and "older_than '7 days'" in bad_duration["msg"], bad_duration
    assert names(svc) == before
