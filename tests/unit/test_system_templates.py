# -*- coding: utf-8 -*-
"""System containers: atomic's template variables, their precedence, and the errors."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.system.errors import SystemContainerError
from ansible_collections.undock.oci.plugins.module_utils.system.exports import parse_manifest
from ansible_collections.undock.oci.plugins.module_utils.system.hostfiles import rename_path
from ansible_collections.undock.oci.plugins.module_utils.system.templates import (
    INSTALLER_VARIABLES, OVERRIDABLE_VARIABLES, check_values, default_values, exec_directives, merge_values, substitute,
    variables_of)

pytestmark = pytest.mark.unit


def installer(name="etcd", destdir="/var/lib/undock/system/etcd.0"):
    values = {"NAME": name, "DESTDIR": destdir, "HOST_UID": "0", "HOST_GID": "0", "IMAGE_ID": "sha256:" + "a" * 64,
              "IMAGE_NAME": "example.com/etcd:1"}
    values.update(exec_directives("/usr/sbin/runc", name, destdir))
    return values


def merged(manifest=None, user=None, previous=None):
    return merge_values("etcd", defaults=default_values("/usr/sbin/runc", ["CAP_CHOWN", "CAP_KILL"]),
                        manifest_defaults=manifest or {}, user=user or {}, installer=installer(), previous=previous)


def test_every_atomic_variable_has_a_value():
    values, warnings = merged()
    assert set(INSTALLER_VARIABLES) | set(OVERRIDABLE_VARIABLES) <= set(values)
    assert not warnings
    assert values["RUN_DIRECTORY"] == "/run" and values["STATE_DIRECTORY"] == "/var/lib"
    assert values["CONF_DIRECTORY"] == "/etc"
    assert values["PIDFILE"] == "/run/container-etcd.pid"
    assert values["ALL_PROCESS_CAPABILITIES"] == '"CAP_CHOWN",\n"CAP_KILL"\n'  # atomic's JSON-list form
    assert values["EXEC_START"] == "/usr/sbin/runc run --bundle /var/lib/undock/system/etcd.0 etcd"
    assert values["EXEC_STOPPOST"] == "/usr/sbin/runc delete -f etcd"
    assert values["EXEC_STARTPRE"] == ""
    assert len(values["UUID"]) == 36


def test_precedence_manifest_then_user_then_installer():
    values, warnings = merged(manifest={"PORT": "2379", "PEERS": "none", "NAME": "from-manifest"},
                              user={"PORT": "4001", "NAME": "from-user", "RUN_DIRECTORY": "/srv/run"})
    assert values["PORT"] == "4001"       # user over manifest
    assert values["PEERS"] == "none"      # manifest default kept
    assert values["NAME"] == "etcd"       # installer over both
    assert values["RUN_DIRECTORY"] == "/srv/run"
    assert values["PIDFILE"] == "/srv/run/container-etcd.pid"  # follows the run directory it was given
    assert warnings == ["values: NAME is set by the installer ('etcd'); the value given ('from-user') is not used"]


def test_manifest_default_overrides_an_installer_default():
    values, dummy = merged(manifest={"STATE_DIRECTORY": "/srv/state"})
    assert values["STATE_DIRECTORY"] == "/srv/state"


def test_uuid_is_kept_across_updates_unless_set():
    first, dummy = merged()
    again, dummy = merged(previous=first)
    assert again["UUID"] == first["UUID"]
    given, dummy = merged(user={"UUID": "x"}, previous=first)
    assert given["UUID"] == "x"


def test_both_forms_and_dollar_escape_like_string_template():
    text = "ExecStart=$EXEC_START\nX=${NAME}suffix\nY=$$HOME\n"
    out = substitute(text, installer(), "/exports/service.template")
    assert "X=etcdsuffix" in out and "Y=$HOME" in out
    assert variables_of(text) == ["EXEC_START", "NAME"]


def test_unreplaced_variable_names_it_and_the_file():
    with pytest.raises(SystemContainerError) as err:
        substitute("[Service]\nExecStart=/bin/app --port $PORT\n", installer(), "/exports/service.template")
    assert "$PORT" in str(err.value) and "/exports/service.template" in str(err.value)


def test_bad_placeholder_names_line_and_column():
    with pytest.raises(SystemContainerError) as err:
        substitute("a\nprice: $5\n", {}, "/exports/tmpfiles.template")
    assert "/exports/tmpfiles.template: line 2, column 8" in str(err.value)


@pytest.mark.parametrize("values, fragment", [
    ({"1BAD": "x"}, "'1BAD' is not a variable name"),
    ({"A-B": "x"}, "'A-B' is not a variable name"),
    ({"OK": ["list"]}, "values: OK: ['list'] is not a string"),
    ("PORT=1", "must be a dictionary"),
])
def test_bad_user_values(values, fragment):
    with pytest.raises(SystemContainerError) as err:
        check_values(values, "values")
    assert fragment in str(err.value)


def test_values_as_templates_see_them():
    assert check_values({"PORT": 8080, "DEBUG": True, "NAME": "x"}, "values") == {"PORT": "8080", "DEBUG": "true",
                                                                                  "NAME": "x"}


def test_manifest_checked_with_clear_errors():
    ok = parse_manifest('{"defaultValues": {"PORT": 1}, "renameFiles": {"/etc/a.conf": "/etc/$NAME.conf"}, '
                        '"noContainerService": true}')
    assert ok == {"defaultValues": {"PORT": "1"}, "renameFiles": {"/etc/a.conf": "/etc/$NAME.conf"},
                  "noContainerService": True}
    for text, fragment in [("{not json", "/exports/manifest.json of the image is not valid JSON"),
                           ("[]", "must hold a JSON object"),
                           ('{"renameFiles": {"etc/a": "b"}}', "renameFiles: 'etc/a'"),
                           ('{"noContainerService": "yes"}', "noContainerService must be true or false"),
                           ('{"defaultValues": {"A": {}}}', "defaultValues: A")]:
        with pytest.raises(SystemContainerError) as err:
            parse_manifest(text)
        assert fragment in str(err.value)


def test_rename_files_as_atomic_applies_them():
    renames = {"/etc/app": "/etc/app-etcd", "/etc/app-etcd/app.conf": "/etc/app-etcd/etcd.conf",
               "/usr/bin/tool": "/usr/bin/etcd-tool"}
    assert rename_path("/etc/app/app.conf", renames) == "/etc/app-etcd/etcd.conf"  # applied per component, in turn
    assert rename_path("/etc/app/other", renames) == "/etc/app-etcd/other"
    assert rename_path("/usr/bin/tool", renames) == "/usr/bin/etcd-tool"
    assert rename_path("/usr/bin/toolbox", renames) == "/usr/bin/toolbox"
