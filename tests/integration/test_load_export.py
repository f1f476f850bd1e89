"""oci_image's source and export_to: the file transports through the engine, with
idempotency and check mode."""

from __future__ import annotations

import os

import pytest

from harness.engine import service


@pytest.mark.parametrize("kind", ["oci", "oci-archive", "docker-archive"])
def test_export_then_load_round_trip(tmp_path, registry, fixture_images, kind):
    pushed = fixture_images["oci"]
    svc = service(tmp_path, registry)
    svc.present(pushed.ref)
    path = str(tmp_path / ("out.tar" if kind != "oci" else "layout"))
    target = "%s:%s:%s" % (kind, path, "exported:1.0" if kind == "docker-archive" else "exported")
    check = service(tmp_path, registry, check_mode=True).export(pushed.ref, target)
    assert check.changed and not os.path.exists(path)
    first = svc.export(pushed.ref, target)
    assert first.changed and os.path.exists(path)
    assert not service(tmp_path, registry).export(pushed.ref, target).changed

    loaded_name = "%s/loaded/from-%s:1" % (registry.host, kind)
    load = service(tmp_path, registry).present(loaded_name, source=target)
    assert load.changed
    if kind == "docker-archive":  # the format has no registry manifest: the same config is the same image
        assert load.image["id"] == first.after["export_id"] == pushed.config
    else:
        assert load.image["digest"] == pushed.digest
    again = service(tmp_path, registry).present(loaded_name, source=target)
    assert not again.changed
    assert service(tmp_path, registry).store().check() == []
