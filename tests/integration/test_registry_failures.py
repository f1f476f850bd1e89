"""A misbehaving registry of our own (the fault proxy in front of the real one, or a port
with nothing on it): every failure is bounded in time and ends in an UndockError that
names the host and says what to do, never a traceback or urllib3's own text."""

from __future__ import annotations

import contextlib
import json
import time
import types

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf, service
from harness.faults import Fault, FaultProxy
from harness.registry import free_port

from ansible_collections.undock.oci.plugins.module_utils.common.errors import (
    ManifestError, RegistryError, TLSError, TransientError)
from ansible_collections.undock.oci.plugins.module_utils.model.manifest import OCI_MANIFEST
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
from ansible_collections.undock.oci.plugins.module_utils.registry.deadline import DeadlineError

URLLIB3_WORDS = ("Pool(", "Max retries", "urllib3", "Caused by", "object at 0x")
FAST = dict(request_timeout=1.0, min_transfer_rate=10 ** 9)  # a 1 s deadline, whatever the size


def plain(host):
    return types.SimpleNamespace(host=host, tls=False, username=None, ca_cert=None)


def fast(svc, host):
    """Short backoff between retries, so the bounded retries of a failure take no time."""
    svc.registry.transport(parse_reference(host + "/x"), True).backoff = 0.01
    return svc


def assert_plain_words(message):
    for word in URLLIB3_WORDS:
        assert word not in message, message


@pytest.fixture
def pushed(registry, image_cache, request):
    repo = "failures/" + request.node.originalname.lower().replace("_", "-")[:60]
    return I.push_oci_image(registry, repo=repo, cache=image_cache)


def local_ref(proxy, pushed):
    return "%s/%s:%s" % (proxy.host, pushed.repo, pushed.tag)


# -- no request can hang ----------------------------------------------------------------

def test_trickled_blob_fails_at_its_deadline(tmp_path, registry, pushed):
    layer = pushed.layers[0]
    with FaultProxy(registry.host, [Fault(layer, trickle=0.2, method="GET")]) as proxy:
        svc = fast(service(tmp_path, plain(proxy.host), **FAST), proxy.host)
        start = time.monotonic()
        with pytest.raises(DeadlineError) as err:
            svc.present(local_ref(proxy, pushed))
        elapsed = time.monotonic() - start
    message = str(err.value)
    assert message.startswith("registry %s: GET /v2/%s/blobs/%s did not finish within" % (proxy.host, pushed.repo, layer))
    assert "raise request_timeout" in message
    assert elapsed < 10, elapsed  # one deadline, not one per retry
    assert svc.store().check() == []


def test_trickled_headers_fail_at_the_deadline(tmp_path, registry, pushed):
    with FaultProxy(registry.host, [Fault("/manifests/", trickle=0.05, trickle_head=True, method="GET")]) as proxy:
        svc = fast(service(tmp_path, plain(proxy.host), **FAST), proxy.host)
        start = time.monotonic()
        with pytest.raises(DeadlineError, match="registry %s: GET /v2/%s/manifests/latest did not finish within 1 s "
                                                r"\(request_timeout 1 s\)" % (proxy.host, pushed.repo)):
            svc.present(local_ref(proxy, pushed))
        assert time.monotonic() - start < 5


def test_blob_deadline_scales_with_the_declared_size(tmp_path, registry, pushed):
    """The same trickled config blob (~0.5 s at 2 ms a byte) fails within a flat 0.3 s deadline
    and arrives when the deadline grows with its size."""
    def pull(work, **limits):
        with FaultProxy(registry.host, [Fault(pushed.config, trickle=0.002, method="GET")]) as proxy:
            return fast(service(work, plain(proxy.host), **limits), proxy.host).present(local_ref(proxy, pushed))

    with pytest.raises(DeadlineError, match="request_timeout 0.3 s \\+ [0-9]+ bytes at min_transfer_rate"):
        pull(tmp_path / "flat", request_timeout=0.3, min_transfer_rate=10 ** 9)
    outcome = pull(tmp_path / "scaled", request_timeout=0.3, min_transfer_rate=100)
    assert outcome.changed and outcome.image["digest"] == pushed.digest


def test_read_timeout_names_the_host(tmp_path, registry, pushed):
    with FaultProxy(registry.host, [Fault("/manifests/", trickle=2.0, trickle_head=True, times=10)]) as proxy:
        svc = fast(service(tmp_path, plain(proxy.host)), proxy.host)
        svc.registry.transport(parse_reference(proxy.host + "/x"), True).timeout = (2.0, 0.3)
        with pytest.raises(TransientError) as err:
            svc.present(local_ref(proxy, pushed))
    assert str(err.value) == "registry %s did not answer GET /v2/%s/manifests/latest within the read timeout" % (
        proxy.host, pushed.repo)


# -- blobs are read as stored -----------------------------------------------------------

def test_blobs_and_manifests_are_asked_for_as_stored(tmp_path, registry, pushed):
    """A proxy that gzips whatever the client accepts cannot break a pull."""
    with FaultProxy(registry.host, [Fault("/blobs/", gzip_if_asked=True, times=100),
                                    Fault("/manifests/", gzip_if_asked=True, times=100)]) as proxy:
        outcome = service(tmp_path, plain(proxy.host)).present(local_ref(proxy, pushed))
        seen = [(method, path, headers) for method, path, headers in proxy.seen if "/blobs/" in path
                or "/manifests/" in path]
    assert outcome.changed and outcome.image["digest"] == pushed.digest
    fetched = {path.rsplit("/", 1)[1] for dummy, path, dummy in seen if "/blobs/" in path}
    assert fetched == {pushed.config, *pushed.layers}
    assert all(headers.get("Accept-Encoding") == "identity" for dummy, dummy, headers in seen), seen


def test_blob_recoded_anyway_is_a_clear_error(tmp_path, registry, pushed):
    layer = pushed.layers[0]
    with FaultProxy(registry.host, [Fault(layer, method="GET", headers={"Content-Encoding": "gzip"})]) as proxy:
        with pytest.raises(RegistryError, match="registry %s answered GET /v2/%s/blobs/%s with Content-Encoding 'gzip' "
                                                "although identity was asked" % (proxy.host, pushed.repo, layer)):
            service(tmp_path, plain(proxy.host)).present(local_ref(proxy, pushed))


# -- hostile or broken answers ----------------------------------------------------------

def test_manifest_cut_short_is_fetched_again(tmp_path, registry, pushed):
    with FaultProxy(registry.host, [Fault("/manifests/", cut_after=40, times=2, method="GET")]) as proxy:
        outcome = fast(service(tmp_path, plain(proxy.host)), proxy.host).present(local_ref(proxy, pushed))
        gets = [entry for entry in proxy.log if entry[0] == "GET" and "/manifests/" in entry[1]]
    assert outcome.changed and outcome.image["digest"] == pushed.digest
    assert len(gets) == 3


def test_manifest_always_cut_short_gives_up(tmp_path, registry, pushed):
    with FaultProxy(registry.host, [Fault("/manifests/", cut_after=40, times=100, method="GET")]) as proxy:
        with pytest.raises(TransientError, match="registry %s: manifest %s:latest was cut short"
                                                 % (proxy.host, pushed.repo)):
            fast(service(tmp_path, plain(proxy.host)), proxy.host).present(local_ref(proxy, pushed))
        assert len([e for e in proxy.log if "/manifests/" in e[1]]) == 5


def test_too_many_redirects(tmp_path, registry, pushed):
    path = "/v2/%s/manifests/latest" % pushed.repo
    with FaultProxy(registry.host, [Fault("/manifests/", status=307, headers={"Location": path}, times=100)]) as proxy:
        with pytest.raises(RegistryError, match="registry %s redirected GET %s too many times" % (proxy.host, path)):
            service(tmp_path, plain(proxy.host)).present(local_ref(proxy, pushed))


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/x", "file:///etc/passwd"])
def test_redirect_to_a_non_http_location(tmp_path, registry, pushed, location):
    with FaultProxy(registry.host, [Fault("/manifests/", status=302, headers={"Location": location})]) as proxy:
        with pytest.raises(RegistryError, match="registry %s sent a Location for GET .* that is not an http\\(s\\) URL: %s"
                                                % (proxy.host, location)):
            service(tmp_path, plain(proxy.host)).present(local_ref(proxy, pushed))


def test_upload_location_that_is_not_http(tmp_path, registry, pushed):
    target = "%s/failures/upload-target:1"
    with FaultProxy(registry.host, [Fault("/blobs/uploads/", method="POST", status=202,
                                          headers={"Location": "ftp://127.0.0.1/upload"}, times=100)]) as proxy:
        svc = service(tmp_path, plain(proxy.host), also=[registry])
        svc.present(pushed.ref)
        with pytest.raises(RegistryError, match="registry %s sent an upload Location that is not an http\\(s\\) URL: "
                                                "ftp://127.0.0.1/upload" % proxy.host):
            svc.push(pushed.ref, target % proxy.host)


def test_bad_content_length(tmp_path, registry, pushed):
    layer = pushed.layers[0]
    with FaultProxy(registry.host, [Fault(layer, method="GET", headers={"Content-Length": "12abc"})]) as proxy:
        with pytest.raises(RegistryError, match="registry %s answered GET /v2/%s/blobs/%s with Content-Length '12abc', "
                                                "which is not a number" % (proxy.host, pushed.repo, layer)):
            service(tmp_path, plain(proxy.host)).present(local_ref(proxy, pushed))


def test_bad_content_encoding_of_a_manifest(tmp_path, registry, pushed):
    with FaultProxy(registry.host, [Fault("/manifests/", method="GET", headers={"Content-Encoding": "br"})]) as proxy:
        with pytest.raises(RegistryError, match="with Content-Encoding 'br' although identity was asked"):
            service(tmp_path, plain(proxy.host)).present(local_ref(proxy, pushed))


def test_undecodable_content_encoding_of_a_tag_list(tmp_path, registry, pushed):
    with FaultProxy(registry.host, [Fault("/tags/list", headers={"Content-Encoding": "gzip"})]) as proxy:
        svc = service(tmp_path, plain(proxy.host))
        with pytest.raises(RegistryError, match="registry %s answered GET /v2/%s/tags/list with a Content-Encoding "
                                                "that does not decode" % (proxy.host, pushed.repo)):
            svc.registry.client(parse_reference(local_ref(proxy, pushed))).list_tags()


def test_manifest_nested_too_deep(tmp_path, registry, pushed):
    deep = b"[" * 100000 + b"]" * 100000
    with FaultProxy(registry.host, [Fault("/manifests/", method="GET", body=deep,
                                          headers={"Content-Type": OCI_MANIFEST})]) as proxy:
        with pytest.raises(ManifestError, match="manifest sha256:[0-9a-f]{64} is not valid JSON: nested more than 64 "
                                                "levels deep"):
            service(tmp_path, plain(proxy.host)).present(local_ref(proxy, pushed))


@pytest.mark.parametrize("body, says", [
    (b"[1, 2]", "is not a JSON object"),
    (b"<html>no</html>", "is not valid JSON: Expecting value"),
    (b'{"token": ' * 200 + b"1" + b"}" * 200, "is not valid JSON: nested more than 64 levels deep"),
])
def test_token_service_answer_that_is_not_an_object(tmp_path, registry, pushed, body, says):
    with FaultProxy(registry.host) as proxy:
        challenge = 'Bearer realm="http://%s/token",service="test"' % proxy.host
        proxy.faults[:] = [Fault("/manifests/", status=401, headers={"WWW-Authenticate": challenge}),
                           Fault("/token", status=200, body=body, headers={"Content-Type": "application/json"})]
        with pytest.raises(RegistryError, match="the answer of the token service of %s %s" % (proxy.host, says)):
            service(tmp_path, plain(proxy.host)).present(local_ref(proxy, pushed))


@pytest.mark.parametrize("body", [b"[1]", b'{"tags": "latest"}', b'{"tags": [1]}', b"[" * 5000])
def test_tag_list_that_is_not_a_tag_list(tmp_path, registry, pushed, body):
    with FaultProxy(registry.host, [Fault("/tags/list", body=body, times=2)]) as proxy:
        svc = service(tmp_path, plain(proxy.host))
        with pytest.raises(RegistryError, match="tag list"):
            svc.registry.client(parse_reference(local_ref(proxy, pushed))).list_tags()
        [image] = svc.inspect_remote([local_ref(proxy, pushed)]).values["images"]
        assert image["repo_tags"] == []  # oci_image_info reports the image, without its tags


# -- registry errors say what to do -----------------------------------------------------

def test_connection_refused_names_the_host(tmp_path):
    host = "127.0.0.1:%d" % free_port()
    with pytest.raises(TransientError) as err:
        fast(service(tmp_path, plain(host)), host).present(host + "/nothing/here:1")
    assert str(err.value).startswith("cannot reach registry %s: connection refused: nothing listens on port %s "
                                     % (host, host.split(":")[1]))
    assert_plain_words(str(err.value))


def test_unknown_name_names_the_host(tmp_path):
    with pytest.raises(RegistryError) as err:
        service(tmp_path).present("registry.invalid/nothing/here:1")
    assert str(err.value).startswith("cannot reach registry registry.invalid: the name registry.invalid does not resolve")
    assert not isinstance(err.value, TransientError)  # a name that does not exist is not retried
    assert_plain_words(str(err.value))


def test_plain_http_registry_reached_over_tls(tmp_path, registry, pushed):
    conf = registries_conf(str(tmp_path / "conf-secure"))  # nothing marked insecure: TLS it is
    with pytest.raises(TLSError) as err:
        service(tmp_path, registry, registries_conf=conf).present(pushed.ref)
    message = str(err.value)
    assert message.startswith("registry %s does not speak TLS on this port" % registry.host)
    assert "validate_certs: false" in message and "insecure = true" in message
    assert_plain_words(message)


# -- the same through the module: a message, never a traceback --------------------------

def test_module_failures_are_messages(tmp_path, registry, pushed):
    refused = "127.0.0.1:%d" % free_port()
    with contextlib.ExitStack() as stack:
        trickle = stack.enter_context(FaultProxy(registry.host, [Fault(pushed.layers[0], trickle=0.2)]))
        deep = stack.enter_context(FaultProxy(registry.host, [Fault("/manifests/", body=b"[" * 3000)]))
        ftp = stack.enter_context(FaultProxy(registry.host, [Fault("/manifests/", status=302,
                                                                   headers={"Location": "ftp://127.0.0.1/x"})]))
        token = stack.enter_context(FaultProxy(registry.host))
        token.faults[:] = [Fault("/manifests/", status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="http://%s/token"' % token.host}),
                           Fault("/token", status=200, body=b'["not", "an", "object"]')]
        hosts = [p.host for p in (trickle, deep, ftp, token)] + [refused]
        conf = registries_conf(str(tmp_path / "conf"), *hosts)
        common = {"registries_conf": conf, "auth_file": str(tmp_path / "conf" / "auth.json"),
                  "storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run")}
        tasks = [
            (dict(common, name=local_ref(trickle, pushed), request_timeout=1, min_transfer_rate=10 ** 9),
             "registry %s: GET /v2/%s/blobs/%s did not finish within" % (trickle.host, pushed.repo, pushed.layers[0])),
            (dict(common, name=local_ref(deep, pushed)), "nested more than 64 levels deep"),
            (dict(common, name=local_ref(ftp, pushed)), "registry %s sent a Location" % ftp.host),
            (dict(common, name=local_ref(token, pushed)), "token service of %s is not a JSON object" % token.host),
            (dict(common, name=refused + "/x/y:1"), "cannot reach registry %s: connection refused" % refused),
            (dict(common, name=pushed.ref, registries_conf=registries_conf(str(tmp_path / "tls"))),
             "registry %s does not speak TLS on this port" % registry.host),
            (dict(common, name=pushed.ref, request_timeout=-1), "request_timeout must be a positive number"),
        ]
        results = run_tasks([("undock.oci.oci_image", args, {}) for args, dummy in tasks])
    for (args, says), result in zip(tasks, results):
        assert result.get("failed"), (args["name"], result)
        assert says in result["msg"], (says, result["msg"])
        # fail_json from an except block: ansible notes the exception, but no traceback comes from the module
        assert "module_stderr" not in result and "Traceback" not in json.dumps(result), result
        assert_plain_words(result["msg"])

