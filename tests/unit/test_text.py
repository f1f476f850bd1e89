# -*- coding: utf-8 -*-
"""Numbers read from outside are ASCII digits only."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.text import is_decimal
from ansible_collections.undock.oci.plugins.module_utils.common.errors import RegistryError
from ansible_collections.undock.oci.plugins.module_utils.registry.failures import content_length, host_and_port
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.errors import NetworkError
from ansible_collections.undock.oci.plugins.module_utils.runtime.network.ports import parse_port

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text", ["²", "٣", "1²", "", " 1", "-1", "1.0"])
def test_not_decimal(text):
    assert not is_decimal(text)


def test_decimal():
    assert is_decimal("0123456789")


def test_superscript_port_falls_back_to_the_default():
    assert host_and_port("registry.example:²", 443) == ("registry.example", 443)


def test_superscript_published_port_is_refused():
    with pytest.raises(NetworkError):
        parse_port("8080:²")


def test_superscript_content_length_is_a_clear_error():
    with pytest.raises(RegistryError, match="not a number"):
        content_length({"Content-Length": "1²"}, "registry.example", "GET /v2/")
