# -*- coding: utf-8 -*-
"""Docker credential helpers named by credHelpers / credsStore (and registries.conf
credential-helpers): a real helper process, a small script on PATH, asked as docker asks."""

from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ConfigError
from ansible_collections.undock.oci.plugins.module_utils.registry import cred_helpers
from ansible_collections.undock.oci.plugins.module_utils.registry.auth_files import AuthStore
from ansible_collections.undock.oci.plugins.module_utils.registry.context import RegistryContext
from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistryOptions
from ansible_collections.undock.oci.plugins.module_utils.registry.registries_conf import RegistriesConfig

HELPER = r"""#!/bin/sh
[ "$1" = get ] || { echo "unexpected action $1"; exit 3; }
server=$(cat)
echo "$server" >> "%(log)s"
case "$server" in
  https://index.docker.io/v1/) echo '{"ServerURL": "https://index.docker.io/v1/", "Username": "hub", "Secret": "hubpw"}' ;;
  helper.io|store.io) echo '{"ServerURL": "x", "Username": "%(name)s-user", "Secret": "%(name)s-pw"}' ;;
  token.io) echo '{"Username": "<token>", "Secret": "refresh-token"}' ;;
  slow.io) exec sleep 30 ;;
  broken.io) echo 'Secret: not-json' ;;
  fails.io) echo 'the keychain is locked'; exit 1 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"""


@pytest.fixture
def helpers(tmp_path, monkeypatch):
    """docker-credential-one and docker-credential-two on PATH; returns the log of servers asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "asked.log"
    for name in ("one", "two"):
        path = bin_dir / ("docker-credential-" + name)
        path.write_text(HELPER % {"log": log, "name": name})
        path.chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (bin_dir, os.pathsep, os.environ.get("PATH", "")))
    return lambda: log.read_text().split("\n")[:-1] if log.exists() else []


def store(tmp_path, helpers=None, **config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return AuthStore(auth_file=str(path), **({"helpers": helpers} if helpers else {}))


def test_cred_helpers_entry_runs_that_helper_with_the_host_on_stdin(tmp_path, helpers):
    auths = store(tmp_path, credHelpers={"helper.io": "one"}, auths={"helper.io": {}})
    creds = auths.credentials_for("helper.io/team/app")
    assert (creds.username, creds.password) == ("one-user", "one-pw")
    assert "docker-credential-one" in creds.source and "one-pw" not in repr(creds)
    assert helpers() == ["helper.io"]


def test_creds_store_is_asked_when_nothing_else_holds_credentials(tmp_path, helpers):
    auths = store(tmp_path, credsStore="two", credHelpers={"helper.io": "one"},
                  auths={"inline.io": {"auth": "dTpw"}})
    assert auths.credentials_for("inline.io").username == "u"          # an entry in the file: no helper run
    assert auths.credentials_for("store.io").username == "two-user"
    assert auths.credentials_for("helper.io").username == "one-user"   # credHelpers wins over credsStore
    assert auths.credentials_for("docker.io/library/alpine").username == "hub"  # Docker Hub's server address
    assert auths.credentials_for("unknown.io") is None                 # "not found" is no credentials
    assert helpers() == ["store.io", "helper.io", "https://index.docker.io/v1/", "unknown.io"]


def test_identity_token_from_a_helper(tmp_path, helpers):
    creds = store(tmp_path, credsStore="one").credentials_for("token.io")
    assert (creds.username, creds.identity_token) == ("", "refresh-token")


def test_registries_conf_credential_helpers_are_tried_in_order(tmp_path, helpers):
    conf = RegistriesConfig.from_toml('credential-helpers = ["one", "containers-auth.json"]')
    auths = store(tmp_path, helpers=conf.credential_helpers, auths={"unknown.io": {"auth": "dTpw"}})
    assert auths.credentials_for("helper.io").username == "one-user"
    assert auths.credentials_for("unknown.io").username == "u"   # one has none: the files are next
    assert helpers() == ["helper.io", "unknown.io"]


def test_context_reads_credential_helpers_from_registries_conf(tmp_path, helpers):
    conf = tmp_path / "registries.conf"
    conf.write_text('credential-helpers = ["two"]\n')
    context = RegistryContext(RegistryOptions(registries_conf=str(conf), auth_file=str(tmp_path / "none.json")))
    assert context.auths.credentials_for("store.io").username == "two-user"


@pytest.mark.parametrize("config, host, message", [
    ({"credsStore": "absent"}, "x.io", "docker-credential-absent is not on PATH"),
    ({"credHelpers": {"x.io": "../evil"}}, "x.io", "invalid credential helper name"),
    ({"credHelpers": ["x.io"]}, "x.io", "credHelpers\" must be a JSON object"),
    ({"credsStore": "one"}, "broken.io", "not {\"Username\""),
    ({"credsStore": "one"}, "fails.io", r"exit status 1\): the keychain is locked"),
])
def test_helper_problems_are_config_errors_naming_the_helper(tmp_path, helpers, config, host, message):
    with pytest.raises(ConfigError, match=message) as err:
        store(tmp_path, **config).credentials_for(host)
    assert "not-json" not in str(err.value)


def test_a_helper_that_hangs_is_killed_after_the_timeout(tmp_path, helpers, monkeypatch):
    monkeypatch.setattr(cred_helpers, "HELPER_TIMEOUT", 0.5)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="did not answer within 0.5 seconds for slow.io"):
        store(tmp_path, credsStore="one").credentials_for("slow.io")
    assert time.monotonic() - started < 5
