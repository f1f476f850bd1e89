from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import InvalidReferenceError
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference, short_name_path

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("text,expected", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("user/app", "docker.io/user/app:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("docker://busybox", "docker.io/library/busybox:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("127.0.0.1:5000/a/b/c:v1.0-rc_1", "127.0.0.1:5000/a/b/c:v1.0-rc_1"),
    ("quay.io/org/app@" + D, "quay.io/org/app@" + D),
    ("quay.io/org/app:1@" + D, "quay.io/org/app:1@" + D),
    ("Registry.Example.com/app", "Registry.Example.com/app:latest"),
    ("[::1]:5000/app", "[::1]:5000/app:latest"),
    ("a__b/c-d.e---f", "docker.io/a__b/c-d.e---f:latest"),
])
def test_normalisation(text, expected):
    assert str(parse_reference(text)) == expected


def test_parts_and_short_names():
    ref = parse_reference("busybox")
    assert (ref.registry, ref.repository, ref.tag, ref.digest, ref.short_name) == \
        ("docker.io", "library/busybox", "latest", None, True)
    assert short_name_path(ref) == "busybox"
    assert ref.familiar() == "busybox:latest"
    full = parse_reference("docker.io/library/busybox")
    assert not full.short_name
    assert parse_reference("quay.io/a/b@" + D).manifest_reference == D
    assert parse_reference("quay.io/a/b:x").manifest_reference == "x"
    assert parse_reference("quay.io/a/b", default_tag=None).tag is None


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ("Busybox", "lowercase"),
    ("busybox:", "invalid tag"),
    ("busybox:-x", "invalid tag"),
    ("busybox:" + "a" * 129, "invalid tag"),
    ("busybox@sha256:abc", "bad sha256"),
    ("busybox@md5:" + "a" * 32, "unsupported algorithm"),
    ("busybox@sha256:" + "A" * 64, "bad sha256"),
    ("a" * 64, "image ID"),
    ("quay.io/a//b", "invalid repository"),
    ("quay.io/a/b/", "invalid repository"),
    ("quay.io/-a", "invalid repository"),
    ("quay.io/a b", "white space"),
    (" busybox", "white space"),
    ("ex_ample.com:5000/a", "invalid registry"),
    ("host:port/a", "invalid registry"),
    ("oci:/tmp/x", "transport"),
    ("docker.io/" + "a/" * 130 + "b", "longer than"),
    ("quay.io/a/../b", "invalid repository"),
])
def test_invalid(text, why):
    with pytest.raises(InvalidReferenceError) as err:
        parse_reference(text)
    assert why in str(err.value)
    assert repr(text) in str(err.value) or text == ""
