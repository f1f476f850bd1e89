"""Bad input against real parts: each a clear error, and a store that checks clean after."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import types
import urllib.parse

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import python_path, service
from harness.faults import Fault, FaultProxy

from ansible_collections.undock.oci.plugins.module_utils.common.errors import (
    AuthenticationError, DigestMismatchError, InvalidReferenceError, ManifestError, NotFoundError, TLSError,
    TransientError)


def assert_store_consistent(tmp_path, reg=None):
    store_root = tmp_path / "store"
    if store_root.exists():
        svc = service(tmp_path, reg)
        assert svc.store().check() == []
        leftovers = [n for n in os.listdir(store_root / "blobs" / "sha256") if n.startswith(".")]
        assert leftovers == []


def test_malformed_reference(tmp_path, registry):
    with pytest.raises(InvalidReferenceError, match="invalid reference 'Bad/Name': repository name must be lowercase"):
        service(tmp_path, registry).present("Bad/Name")
    assert not (tmp_path / "store").exists()


def test_unknown_tag(tmp_path, registry, fixture_images):
    ref = fixture_images["oci"].ref.rsplit(":", 1)[0] + ":no-such-tag"
    with pytest.raises(NotFoundError, match="image .*:no-such-tag not found .*MANIFEST_UNKNOWN"):
        service(tmp_path, registry).present(ref)
    assert_store_consistent(tmp_path, registry)


def test_wrong_password_basic(tmp_path, basic_registry, image_cache):
    pushed = I.push_oci_image(basic_registry, repo="private/app", cache=image_cache)
    with pytest.raises(AuthenticationError) as err:
        service(tmp_path, basic_registry, password="wrong-secret").present(pushed.ref)
    assert "user %r was refused" % basic_registry.username in str(err.value)
    assert "wrong-secret" not in str(err.value)
    assert service(tmp_path, basic_registry).present(pushed.ref).changed
    assert_store_consistent(tmp_path, basic_registry)


def test_token_auth_and_wrong_password(tmp_path, token_registry, image_cache):
    pushed = I.push_oci_image(token_registry, repo="private/tok", cache=image_cache)
    with pytest.raises(AuthenticationError, match="refused user") as err:
        service(tmp_path, token_registry, password="nope-secret").present(pushed.ref)
    assert "nope-secret" not in str(err.value)
    issuer = token_registry.issuer
    issuer.reset()
    outcome = service(tmp_path, token_registry).present(pushed.ref)
    assert outcome.changed and outcome.image["digest"] == pushed.digest
    assert issuer.requests == 1  # one token for the repository, reused for manifest and blobs
    with pytest.raises(AuthenticationError):  # anonymous: only public/ is readable
        service(tmp_path / "anon", token_registry, username=None, password=None).present(pushed.ref)


def test_self_signed_without_ca_cert(tmp_path, registry_factory, image_cache):
    reg = registry_factory("tls", selfsigned=True)
    with pytest.raises(TLSError, match="certificate is not trusted: give ca_cert"):
        service(tmp_path, reg).present("%s/x/y:1" % reg.host)
    pushed = I.push_oci_image(reg, repo="x/y", cache=image_cache)
    assert service(tmp_path, reg, ca_cert=reg.server_cert).present(pushed.ref).changed
    assert service(tmp_path / "nv", reg, validate_certs=False).present(pushed.ref).changed


def test_corrupted_layer_in_registry_storage(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="corrupt/app", cache=image_cache)
    layer = pushed.layers[0]
    path = reg.blob_path("corrupt/app", layer)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(DigestMismatchError, match="digest .* does not match the expected %s" % layer):
        service(tmp_path, reg).present(pushed.ref)
    svc = service(tmp_path, reg)
    assert svc.store().lookup(pushed.ref) is None
    assert not svc.store().has_blob(layer)
    assert_store_consistent(tmp_path, reg)


def partial_sizes(directory) -> dict:
    """Sizes of the partial downloads now; one may be renamed away while we look."""
    sizes = {}
    for path in directory.glob("*.partial") if directory.exists() else ():
        try:
            sizes[path.name] = path.stat().st_size
        except FileNotFoundError:
            continue
    return sizes


PULL_SCRIPT = r"""
import sys, types
from harness.engine import service
reg = types.SimpleNamespace(host=sys.argv[2], tls=False, username=None, ca_cert=None)
outcome = service(sys.argv[1], reg).present(sys.argv[3])
print("CHANGED" if outcome.changed else "SAME", outcome.actions)
"""


def pull_process(tmp_path, reg, ref):
    env = dict(os.environ, PYTHONPATH=python_path())
    return subprocess.Popen([sys.executable, "-c", PULL_SCRIPT, str(tmp_path), reg.host, ref], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_pull_the_same_image(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_large_image(reg, repo="race/app", total_size=12 * 1024 * 1024, cache=image_cache)
    procs = [pull_process(tmp_path, reg, pushed.ref) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    gets = [e for e in reg.access_log() if e[0] == "GET" and "/blobs/" in e[1] and e[2] in (200, 206)]
    layer_gets = [e for e in gets if any(l.split(":")[1] in e[1] for l in pushed.layers)]
    assert len(layer_gets) == len(pushed.layers)  # each layer downloaded once in all
    assert_store_consistent(tmp_path, reg)


def test_kill_9_during_pull_then_recover(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_large_image(reg, repo="kill/app", total_size=60 * 1024 * 1024, layers=3, cache=image_cache)
    proc = pull_process(tmp_path, reg, pushed.ref)
    partial_dir = tmp_path / "store" / "tmp"
    deadline = time.time() + 60
    while time.time() < deadline:
        if any(size > 1024 * 1024 for size in partial_sizes(partial_dir).values()):
            break
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    svc = service(tmp_path, reg)
    assert svc.store().lookup(pushed.ref) is None
    assert svc.store().check() == []
    outcome = service(tmp_path, reg).present(pushed.ref)
    assert outcome.changed and outcome.image["digest"] == pushed.digest
    assert_store_consistent(tmp_path, reg)


def test_registry_killed_mid_blob_and_restarted(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_large_image(reg, repo="flaky/app", total_size=90 * 1024 * 1024, layers=3, cache=image_cache)
    svc = service(tmp_path, reg)
    result = {}

    def pull():
        try:
            s = service(tmp_path, reg)
            transport = s.registry.transport(s.local_name(pushed.ref), True)
            transport.retries = 0
            result["outcome"] = s.present(pushed.ref)
        except Exception as err:  # the first run must fail cleanly
            result["error"] = err

    thread = threading.Thread(target=pull)
    thread.start()
    partial_dir = tmp_path / "store" / "tmp"
    deadline = time.time() + 60
    while time.time() < deadline and thread.is_alive():
        if any(size > 2 * 1024 * 1024 for size in partial_sizes(partial_dir).values()):
            break
        time.sleep(0.005)
    reg.kill()
    thread.join(120)
    assert "error" in result, "the pull finished before the registry died; make the image larger"
    assert isinstance(result["error"], TransientError), repr(result["error"])
    store = svc.store()
    done_before = [l for l in pushed.layers if store.has_blob(l)]
    partials = partial_sizes(partial_dir)
    assert partials, "no partial download was kept for resume (complete: %s)" % done_before
    reg.restart()
    log_start = len(reg.access_log())
    outcome = service(tmp_path, reg).present(pushed.ref)
    assert outcome.changed and outcome.image["digest"] == pushed.digest
    later = reg.access_log()[log_start:]
    for layer in done_before:
        assert not [e for e in later if e[0] == "GET" and layer.split(":")[1] in e[1]], "re-downloaded " + layer
    assert any(e[2] == 206 for e in later), "the partial blob was not resumed with Range: %s %s" % (
        partials, later)
    assert_store_consistent(tmp_path, reg)


def _upload(reg, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    scope = "repository:%s:pull,push" % repo
    status, headers, body = reg.request("POST", "/v2/%s/blobs/uploads/" % repo, scope=scope)
    assert status == 202, body
    location = urllib.parse.urlsplit(headers["location"])
    status, _, body = reg.request("PUT", "%s?%s&digest=%s" % (location.path, location.query, digest), body=data,
                                  headers={"Content-Type": "application/octet-stream"}, scope=scope)
    assert status == 201, body
    return digest


def _put_manifest(reg, repo: str, tag: str, media_type: str, doc: dict) -> None:
    status, _, body = reg.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=json.dumps(doc).encode(),
                                  headers={"Content-Type": media_type}, scope="repository:%s:pull,push" % repo)
    assert status == 201, body


def test_documents_that_break_the_image_spec_are_refused(tmp_path, registry):
    """The registry stores them (it decodes, it does not validate); the engine names the bad field."""
    repo = "badschema/app"
    layer_tar = I.tar_layer([I.Entry("etc/", "dir", mode=0o755)])
    layer = _upload(registry, repo, layer_tar)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": "PATH=/bin"},
                         "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode()
    image = {"schemaVersion": 2, "mediaType": I.OCI_MANIFEST,
             "config": {"mediaType": I.OCI_CONFIG, "digest": _upload(registry, repo, config), "size": len(config)},
             "layers": [{"mediaType": I.OCI_LAYER_TAR, "digest": layer, "size": len(layer_tar)}]}
    _put_manifest(registry, repo, "bad-config", I.OCI_MANIFEST, image)
    _put_manifest(registry, repo, "bad-layer", I.OCI_MANIFEST,
                  dict(image, layers=[dict(image["layers"][0], mediaType="tar")]))
    child = json.dumps(image).encode()
    _put_manifest(registry, repo, "no-os", I.OCI_INDEX, {"schemaVersion": 2, "mediaType": I.OCI_INDEX, "manifests": [
        {"mediaType": I.OCI_MANIFEST, "digest": "sha256:" + hashlib.sha256(child).hexdigest(), "size": len(child),
         "platform": {"architecture": "amd64"}}]})
    origin = r" from %s/%s: " % (re.escape(registry.host), repo)
    cases = {"no-os": r"^index sha256:\w{64}%s\$.manifests\[0\].platform: required field 'os' is missing" % origin,
             "bad-layer": r"^manifest sha256:\w{64}%s\$.layers\[0\].mediaType: 'tar' is not a media type" % origin,
             "bad-config": r"^image config sha256:\w{64} from %s/%s:bad-config: \$.config.Env: 'PATH=/bin' is not of "
                           r"type array" % (re.escape(registry.host), repo)}
    for tag, message in cases.items():
        with pytest.raises(ManifestError, match=message):
            service(tmp_path, registry).present("%s/%s:%s" % (registry.host, repo, tag))
    assert_store_consistent(tmp_path, registry)


def _bad_image(registry, repo: str) -> dict:
    """A one-layer image in ``repo``, its manifest returned (not yet put): config and layer uploaded."""
    layer_tar = I.tar_layer([I.Entry("etc/", "dir", mode=0o755), I.Entry("etc/data", data=os.urandom(64 * 1024))])
    layer = _upload(registry, repo, layer_tar)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [layer]}}).encode()
    return {"schemaVersion": 2, "mediaType": I.OCI_MANIFEST,
            "config": {"mediaType": I.OCI_CONFIG, "digest": _upload(registry, repo, config), "size": len(config)},
            "layers": [{"mediaType": I.OCI_LAYER_TAR, "digest": layer, "size": len(layer_tar)}]}


def test_schema_checks_run_after_the_downloads_and_a_failed_one_names_nothing(tmp_path, registry, image_cache,
                                                                              monkeypatch):
    """The schemas are checked once the layers are in (while they are flushed), not before the
    first download; a document that fails names nothing, its blobs and layers are unreferenced
    content that prune removes, and the pull of a good image that follows works."""
    from ansible_collections.undock.oci.plugins.module_utils.image.prune import PruneFilters, prune
    from ansible_collections.undock.oci.plugins.module_utils.model import validation
    from ansible_collections.undock.oci.plugins.module_utils.registry.client import RegistryClient
    good = I.push_oci_image(registry, repo="checks/good", cache=image_cache)
    svc = service(tmp_path, registry)
    assert svc.present(good.ref).changed
    index = tmp_path / "store" / "index.json"
    before = index.read_bytes()

    repo = "checks/bad"
    image = _bad_image(registry, repo)
    layer_digest = image["layers"][0]["digest"]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": "PATH=/bin"},
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
    image["config"] = dict(image["config"], digest=_upload(registry, repo, config), size=len(config))
    _put_manifest(registry, repo, "bad-config", I.OCI_MANIFEST, image)
    events = []
    real_validate, real_open = validation.validate_document, RegistryClient.open_blob
    monkeypatch.setattr(validation, "validate_document",
                        lambda document, schema, what: (events.append(("check", what)), real_validate(document, schema, what)))
    monkeypatch.setattr(RegistryClient, "open_blob",
                        lambda self, digest, *args: (events.append(("blob", digest)), real_open(self, digest, *args))[1])
    with pytest.raises(ManifestError, match=r"^image config sha256:\w{64} from .*:bad-config: \$.config.Env: "
                                            r"'PATH=/bin' is not of type array"):
        service(tmp_path, registry).present("%s/%s:bad-config" % (registry.host, repo))
    assert ("blob", layer_digest) in events
    assert events.index(("blob", layer_digest)) < min(i for i, e in enumerate(events) if e[0] == "check")
    monkeypatch.undo()
    assert index.read_bytes() == before
    store = svc.store()
    assert store.has_blob(layer_digest)  # content-addressed and verified, as an interrupted pull leaves it
    assert store.lookup("%s/%s:bad-config" % (registry.host, repo)) is None
    pruned = prune(svc, PruneFilters())
    assert pruned.values["blob_count"] >= 2 and pruned.values["layer_count"] == 1, pruned.values
    assert not store.has_blob(layer_digest)
    assert svc.present(good.ref).changed is False

    fixed = _bad_image(registry, repo)
    _put_manifest(registry, repo, "fixed", I.OCI_MANIFEST, fixed)
    assert service(tmp_path, registry).present("%s/%s:fixed" % (registry.host, repo)).changed
    assert_store_consistent(tmp_path, registry)


def test_fields_used_before_the_schema_check_give_the_schema_error(tmp_path, registry):
    """A malformed size, layer list, digest or index entry that the pull reads before the schema
    check has run is reported by the schema check: no traceback, no unbounded download, nothing
    named. The registry refuses to store such documents, so the fault proxy serves them."""
    repo = "checks/fields"
    image = _bad_image(registry, repo)
    layer = image["layers"][0]
    child = "sha256:" + hashlib.sha256(json.dumps(image).encode()).hexdigest()
    cases = {
        "size-string": (dict(image, layers=[dict(layer, size=str(layer["size"]))]),
                        r"\$.layers\[0\].size: '\d+' is not of type integer"),
        "no-size": (dict(image, layers=[{k: v for k, v in layer.items() if k != "size"}]),
                    r"\$.layers\[0\]: required field 'size' is missing"),
        "negative-size": (dict(image, layers=[dict(layer, size=-1)]), r"\$.layers\[0\].size: -1 is out of range"),
        "layers-object": (dict(image, layers={"0": layer}), r"\$.layers: .* is not of type array"),
        "config-size-string": (dict(image, config=dict(image["config"], size="12")),
                               r"\$.config.size: '12' is not of type integer"),
        "config-digest-path": (dict(image, config=dict(image["config"], digest="sha256:../../../x")),
                               r"\$.config.digest: 'sha256:../../../x' is not a digest"),
        "entry-string": ({"schemaVersion": 2, "mediaType": I.OCI_INDEX, "manifests": [child]},
                         r"\$.manifests\[0\]: 'sha256:\w{64}' is not of type object"),
    }
    faults = []
    for tag, (doc, dummy) in cases.items():
        _put_manifest(registry, repo, tag, I.OCI_MANIFEST, image)  # what the proxy replaces
        faults.append(Fault("/manifests/" + tag, method="GET", body=json.dumps(doc).encode(), times=10,
                            headers={"Content-Type": doc["mediaType"], "Docker-Content-Digest": None}))
    with FaultProxy(registry.host, faults) as proxy:
        proxied = types.SimpleNamespace(host=proxy.host, tls=False, username=None, ca_cert=None)
        for tag, (dummy, message) in cases.items():
            with pytest.raises(ManifestError, match=r" from %s/%s: %s" % (re.escape(proxy.host), repo, message)):
                service(tmp_path, proxied).present("%s/%s:%s" % (proxy.host, repo, tag))
    assert service(tmp_path, registry).store().images() == []
    assert_store_consistent(tmp_path, registry)


def test_storage_root_never_takes_over_a_directory_through_ansible(tmp_path):
    """A file, a directory with other content and an empty name: each a clear module
    failure naming storage_root, nothing written, no traceback."""
    regular = tmp_path / "a-file"
    regular.write_text("data")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    run_root = str(tmp_path / "run")
    info = "undock.oci.oci_image_info"
    results = run_tasks([
        (info, {"storage_root": str(regular), "run_root": run_root}, {}),
        ("undock.oci.oci_image", {"name": "localhost:1/x:1", "storage_root": str(regular), "run_root": run_root}, {}),
        ("undock.oci.oci_image", {"name": "localhost:1/x:1", "storage_root": str(busy), "run_root": run_root}, {}),
        ("undock.oci.oci_prune", {"storage_root": "", "run_root": run_root}, {}),
    ])
    expected = ["storage_root %s is not a directory" % regular, "storage_root %s is not a directory" % regular,
                "storage_root %s is neither empty nor a store (it holds keep.txt)" % busy, "storage_root is empty"]
    for result, message in zip(results, expected):
        assert result.get("failed") and message in result["msg"], result
        assert "Traceback" not in json.dumps(result), result   # a clear failure, not a crash
        assert "module_stderr" not in result, result
    assert regular.read_text() == "data"
    assert sorted(os.listdir(busy)) == ["keep.txt"]
