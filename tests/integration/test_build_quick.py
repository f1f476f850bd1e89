# -*- coding: utf-8 -*-
"""The no-op of a Dockerfile build answered before the engine is imported (build/quick.py):
after a real build it gives exactly what the engine gives, it imports none of the engine, and
it steps aside (None) whenever an input changed or the engine could do something else."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.build.executor.module import build_from_params
from ansible_collections.undock.oci.plugins.module_utils.build.quick import unchanged

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

NAME = "localhost/quick/app:1"
DOCKERFILE = """\
ARG BASE
FROM {base} AS tools
RUN echo tool > /tool
FROM ${{BASE}}
ARG FLAVOUR=plain
COPY --from=tools /tool /opt/tool
COPY app.txt site/ /srv/
COPY --from={other} /bin/busybox /opt/other-busybox
RUN echo $FLAVOUR > /flavour
"""


@pytest.fixture(scope="module")
def images(session_registry):
    return (I.push_layers(session_registry, "quick/busybox", "1", [I.tar_layer(I.busybox_entries())]),
            I.push_layers(session_registry, "quick/other", "2", [I.tar_layer(I.busybox_entries())]))


@pytest.fixture
def built(tmp_path, session_registry, images):
    """A store with NAME built from a Dockerfile of two stages and three external images' uses."""
    ctx = tmp_path / "ctx"
    (ctx / "site").mkdir(parents=True)
    (ctx / "app.txt").write_text("app v1\n")
    (ctx / "site" / "index.html").write_text("<h1>hi</h1>\n")
    (ctx / "site" / "secret.key").write_text("ignored\n")
    (ctx / ".dockerignore").write_text("site/*.key\n")
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(base=images[0].ref, other=images[1].ref))
    svc = service(tmp_path, session_registry)
    params = {"name": NAME, "state": "present", "containerfile": str(ctx / "Dockerfile"), "containerfile_text": None,
              "context": None, "build_args": {"BASE": images[0].ref, "FLAVOUR": "spicy"}, "target": None,
              "secrets": None, "layers": True, "squash": False, "source_date_epoch": 1700000000, "format": "oci",
              "compression": "gzip", "labels": {"app": "quick"}, "annotations": None, "platform": None,
              "force": False, "no_cache": False, "push": False, "runtime": "runc", "steps": None,
              "storage_root": svc.storage_root}
    assert full(svc, params).changed
    return svc, params, ctx


def full(svc, params):
    return build_from_params(svc, params["name"], params["containerfile"], params["containerfile_text"],
                             params["context"], target=params["target"], secrets=params["secrets"],
                             layers=params["layers"], squash=params["squash"], epoch=params["source_date_epoch"],
                             image_format=params["format"], compression=params["compression"],
                             labels=params["labels"], annotations=params["annotations"], platform=params["platform"],
                             runtime=params["runtime"], force=params["force"], no_cache=params["no_cache"],
                             build_args=params["build_args"])


def same(svc, params):
    fast = unchanged(params)
    engine = full(svc, params)
    assert fast is not None and not engine.changed
    assert fast.result() == engine.result() and fast.warnings == engine.warnings == []
    assert fast.resolved.manifest.digest == engine.resolved.manifest.digest
    return fast


def test_same_answer_as_the_engine(built):
    svc, params, ctx = built
    fast = same(svc, params)
    assert sorted(fast.after["inputs"]["images"]) == sorted(fast.before["inputs"]["images"])
    assert len(fast.after["inputs"]["images"]) == 2
    os.utime(str(ctx / "app.txt"), (1, 1))  # an mtime is no input
    (ctx / "site" / "secret.key").write_text("changed, and ignored\n")
    same(svc, params)


def test_same_answer_for_text_docker_format_and_check_mode(built, tmp_path, session_registry):
    svc, params, ctx = built
    text = dict(params, containerfile=None, containerfile_text=(ctx / "Dockerfile").read_text(), context=str(ctx),
                format="docker")
    assert full(svc, text).changed  # a build of its own: the record alone holds its fingerprint
    same(svc, text)
    checking = service(tmp_path, session_registry, check_mode=True)
    assert unchanged(text).result() == full(checking, text).result()


@pytest.mark.parametrize("change", [
    {"build_args": {"FLAVOUR": "mild"}},
    {"labels": {"app": "other"}},
    {"target": "tools"},
    {"squash": True},
    {"source_date_epoch": 1700000001},
    {"force": True},                      # the engine rebuilds
    {"push": True},                       # the engine pushes
    {"platform": "linux/amd64"},          # the engine pulls for a platform
    {"name": "quick/app:1"},              # a short name depends on registries.conf
    {"state": "absent"},
    {"steps": [{"from": "scratch"}]},
])
def test_a_changed_input_or_another_task_is_the_engines(built, change):
    svc, params, ctx = built
    assert unchanged(dict(params, **change)) is None


def test_changed_files_and_missing_parts_are_the_engines(built):
    svc, params, ctx = built
    (ctx / "site" / "new.html").write_text("new\n")
    assert unchanged(params) is None and full(svc, params).values["changed_inputs"] == ["context:site/new.html"]
    same(svc, params)
    dockerfile = ctx / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "ENV X=1\n")
    assert unchanged(params) is None and full(svc, params).values["changed_inputs"] == ["dockerfile", "context:Dockerfile"]
    same(svc, params)
    base = params["build_args"]["BASE"]
    svc.absent(base)  # the engine pulls it again (same digest): the quick answer does not pull
    assert unchanged(params) is None
    pulled = full(svc, params)
    assert not pulled.changed and any("pull" in action for action in pulled.actions)
    same(svc, params)
    os.remove(os.path.join(svc.storage_root, "build-records", os.listdir(os.path.join(svc.storage_root, "build-records"))[0]))
    assert unchanged(params) is None
    with_platform = dict(params, containerfile=None, context=str(ctx),
                         containerfile_text=dockerfile.read_text().replace("FROM ${BASE}", "FROM --platform=linux/amd64 ${BASE}"))
    assert full(svc, with_platform).changed and unchanged(with_platform) is None


def test_the_engine_is_not_imported(built):
    svc, params, ctx = built
    code = ("import sys, json; from ansible_collections.undock.oci.plugins.module_utils.build.quick import unchanged; "
            "outcome = unchanged(json.loads(sys.argv[1])); assert outcome is not None and not outcome.changed; "
            "heavy = [m for m in sys.modules if m.rsplit('.', 1)[-1] in ('api', 'builder', 'ops', 'store', 'client')]; "
            "assert not heavy, heavy")
    import json
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(params)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def kept(built, monkeypatch):
    """``built`` rebuilt (forced) so that its record keeps the digests of the files just written
    (RACY_NS 0: they count as old enough), and the paths the quick answer reads from then on."""
    from ansible_collections.undock.oci.plugins.module_utils.build.context import stat_cache
    from ansible_collections.undock.oci.plugins.module_utils.build.context.snapshot import Snapshot
    svc, params, ctx = built
    monkeypatch.setattr(stat_cache, "RACY_NS", 0)
    time.sleep(0.05)  # a clock tick after the files were written
    assert full(svc, dict(params, force=True)).actions
    reads = []
    original = Snapshot.file_sha256

    def counting(self, entry):
        if self.known(entry.path) is None:
            reads.append(entry.path)
        return original(self, entry)
    monkeypatch.setattr(Snapshot, "file_sha256", counting)
    return svc, params, ctx, reads


def test_unchanged_files_are_not_read_again(kept):
    svc, params, ctx, reads = kept
    fast = unchanged(params)
    assert fast is not None and not fast.changed and reads == []
    assert fast.result() == full(svc, params).result()
    os.utime(str(ctx / "app.txt"), (1, 1))  # touched: read again, the same content
    del reads[:]
    assert unchanged(params).result() == fast.result() and reads == ["app.txt"]


@pytest.mark.parametrize("change, changed_inputs", [
    ("same size and mtime", ["context:app.txt"]),
    ("added", ["context:site/new.html"]),
    ("removed", ["context:site/index.html"]),
    ("dockerignore", ["context:.dockerignore", "context:site/secret.key"]),
])
def test_kept_digests_never_hide_a_change(kept, change, changed_inputs):
    svc, params, ctx, reads = kept
    time.sleep(0.05)  # a clock tick after the build
    if change == "same size and mtime":
        st = os.stat(str(ctx / "app.txt"))
        (ctx / "app.txt").write_text("app v2\n")
        os.utime(str(ctx / "app.txt"), ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(str(ctx / "app.txt")).st_size == st.st_size
    elif change == "added":
        (ctx / "site" / "new.html").write_text("new\n")
    elif change == "removed":
        os.remove(str(ctx / "site" / "index.html"))
    else:
        (ctx / ".dockerignore").write_text("site/*.pem\n")
    assert unchanged(params) is None
    built_again = full(svc, params)
    assert built_again.changed and built_again.values["changed_inputs"] == changed_inputs
    same(svc, params)
