# -*- coding: utf-8 -*-
"""Credentials stay with their registry: no Authorization header, Basic or Bearer, reaches
another origin by any path of the client, and per-task credentials go only to the registry
the task names. A registry of our own (harness/origins.py) points the client elsewhere; a
second server records every Authorization header it is sent."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from harness.engine import registries_conf
from harness.origins import TOKEN, Recorder, ScriptedRegistry, basic

from ansible_collections.undock.oci.plugins.module_utils.common.errors import AuthenticationError, UndockError
from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
from ansible_collections.undock.oci.plugins.module_utils.image.remote import open_pull_source
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
from ansible_collections.undock.oci.plugins.module_utils.module_support import registry_context

TASK = basic("user", "pass")
BLOB = b"a blob that goes up"
DESC = {"digest": "sha256:" + hashlib.sha256(BLOB).hexdigest(), "size": len(BLOB)}


@pytest.fixture
def recorder():
    with Recorder() as server:
        yield server


def context(tmp_path, *insecure_hosts, extra="", **params):
    conf = registries_conf(os.path.join(str(tmp_path), "conf"), *insecure_hosts, extra=extra)
    params.setdefault("username", "user")
    params.setdefault("password", "pass")
    return registry_context(dict(params, registries_conf=conf, auth_file=os.path.join(str(tmp_path), "auth.json")))


def no_credentials(server):
    """Every request the server got, and none of them carried an Authorization header."""
    assert server.seen, "the client never reached %s" % server.host
    return all(value is None for value in server.authorizations())


# -- URLs the registry names on another origin ---------------------------------------

@pytest.mark.parametrize("chunk_size", [None, 8])
def test_upload_location_on_another_origin_gets_no_credentials(tmp_path, recorder, chunk_size):
    with ScriptedRegistry(recorder.url) as registry:
        client = context(tmp_path, registry.host).client(parse_reference(registry.host + "/r:t"), push=True)
        client.upload_blob(DESC, lambda: io.BytesIO(BLOB), chunk_size=chunk_size)
    methods = [seen.method for seen in recorder.seen]
    assert methods == (["PATCH", "PATCH", "PATCH", "PUT"] if chunk_size else ["PUT"])
    assert no_credentials(recorder)


def test_cancelled_mount_delete_on_another_origin_gets_no_credentials(tmp_path, recorder):
    with ScriptedRegistry(recorder.url) as registry:
        client = context(tmp_path, registry.host).client(parse_reference(registry.host + "/r:t"), push=True)
        assert client.blob_size(DESC["digest"]) is None  # as a push does first: credentials earned
        assert client.mount_blob(DESC["digest"], "other/repo") is False
    assert [seen.method for seen in recorder.seen] == ["DELETE"]
    assert no_credentials(recorder)


def test_tag_list_next_page_on_another_origin_gets_no_credentials(tmp_path, recorder):
    with ScriptedRegistry(recorder.url) as registry:
        client = context(tmp_path, registry.host).client(parse_reference(registry.host + "/r:t"))
        assert client.list_tags() == ["a", "from-the-other-origin"]
    assert no_credentials(recorder)


def test_redirect_to_another_origin_gets_no_credentials_not_even_netrc(tmp_path, recorder, monkeypatch):
    # requests already drops the header on a redirect to another port; it would add ~/.netrc
    # credentials for the new host, and for the registry itself, which nothing asked for.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with ScriptedRegistry(recorder.url, redirect=True) as registry:
        client = context(tmp_path, registry.host).client(parse_reference(registry.host + "/r:t"))
        with pytest.raises(UndockError):
            client.get_manifest("t")
        with pytest.raises(UndockError):
            client.read_blob(DESC["digest"])
        assert set(registry.authorizations()) <= {None, TASK}
    assert [seen.method for seen in recorder.seen] == ["GET", "GET"]
    assert no_credentials(recorder)


def test_401_from_another_origin_is_not_answered_with_credentials(tmp_path):
    # Its challenge names a token service of its choosing: the password must not go there.
    with Recorder() as realm, Recorder(challenge='Bearer realm="%s/token"' % realm.url) as elsewhere:
        with ScriptedRegistry(elsewhere.url, redirect=True) as registry:
            client = context(tmp_path, registry.host).client(parse_reference(registry.host + "/r:t"))
            client.transport.request("GET", "/v2/", client.scopes).close()  # credentials earned
            with pytest.raises(AuthenticationError):
                client.get_manifest("t")
        assert no_credentials(elsewhere)
        assert realm.seen == []


# -- Bearer realms ---------------------------------------------------------------------

def test_plain_http_realm_on_another_origin_of_a_tls_registry_gets_no_password(tmp_path, pki, recorder):
    with ScriptedRegistry(recorder.url, realm=recorder.url + "/token", cert=pki.server_cert,
                          key=pki.server_key) as registry:
        ctx = context(tmp_path, ca_cert=pki.ca_cert)
        client = ctx.client(parse_reference(registry.host + "/r:t"))
        assert client.get_manifest("t").media_type == "application/vnd.oci.image.manifest.v1+json"
        assert registry.authorizations()[-1] == "Bearer " + TOKEN
    assert [seen.path.split("?")[0] for seen in recorder.seen] == ["/token"]
    assert no_credentials(recorder)


def test_refused_anonymous_token_says_the_password_was_withheld(tmp_path, pki):
    with Recorder(challenge='Basic realm="tokens"') as realm:
        with ScriptedRegistry(realm.url, realm=realm.url + "/token", cert=pki.server_cert,
                              key=pki.server_key) as registry:
            client = context(tmp_path, ca_cert=pki.ca_cert).client(parse_reference(registry.host + "/r:t"))
            with pytest.raises(AuthenticationError, match="not sent to the token service"):
                client.get_manifest("t")
        assert no_credentials(realm)


def test_realm_over_https_on_another_origin_gets_the_password(tmp_path, pki):
    with Recorder(cert=pki.server_cert, key=pki.server_key) as realm:
        with ScriptedRegistry(realm.url, realm=realm.url + "/token", cert=pki.server_cert,
                              key=pki.server_key) as registry:
            client = context(tmp_path, ca_cert=pki.ca_cert).client(parse_reference(registry.host + "/r:t"))
            client.get_manifest("t")
        assert realm.authorizations() == [TASK]


def test_plain_http_realm_of_an_insecure_loopback_registry_gets_the_password(tmp_path, recorder):
    with ScriptedRegistry(recorder.url, realm=recorder.url + "/token") as registry:
        client = context(tmp_path, registry.host).client(parse_reference(registry.host + "/r:t"))
        client.get_manifest("t")
    assert recorder.authorizations() == [TASK]


# -- Per-task credentials belong to the registry the task names ----------------------------

def test_mirror_never_gets_the_task_credentials(tmp_path):
    with Recorder(challenge='Basic realm="mirror"') as mirror:
        with ScriptedRegistry(mirror.url) as registry:
            extra = ('[[registry]]\nlocation = "%s"\ninsecure = true\n[[registry.mirror]]\nlocation = "%s"\n'
                     'insecure = true\n' % (registry.host, mirror.host))
            ctx = context(tmp_path, extra=extra)
            source = open_pull_source(ctx, parse_reference(registry.host + "/r:t"))
            assert source.reference.registry == registry.host  # the mirror refused; the registry answered
            assert TASK in registry.authorizations()
        assert no_credentials(mirror)


def service(tmp_path, *insecure_hosts, **params):
    return ImageService(os.path.join(str(tmp_path), "store"), context(tmp_path, *insecure_hosts, **params),
                        run_root=os.path.join(str(tmp_path), "run"))


def test_source_registry_never_gets_the_task_credentials(tmp_path):
    with Recorder(challenge='Basic realm="source"') as source:
        svc = service(tmp_path, source.host)
        with pytest.raises(AuthenticationError, match="requires authentication"):
            svc.present("127.0.0.1:1/local/app:1", source=source.host + "/r:t")
        assert no_credentials(source)


def test_source_registry_gets_the_source_credentials(tmp_path):
    with Recorder(challenge='Basic realm="source"') as source:
        svc = service(tmp_path, source.host, source_username="robot", source_password="s3cret")
        with pytest.raises(UndockError):
            svc.present("127.0.0.1:1/local/app:1", source=source.host + "/r:t")
        assert set(source.authorizations()) == {None, basic("robot", "s3cret")}
