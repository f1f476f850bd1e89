"""Faults a real registry will not produce on demand, injected by a proxy in front of it:
5xx and 429 answers are retried with backoff (and bounded), a download cut mid-blob is
resumed with Range in the same run."""

from __future__ import annotations

import types

import pytest

from harness import images as I
from harness.engine import service
from harness.faults import Fault, FaultProxy

from ansible_collections.undock.oci.plugins.module_utils.common.errors import TransientError


def through(proxy):
    return types.SimpleNamespace(host=proxy.host, tls=False, username=None, ca_cert=None)


def fast(svc, proxy):
    from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
    transport = svc.registry.transport(parse_reference(proxy.host + "/x"), True)
    transport.backoff = 0.01
    return svc


def test_5xx_and_429_are_retried(tmp_path, registry, image_cache):
    pushed = I.push_oci_image(registry, repo="faults/retry", cache=image_cache)
    with FaultProxy(registry.host, [Fault("/manifests/", status=503, times=2),
                                    Fault("/blobs/", status=429, times=1, retry_after="0", method="GET")]) as proxy:
        svc = fast(service(tmp_path, through(proxy)), proxy)
        outcome = svc.present("%s/faults/retry:latest" % proxy.host)
        assert outcome.changed and outcome.image["digest"] == pushed.digest
        statuses = [e[2] for e in proxy.log]
        assert statuses.count(503) == 2 and statuses.count(429) == 1
        assert svc.store().check() == []


def test_retries_are_bounded(tmp_path, registry, image_cache):
    I.push_oci_image(registry, repo="faults/down", cache=image_cache)
    with FaultProxy(registry.host, [Fault("/manifests/", status=502, times=100)]) as proxy:
        svc = fast(service(tmp_path, through(proxy)), proxy)
        with pytest.raises(TransientError, match="answered 502"):
            svc.present("%s/faults/down:latest" % proxy.host)
        assert len(proxy.log) == 5  # the first try and 4 retries
    assert not (tmp_path / "store" / "index.json").exists() or svc.store().images() == []


def test_cut_download_resumes_with_range_in_the_same_run(tmp_path, registry, image_cache):
    pushed = I.push_large_image(registry, repo="faults/cut", total_size=6 * 1024 * 1024, layers=1,
                                cache=image_cache)
    layer = pushed.layers[0]
    with FaultProxy(registry.host, [Fault(layer, cut_after=1500000, times=2, method="GET")]) as proxy:
        svc = fast(service(tmp_path, through(proxy)), proxy)
        outcome = svc.present("%s/faults/cut:latest" % proxy.host)
        assert outcome.changed and outcome.image["digest"] == pushed.digest
        gets = [e for e in proxy.log if e[0] == "GET" and layer in e[1]]
        assert len(gets) == 3
        assert gets[0][3] is None and gets[1][3] == "bytes=1500000-" and gets[2][3] == "bytes=3000000-"
        assert all(e[2] in (200, 206) for e in gets) and gets[1][2] == 206
        assert svc.store().check() == []
