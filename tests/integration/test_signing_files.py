# -*- coding: utf-8 -*-
"""The trust policy on loads from files and on re-checks, through the engine:

- ``oci:``, ``oci-archive:`` and ``docker-archive:`` sources are judged by the scopes of their
  transports (containers-policy.json(5): paths, symlinks resolved, longest match; docker-archive
  has only ""); insecureAcceptAnything and reject work; sigstoreSigned on such a source rejects,
  saying files carry no signatures here; a rejected load leaves nothing in the store;
- ``pull: always`` with an unchanged digest that the policy now rejects removes the image from
  the store (containers/image refuses to use it), keeps it only while a mount uses it, and in
  check mode only says it would.
"""

from __future__ import annotations

import base64
import os
import subprocess

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.common.errors import PolicyRejectedError
from ansible_collections.undock.oci.plugins.module_utils.image.mounting import ensure_mount
from ansible_collections.undock.oci.plugins.module_utils.signing import keys
from ansible_collections.undock.oci.plugins.module_utils.signing.policy import parse_policy

pytestmark = pytest.mark.integration

ACCEPT = [{"type": "insecureAcceptAnything"}]
REJECT = [{"type": "reject"}]
NAME = "example.com/loaded/app:1"


def _sigstore() -> list:
    public = keys.generate_key_pair("pw")[1]
    return [{"type": "sigstoreSigned", "keyData": base64.b64encode(public).decode()}]


def _files(tmp_path, image_cache) -> dict:
    """The same image as an oci layout, an oci-archive and a docker-archive, each in trusted/."""
    layout = image_cache.get("oci", I._simple("oci"))
    trusted = tmp_path / "files" / "trusted"
    trusted.mkdir(parents=True)
    maker = service(tmp_path / "maker")
    maker.present(NAME, source="oci:%s:%s" % (layout.layout, layout.tag))
    sources = {}
    for kind, path in (("oci", trusted / "layout"), ("oci-archive", trusted / "image.tar"),
                       ("docker-archive", trusted / "docker.tar")):
        target = "%s:%s:%s" % (kind, path, "loaded/app:1" if kind == "docker-archive" else "app")
        maker.export(NAME, target)
        sources[kind] = target
    return sources


def _stored(tmp_path, root="store") -> list:
    index = tmp_path / root / "index.json"
    if not index.exists():
        return []
    return [e["annotations"]["org.opencontainers.image.ref.name"] for e in service(tmp_path, storage_root=str(
        tmp_path / root)).store().images()]


def test_file_loads_are_judged_by_their_transport_scopes(tmp_path, image_cache):
    sources = _files(tmp_path, image_cache)
    files = str(tmp_path / "files")
    trusted = os.path.join(files, "trusted")
    policy = parse_policy({"default": REJECT, "transports": {
        "oci": {trusted: ACCEPT, files: REJECT},
        "oci-archive": {os.path.join(trusted, "image.tar"): ACCEPT},
        "docker-archive": {"": ACCEPT}}}, "files.json")
    for kind, source in sources.items():
        root = str(tmp_path / ("ok-" + kind))
        assert service(tmp_path, storage_root=root, policy=policy).present(NAME, source=source).changed, kind

    # the oci scope of a path is the directory with symlinks resolved, and its parents: a layout
    # beside trusted/ falls to the files/ scope, one elsewhere to the default
    os.symlink(os.path.join(trusted, "layout"), os.path.join(str(tmp_path), "link"))
    service(tmp_path, storage_root=str(tmp_path / "via-link"), policy=policy).present(
        NAME, source="oci:%s:app" % os.path.join(str(tmp_path), "link"))
    beside = os.path.join(files, "beside")
    subprocess.run(["cp", "-a", os.path.join(trusted, "layout"), beside], check=True)
    elsewhere = str(tmp_path / "elsewhere")
    subprocess.run(["cp", "-a", os.path.join(trusted, "layout"), elsewhere], check=True)
    cases = [("oci:%s:app" % beside, r'scope transports.oci\["%s"\], requirement 1 \(reject\)' % files),
             ("oci:%s:app" % elsewhere, r"scope default, requirement 1 \(reject\)"),
             ("oci-archive:%s" % os.path.join(files, "copy.tar"), "scope default")]
    subprocess.run(["cp", os.path.join(trusted, "image.tar"), os.path.join(files, "copy.tar")], check=True)
    for source, reason in cases:
        for check_mode in (True, False):
            with pytest.raises(PolicyRejectedError, match="rejected by the policy files.json, " + reason):
                service(tmp_path, storage_root=str(tmp_path / "refused"), policy=policy,
                        check_mode=check_mode).present(NAME, source=source)
    assert _stored(tmp_path, "refused") == []


@pytest.mark.parametrize("kind", ["oci", "oci-archive", "docker-archive"])
def test_sigstore_signed_on_a_file_rejects_saying_files_carry_no_signatures(tmp_path, image_cache, kind):
    source = _files(tmp_path, image_cache)[kind]
    scope = "" if kind == "docker-archive" else str(tmp_path / "files")
    policy = parse_policy({"default": ACCEPT, "transports": {kind: {scope: _sigstore()}}}, "sig.json")
    with pytest.raises(PolicyRejectedError, match=r'scope transports.%s\["%s"\], requirement 1 \(sigstoreSigned .*\): '
                       r"no signature: images loaded from %s: files carry no signatures" % (kind, scope, kind)):
        service(tmp_path, policy=policy).present(NAME, source=source)
    assert _stored(tmp_path) == []


def test_a_re_check_that_rejects_removes_the_image(tmp_path, image_cache):
    """pull: always (a file source always is) with the same digest, under a policy that now
    rejects it: the error says so and the image is gone, so no later pull: missing serves it."""
    source = _files(tmp_path, image_cache)["oci"]
    service(tmp_path).present(NAME, source=source)
    rejecting = parse_policy({"default": REJECT}, "now.json")
    with pytest.raises(PolicyRejectedError, match="would be removed from the store"):
        service(tmp_path, policy=rejecting, check_mode=True).present(NAME, source=source)
    assert _stored(tmp_path) == [NAME]
    with pytest.raises(PolicyRejectedError, match=r"rejected by the policy now.json, scope default, requirement 1 "
                       r"\(reject\).*; %s was removed from the store" % NAME):
        service(tmp_path, policy=rejecting).present(NAME, source=source)
    assert _stored(tmp_path) == []
    assert not os.listdir(str(tmp_path / "store" / "blobs" / "sha256"))


def test_a_re_check_on_the_registry_that_rejects_removes_the_image(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="plain/app", cache=image_cache)
    service(tmp_path, reg).present(pushed.ref)
    policy = parse_policy({"default": _sigstore()}, "signed.json")
    assert not service(tmp_path, reg, policy=policy).present(pushed.ref).changed  # pull: missing checks nothing
    with pytest.raises(PolicyRejectedError, match=r"\(sigstoreSigned .*\): no signature; .* was removed from the store"):
        service(tmp_path, reg, policy=policy).present(pushed.ref, pull="always")
    assert _stored(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_a_rejected_image_in_use_stays_and_the_error_says_why(tmp_path, image_cache):
    source = _files(tmp_path, image_cache)["oci"]
    svc = service(tmp_path)
    svc.present(NAME, source=source)
    point = str(tmp_path / "mnt")
    ensure_mount(svc, "mounted", point, NAME)
    try:
        with pytest.raises(PolicyRejectedError, match=r"\(reject\).*; it stays in the store .*: image %s is in use"
                           % NAME):
            service(tmp_path, policy=parse_policy({"default": REJECT}, "now.json")).present(NAME, source=source)
        assert _stored(tmp_path) == [NAME]
    finally:
        ensure_mount(service(tmp_path), "unmounted", point, NAME)
