# -*- coding: utf-8 -*-
"""model.pending: deferred schema checks run once, in order; a failure sticks and wins."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ManifestError
from ansible_collections.undock.oci.plugins.module_utils.model.pending import PendingChecks

pytestmark = pytest.mark.unit


def test_checks_run_once_in_order():
    ran = []
    checks = PendingChecks()
    checks.add(lambda: ran.append(1))
    checks.add(lambda: ran.append(2))
    assert checks
    checks.run()
    checks.run()
    assert ran == [1, 2] and not checks


def test_a_failed_check_fails_every_later_run_without_running_the_rest():
    ran = []

    def bad():
        ran.append("bad")
        raise ManifestError("manifest sha256:x: $.layers: bad")
    checks = PendingChecks()
    checks.add(bad)
    checks.add(lambda: ran.append("after"))
    for dummy in range(2):
        with pytest.raises(ManifestError, match="layers: bad"):
            checks.run()
    assert ran == ["bad"]


def test_first_reports_the_schema_error_over_what_the_bad_document_broke():
    def bad():
        raise ManifestError("image config: $.config.Env: not an array")
    checks = PendingChecks()
    checks.add(bad)
    with pytest.raises(ManifestError, match="Env: not an array") as err:
        with checks.first():
            int("not a size")
    assert isinstance(err.value.__context__, ValueError)
    with pytest.raises(ManifestError):  # and again: the check's own error passes through unchanged
        with checks.first():
            checks.run()


def test_first_lets_other_errors_through_once_the_checks_pass():
    checks = PendingChecks()
    checks.add(lambda: None)
    with pytest.raises(ValueError):
        with checks.first():
            int("x")
    assert not checks
