from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import UndockError
from ansible_collections.undock.oci.plugins.module_utils.image.prune import (
    PruneFilters, _labels_match, parse_cutoff, parse_time)

NOW = 1_700_000_000.0


@pytest.mark.parametrize("text,seconds", [
    ("36h", 36 * 3600), ("7d", 7 * 86400), ("1h30m", 5400), ("2w", 14 * 86400), ("45s", 45), ("1d12h", 129600),
])
def test_durations(text, seconds):
    assert parse_cutoff(text, NOW) == NOW - seconds


@pytest.mark.parametrize("text,expected", [
    ("2023-11-14T22:13:20Z", 1_700_000_000.0),
    ("2023-11-14T22:13:20.123456789Z", 1_700_000_000.0),
    ("2023-11-15T00:13:20+02:00", 1_700_000_000.0),
    ("2023-11-14", 1_699_920_000.0),
])
def test_times(text, expected):
    assert parse_time(text) == expected
    assert parse_cutoff(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "7x", "2023-13", "h"])
def test_bad_cutoff(text):
    with pytest.raises(UndockError, match="neither a duration"):
        parse_cutoff(text, NOW)


def test_labels_and_filters():
    labels = {"team": "a", "tier": ""}
    assert _labels_match(labels, ["team", "team=a", "tier="])
    assert not _labels_match(labels, ["team=b"])
    assert not _labels_match(labels, ["missing"])
    assert not PruneFilters().any()
    assert PruneFilters(labels=["x"]).any()
