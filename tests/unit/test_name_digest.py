# -*- coding: utf-8 -*-
"""The names a start makes (model.digest.name_digest, storage.layer_dirs.short_link) without
hashlib or base64: they name things on disk and in the kernel, so they must be byte for byte
what hashlib and base64 give, and the cheap path must really be the one taken."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import subprocess
import sys

import pytest

from ansible_collections.undock.oci.plugins.module_utils.model import digest as D
from ansible_collections.undock.oci.plugins.module_utils.storage.layer_dirs import base32_prefix, short_link

pytestmark = pytest.mark.unit

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".venv", "collections"))


@pytest.mark.parametrize("data", [b"", b"a", b"/var/lib/undock", "/srv/\udcff".encode("utf-8", "surrogateescape"),
                                  b"x" * 55, b"x" * 56, b"x" * 64, b"x" * 65, bytes(range(256)) * 100])
def test_name_digest_is_hashlib_sha256(data):
    assert D.name_digest(data) == hashlib.sha256(data).hexdigest()


def test_name_digest_is_hashlib_sha256_on_random_lengths():
    rng = random.Random(7)
    for length in range(0, 300):
        data = bytes(rng.getrandbits(8) for _ in range(length))
        assert D.name_digest(data) == hashlib.sha256(data).hexdigest()


def test_this_python_names_without_openssl():
    """The built-in sha256 is found here (_sha256, or _sha2 from 3.12), and a process that only
    makes names never loads hashlib: the start-up saving cannot vanish silently."""
    assert D._builtin_sha256() is not None  # pylint: disable=protected-access
    code = ("import sys\n"
            "from ansible_collections.undock.oci.plugins.module_utils.model.digest import name_digest\n"
            "name_digest(b'/var/lib/undock')\n"
            "print(sorted(m for m in ('hashlib', '_hashlib') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=COLLECTIONS), check=True,
                         stdout=subprocess.PIPE, text=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_content_digests_still_match():
    assert D.sha256_digest(b"layer") == "sha256:" + hashlib.sha256(b"layer").hexdigest()
    digester = D.Digester("sha512:" + hashlib.sha512(b"blob").hexdigest())
    digester.update(b"blob")
    assert digester.verify() == "sha512:" + hashlib.sha512(b"blob").hexdigest()


def test_base32_prefix_is_b32encode_prefix():
    rng = random.Random(11)
    digests = [bytes(32), b"\xff" * 32] + [bytes(rng.getrandbits(8) for _ in range(32)) for _ in range(5000)]
    for digest in digests:
        assert base32_prefix(digest) == base64.b32encode(digest)[:12].decode()


def test_short_link_is_the_name_it_always_was():
    for diff_id in ("sha256:" + "0" * 64, "sha256:" + hashlib.sha256(b"layer").hexdigest(), "sha512:" + "a" * 128):
        assert short_link(diff_id) == base64.b32encode(hashlib.sha256(diff_id.encode()).digest()).decode()[:12]
    assert short_link("sha256:" + "a" * 64) == "T5CHWG2HHU2Z"  # as base64.b32encode named it on disk


def test_small_content_is_verified_without_openssl():
    """A start checks its stored manifest and config (read_blob, parse_manifest) with the
    built-in sha256: the same verdicts, and no hashlib in a process that checks only those."""
    data = b'{"schemaVersion": 2}'
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    D.verify_bytes(data, good)
    bad = "sha256:" + hashlib.sha256(b"other").hexdigest()
    with pytest.raises(D.DigestMismatchError, match="^blob: digest %s does not match the expected %s$" % (good, bad)):
        D.verify_bytes(data, bad, "blob")
    digester = D.Digester("sha512:" + hashlib.sha512(data).hexdigest(), small=True)  # sha512: hashlib's
    digester.update(data)
    assert digester.verify() == "sha512:" + hashlib.sha512(data).hexdigest()
    code = ("import sys\n"
            "from ansible_collections.undock.oci.plugins.module_utils.model.digest import verify_bytes\n"
            "from ansible_collections.undock.oci.plugins.module_utils.model.manifest import parse_manifest\n"
            "raw = b'{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.oci.image.index.v1+json\", \"manifests\": []}'\n"
            "verify_bytes(raw, %r)\n"
            "parse_manifest(raw, None, %r, validate=False)\n"
            "print(sorted(m for m in ('hashlib', '_hashlib') if m in sys.modules))\n")
    raw = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}'
    expected = "sha256:" + hashlib.sha256(raw).hexdigest()
    out = subprocess.run([sys.executable, "-c", code % (expected, expected)], env=dict(os.environ, PYTHONPATH=COLLECTIONS),
                         check=True, stdout=subprocess.PIPE, text=True, timeout=60).stdout
    assert out.strip() == "[]"
