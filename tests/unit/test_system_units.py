# -*- coding: utf-8 -*-
"""System containers: unit rendering, dependency options and listen parsing. The rendered
units are read back by the unit parser and, where systemd-analyze is installed (package
systemd; PID 1 need not be systemd), verified by systemd itself."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.undock.oci.plugins.module_utils.system.errors import SystemContainerError
from ansible_collections.undock.oci.plugins.module_utils.system.listen import parse_listen
from ansible_collections.undock.oci.plugins.module_utils.system.names import check_name, unit_names
from ansible_collections.undock.oci.plugins.module_utils.system.templates import exec_directives, substitute
from ansible_collections.undock.oci.plugins.module_utils.system.units import (
    DEFAULT_SERVICE_TEMPLATE, Dependencies, check_socket, finish_service, merge_dependencies, parse_unit, socket_text,
    values_of)

pytestmark = pytest.mark.unit
RUNC = shutil.which("runc") or shutil.which("runc", path="/usr/sbin:/usr/bin") or "/usr/sbin/runc"


def values(destdir):
    out = {"NAME": "kv", "DESTDIR": destdir, "IMAGE_NAME": "localhost/kv:1"}
    out.update(exec_directives(RUNC, "kv", destdir))
    return out


def default_service(destdir="/var/lib/undock/system/kv.0", deps=None, socket=False):
    text = substitute(DEFAULT_SERVICE_TEMPLATE, values(destdir), "default")
    text = merge_dependencies(text, deps or Dependencies())
    return finish_service(text, "kv", "kv.service", socket)


def test_default_service_runs_runc_in_the_foreground():
    entries = parse_unit(default_service(), "kv.service")
    assert values_of(entries, "Service", "ExecStart") == ["%s run --bundle /var/lib/undock/system/kv.0 kv" % RUNC]
    assert values_of(entries, "Service", "ExecStopPost") == ["%s delete -f kv" % RUNC]
    assert values_of(entries, "Service", "SuccessExitStatus") == ["143 SIGTERM"]
    assert values_of(entries, "Service", "ExecStartPre") == []  # empty: nothing to run first
    assert values_of(entries, "Install", "WantedBy") == ["multi-user.target"]
    assert "-d" not in values_of(entries, "Service", "ExecStart")[0].split()  # foreground: systemd supervises


def test_dependencies_merged_into_unit_and_install():
    deps = Dependencies.from_options({"after": ["store.service", "network-online.target"], "requires": "store.service",
                                      "wants": ["network-online.target"], "wanted_by": ["machines.target"],
                                      "required_by": ["runtime.service"]})
    entries = parse_unit(default_service(deps=deps), "kv.service")
    assert values_of(entries, "Unit", "After") == ["store.service network-online.target"]
    assert values_of(entries, "Unit", "Requires") == ["store.service"]
    assert values_of(entries, "Unit", "Wants") == ["network-online.target"]
    assert values_of(entries, "Install", "WantedBy") == ["multi-user.target", "machines.target"]
    assert values_of(entries, "Install", "RequiredBy") == ["runtime.service"]
    # sections keep their places: the [Unit] lines did not land in [Service]
    assert [s for s, k, v, n in entries if k == "After"] == ["Unit"]


def test_dependencies_added_to_a_template_without_those_sections():
    text = merge_dependencies("[Service]\nExecStart=/bin/true\n", Dependencies(after=["a.service"],
                                                                                 wanted_by=["b.target"]))
    entries = parse_unit(text, "x.service")
    assert values_of(entries, "Unit", "After") == ["a.service"]
    assert values_of(entries, "Install", "WantedBy") == ["b.target"]


@pytest.mark.parametrize("value, fragment", [
    (["etcd"], "'etcd' is not a systemd unit name"),
    (["a b.service"], "'a b.service'"),
    ([3], "3 is not"),
    ({"a": 1}, "must be a list"),
])
def test_bad_dependency_names(value, fragment):
    with pytest.raises(SystemContainerError) as err:
        unit_names(value, "after")
    assert fragment in str(err.value) and "after" in str(err.value)


def test_image_template_keeps_its_own_success_status():
    text = finish_service("[Service]\nExecStart=/bin/app\nSuccessExitStatus=1\n", "kv", "kv.service", False)
    assert values_of(parse_unit(text, "kv.service"), "Service", "SuccessExitStatus") == ["1"]
    with pytest.raises(SystemContainerError, match="kv.service has no \\[Service\\] section"):
        finish_service("[Unit]\nDescription=x\n", "kv", "kv.service", False)


def test_service_of_a_socket_requires_it():
    entries = parse_unit(default_service(socket=True), "kv.service")
    assert values_of(entries, "Unit", "Requires") == ["kv.socket"]
    assert values_of(entries, "Unit", "After") == ["kv.socket"]


@pytest.mark.parametrize("item, line", [
    ("8080", "ListenStream=8080"),
    (8080, "ListenStream=8080"),
    ("127.0.0.1:8080", "ListenStream=127.0.0.1:8080"),
    ("127.0.0.1:53/udp", "ListenDatagram=127.0.0.1:53"),
    ("[::1]:8080/tcp", "ListenStream=[::1]:8080"),
    ("/run/kv/kv.sock", "ListenStream=/run/kv/kv.sock"),
])
def test_listen_items(item, line):
    assert [x.line() for x in parse_listen([item])] == [line]


@pytest.mark.parametrize("item, fragment", [
    ("0", "between 1 and 65535"),
    ("70000", "between 1 and 65535"),
    ("localhost:80", "not an IP address"),
    ("::1:80", "not [HOST:]PORT"),
    ("80/sctp", "not [HOST:]PORT"),
    ("run/x.sock", "not [HOST:]PORT"),
    ("/run/../x.sock", "not a usable unix socket path"),
    (True, "not [HOST:]PORT"),
])
def test_bad_listen_items(item, fragment):
    with pytest.raises(SystemContainerError) as err:
        parse_listen([item])
    assert fragment in str(err.value)


def test_listen_duplicates_refused():
    with pytest.raises(SystemContainerError, match="given twice"):
        parse_listen(["8080", "8080/tcp"])


def test_socket_unit_from_listen_and_from_a_template():
    text = socket_text(None, parse_listen(["127.0.0.1:8080", "127.0.0.1:53/udp"]))
    entries = parse_unit(text, "kv.socket")
    assert values_of(entries, "Socket", "ListenStream") == ["127.0.0.1:8080"]
    assert values_of(entries, "Socket", "ListenDatagram") == ["127.0.0.1:53"]
    assert values_of(entries, "Install", "WantedBy") == ["sockets.target"]
    template = "[Socket]\nListenStream=9999\nSocketMode=0600\n"
    replaced = parse_unit(socket_text(template, parse_listen(["8080"])), "kv.socket")
    assert values_of(replaced, "Socket", "ListenStream") == ["8080"]  # the user's listen replaces the template's
    assert values_of(replaced, "Socket", "SocketMode") == ["0600"]
    assert values_of(parse_unit(socket_text(template, []), "kv.socket"), "Socket", "ListenStream") == ["9999"]
    with pytest.raises(SystemContainerError, match="listens on nothing"):
        check_socket(socket_text(None, []), "kv.socket")


@pytest.mark.parametrize("text, fragment", [
    ("Key=value\n", "line 1: 'Key=value' is outside any [Section]"),
    ("[Unit]\nnot an assignment\n", "line 2: 'not an assignment' is not KEY=VALUE"),
    ("[Unit\n", "line 1: '[Unit' is not a section header"),
])
def test_unit_parser_errors(text, fragment):
    with pytest.raises(SystemContainerError) as err:
        parse_unit(text, "x.service")
    assert fragment in str(err.value)


def test_unit_parser_continuations_and_comments():
    entries = parse_unit("# c\n[Service]\nExecStart=/bin/sh \\\n  -c true\n; c\n", "x.service")
    assert values_of(entries, "Service", "ExecStart") == ["/bin/sh  -c true"]


@pytest.mark.parametrize("name", ["etcd.0", "", "-x", "a b", "x" * 101, None])
def test_bad_names(name):
    with pytest.raises(SystemContainerError):
        check_name(name)


ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (package systemd)")
def test_systemd_analyze_verifies_rendered_units(tmp_path):
    destdir = str(tmp_path)
    deps = Dependencies(after=["network-online.target"], wants=["network-online.target"],
                        wanted_by=["multi-user.target"])
    (tmp_path / "kv.service").write_text(default_service(destdir, deps, socket=True))
    (tmp_path / "kv.socket").write_text(socket_text(None, parse_listen(["127.0.0.1:18080", "/run/kv.sock"])))
    done = subprocess.run([ANALYZE, "verify", "--man=no", str(tmp_path / "kv.service"), str(tmp_path / "kv.socket")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, check=False,
                          env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
    output = done.stdout.decode()
    mine = [line for line in output.splitlines() if "kv." in line]
    assert done.returncode == 0, output
    assert not mine, output


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (package systemd)")
def test_systemd_analyze_catches_a_broken_unit(tmp_path):
    # so that the test above can fail: the same call on a unit systemd cannot run
    (tmp_path / "kv.service").write_text("[Service]\nExecStart=/nonexistent/runc run kv\n")
    done = subprocess.run([ANALYZE, "verify", "--man=no", str(tmp_path / "kv.service")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=60, check=False)
    assert done.returncode != 0
