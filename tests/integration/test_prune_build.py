# -*- coding: utf-8 -*-
"""oci_prune and the build engine's state, on real builds: cache entries whose layer no
stored image and no live working container holds go, and so do build records of removed
images and directories killed builds left; the rest stays and still serves the cache. Check
mode predicts exactly what a real run removes; a second run changes nothing."""

from __future__ import annotations

import json
import os

import pytest

from harness.ansible import run_tasks
from harness.engine import service
from test_dockerfile_build import build, svc, busybox, ctx  # noqa: F401

from ansible_collections.undock.oci.plugins.module_utils.build import session
from ansible_collections.undock.oci.plugins.module_utils.build.prune import prune
from ansible_collections.undock.oci.plugins.module_utils.image.prune import PruneFilters

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

KEEP = """FROM {base} AS tools
RUN echo intermediate > /tool
FROM {base}
COPY --from=tools /tool /tool
RUN echo kept > /kept
"""
GONE = """FROM {base}
LABEL prune=me
RUN echo gone > /gone
"""


def cache_layers(svc):
    """Layer digest (or None) of each build cache entry."""
    root = os.path.join(svc.storage_root, "build-cache")
    found = []
    for name in sorted(os.listdir(root)):
        with open(os.path.join(root, name)) as handle:
            layer = json.load(handle).get("layer")
        found.append(layer["desc"]["digest"] if layer else None)
    return found


def image_layers(svc, name):
    return {d["digest"] for d in svc.local_image(name).manifest.layers}


def test_prune_cleans_the_build_cache(svc, busybox, ctx, tmp_path, session_registry):  # noqa: F811
    build(svc, KEEP.format(base=busybox.ref), ctx, name="localhost/prune/keep:1")
    build(svc, GONE.format(base=busybox.ref), ctx, name="localhost/prune/gone:1")
    gone_layers = image_layers(svc, "localhost/prune/gone:1") - image_layers(svc, busybox.ref)
    session.start(svc, "live", "localhost/prune/live:1", [{"from": busybox.ref}, {"run": "echo live > /live"}],
                  python="", epoch=1700000000)
    try:
        # what killed builds leave: a build directory whose lock nobody holds, a run directory of a gone build
        os.makedirs(os.path.join(svc.storage_root, "builds", "0123456789abcdef", "upper-0"))
        os.makedirs(os.path.join(svc.run_root, "builds", "fedcba9876543210", "rootfs"))
        before = cache_layers(svc)
        records = sorted(os.listdir(os.path.join(svc.storage_root, "build-records")))
        assert len(records) == 2

        check = prune(service(tmp_path, session_registry, check_mode=True), PruneFilters(labels=["prune=me"]))
        assert check.changed and check.values["removed"] == ["localhost/prune/gone:1"]
        assert cache_layers(svc) == before and os.path.isdir(os.path.join(svc.storage_root, "builds", "0123456789abcdef"))
        real = prune(service(tmp_path, session_registry), PruneFilters(labels=["prune=me"]))
        for key in ("build_cache_count", "build_record_count", "build_dir_count", "freed_bytes", "removed"):
            assert real.values[key] == check.values[key], key
        assert real.before == check.before and real.after == check.after

        kept_layers = image_layers(svc, "localhost/prune/keep:1")
        with open(os.path.join(svc.storage_root, "builds", "w.live", "kept.json")) as handle:
            live = {d["digest"] for d in json.load(handle)["container"]["layers"]}
        after = cache_layers(svc)
        assert after and all(d in kept_layers | live for d in after), after
        removed = [d for d in before if d not in after]
        # the removed image's layer and the intermediate stage's
        assert any(d in gone_layers for d in removed)
        assert any(d is not None and d not in gone_layers for d in removed)  # the stage 'tools'
        assert real.values["build_cache_count"] == len(before) - len(after)
        assert real.values["build_record_count"] == 1 and real.values["build_dir_count"] == 2
        assert len(os.listdir(os.path.join(svc.storage_root, "build-records"))) == 1
        assert os.listdir(os.path.join(svc.storage_root, "builds")) == ["w.live"]
        assert sorted(os.listdir(os.path.join(svc.run_root, "builds"))) == ["w.live"]
        again = prune(service(tmp_path, session_registry), PruneFilters())
        assert not again.changed, again.actions
    finally:
        session.remove_container(svc, "live")

    # what stayed still serves: a forced rebuild of the kept image takes its layers from the cache
    rebuilt = build(svc, KEEP.format(base=busybox.ref), ctx, name="localhost/prune/keep:1", force=True)
    assert sum(1 for a in rebuilt.actions if a.startswith("cached:")) >= 2, rebuilt.actions


def test_the_module_reports_the_build_cache(svc, busybox, ctx):  # noqa: F811
    build(svc, KEEP.format(base=busybox.ref), ctx, name="localhost/prune/keep:1")
    common = {"storage_root": svc.storage_root, "run_root": svc.run_root}
    check, real, again = run_tasks([("undock.oci.oci_prune", common, {"check_mode": True, "diff": True}),
                                    ("undock.oci.oci_prune", common, {"diff": True}),
                                    ("undock.oci.oci_prune", common, {})])
    assert check["changed"] and check["build_cache_count"] >= 1, check
    assert real["changed"] and real["build_cache_count"] == check["build_cache_count"], real
    assert set(real["diff"]) == {"before", "after"} and "images" in real["diff"]["before"]
    assert not again["changed"] and again["build_cache_count"] == 0, again
