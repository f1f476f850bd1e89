"""Deadlines: limits that scale with size, and a timer that wakes a blocked read."""

from __future__ import annotations

import socket
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ConfigError
from ansible_collections.undock.oci.plugins.module_utils.registry.deadline import Deadline, DeadlineError
from ansible_collections.undock.oci.plugins.module_utils.registry.transfer_limits import TransferLimits


def test_blob_deadline_is_a_floor_plus_size_at_the_minimum_rate():
    limits = TransferLimits(request_timeout=10, min_transfer_rate=1000)
    assert limits.request_seconds() == 10
    assert limits.blob_seconds(5000) == 15
    assert limits.blob_seconds(None) == 10
    assert TransferLimits().blob_seconds(1 << 30) == 300 + (1 << 30) / 65536


@pytest.mark.parametrize("field, value", [("request_timeout", 0), ("request_timeout", -1),
                                          ("min_transfer_rate", 0), ("request_timeout", True),
                                          ("min_transfer_rate", "fast"), ("request_timeout", float("nan")),
                                          ("request_timeout", float("inf"))])
def test_limits_must_be_positive_numbers(field, value):
    with pytest.raises(ConfigError, match="%s must be a positive number" % field):
        TransferLimits(**{field: value})


def test_expiry_wakes_a_blocked_read_and_names_the_host():
    reader, writer = socket.socketpair()
    with reader, writer:
        reader.settimeout(30)  # the per-read timeout alone would wait this long
        deadline = Deadline(0.2, "example.com:5000", "GET /v2/a/blobs/x", "request_timeout 0.2 s")
        deadline.watch(reader)
        start = time.monotonic()
        assert reader.recv(10) == b""  # woken by the shutdown, not by the 30 s timeout
        assert time.monotonic() - start < 5
        with pytest.raises(DeadlineError, match=r"^registry example.com:5000: GET /v2/a/blobs/x did not finish "
                                                r"within 0.2 s \(request_timeout 0.2 s\)"):
            deadline.check()


def test_cancelled_deadline_leaves_its_sockets_alone():
    reader, writer = socket.socketpair()
    with reader, writer:
        deadline = Deadline(0.05, "h", "GET /", "why")
        deadline.watch(reader)
        deadline.cancel()
        time.sleep(0.15)
        deadline.check()
        writer.sendall(b"ok")
        assert reader.recv(2) == b"ok"
