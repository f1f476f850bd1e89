# -*- coding: utf-8 -*-
"""Fixtures of the node layer: real systemd nodes (tests/harness/node.py), each removed at the
end of the test that booted it, and nodes left by a killed session swept once first."""

from __future__ import annotations

import os
from typing import Callable, Iterator, List

import pytest

from harness.node import Node, new_name, node_image, sweep_stale


@pytest.fixture(scope="session")
def node_store(tmp_path_factory) -> str:
    """The node image in the cached node store (built and imported on the first run)."""
    if os.geteuid() != 0:
        pytest.fail("nodes need root (runc, mounts, chroot)")
    work = str(tmp_path_factory.mktemp("node-store"))
    sweep_stale(work)
    return node_image()


@pytest.fixture
def boot_node(node_store, tmp_path) -> Iterator[Callable[..., Node]]:
    """``boot_node(prefix="node", network="host")``: a booted node with a name of its own
    (``network="bridge"``: a network namespace and an address of its own)."""
    booted: List[Node] = []

    def boot(prefix: str = "node", network: str = "host") -> Node:
        node = Node(new_name(prefix), str(tmp_path / ("node-%d" % len(booted))), network=network)
        booted.append(node)
        node.boot()
        return node
    yield boot
    for node in booted:
        node.remove()
    for node in booted:
        assert node.info() is None, "node %s was not removed" % node.name
