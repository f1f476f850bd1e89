"""Peers read what we wrote: skopeo and umoci read our store; skopeo and podman pull what
we pushed with the identical manifest digest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from harness.engine import service

SKOPEO_ENV = dict(os.environ)


def run(command, **kwargs):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (command, proc.stdout, proc.stderr)
    return proc.stdout


@pytest.mark.parametrize("kind", ["oci", "docker", "index", "list", "zstd", "whiteout"])
def test_skopeo_and_umoci_read_our_store(tmp_path, registry, fixture_images, kind):
    pushed = fixture_images[kind]
    svc = service(tmp_path, registry)
    image = svc.present(pushed.ref).image
    store = str(tmp_path / "store")
    raw = run(["skopeo", "inspect", "--raw", "oci:%s:%s" % (store, pushed.ref)])
    indexed = svc.store().lookup(pushed.ref)["digest"]
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == indexed
    if indexed != image["digest"]:  # a Docker manifest: skopeo reads its OCI view over the same blobs
        assert json.loads(raw)["layers"][0]["digest"] == image["layers"][0]
        assert svc.store().has_blob(image["digest"])
    config = json.loads(run(["skopeo", "inspect", "--config", "oci:%s:%s" % (store, pushed.ref)]))
    assert config["architecture"] == "amd64"
    listing = run(["umoci", "ls", "--layout", store])
    assert pushed.ref in listing.split()
    if kind != "zstd":  # umoci 0.4.7 cannot unpack zstd layers
        if image["media_type"].startswith("application/vnd.oci"):
            bundle = str(tmp_path / "bundle")
            run(["umoci", "unpack", "--image", "%s:%s" % (store, pushed.ref), bundle])
            assert os.path.exists(os.path.join(bundle, "rootfs", "bin", "busybox"))
    out = str(tmp_path / "copy")
    run(["skopeo", "copy", "oci:%s:%s" % (store, pushed.ref), "oci:%s:x" % out])


def test_pushed_image_pulled_by_skopeo_and_podman_with_same_digest(tmp_path, registry_factory, registry,
                                                                   fixture_images):
    target_registry = registry_factory()
    pushed = fixture_images["oci"]
    svc = service(tmp_path, registry)
    svc.present(pushed.ref)
    target = "%s/peers/app:1" % target_registry.host
    svc_target = service(tmp_path, target_registry, also=[registry])
    svc_target.present(target, source=pushed.ref)
    outcome = svc_target.push(target)
    assert outcome.changed
    digest = outcome.after["remote_digest"]

    raw = run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + target])
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
    run(["skopeo", "copy", "--src-tls-verify=false", "docker://" + target, "oci:%s:x" % (tmp_path / "sk")])
    index = json.load(open(tmp_path / "sk" / "index.json"))
    assert index["manifests"][0]["digest"] == digest

    conf = tmp_path / "podman" / "registries.conf"
    conf.parent.mkdir()
    conf.write_text('[[registry]]\nlocation = "%s"\ninsecure = true\n' % target_registry.host)
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=str(conf))
    runroot = tempfile.mkdtemp(prefix="udk-")  # podman refuses a runroot path over 50 characters
    podman = ["podman", "--root", str(tmp_path / "podman" / "root"), "--runroot", runroot,
              "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    run(podman + ["pull", "-q", target], env=env)
    podman_digest = run(podman + ["image", "inspect", "--format", "{{.Digest}}", target], env=env).strip()
    assert podman_digest == digest
    run(podman + ["rmi", "-a", "-f"], env=env)
    shutil.rmtree(runroot, ignore_errors=True)
