# -*- coding: utf-8 -*-
"""common/toml.py: registries.conf files read with tomllib (tomli below Python 3.11), errors
that name the file and the line, never a traceback."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common import toml
from ansible_collections.undock.oci.plugins.module_utils.common.errors import ConfigError
from ansible_collections.undock.oci.plugins.module_utils.registry.registries_conf import RegistriesConfig


def test_byte_order_mark_is_ignored_as_podman_does():
    assert toml.loads("\ufeffa = 1") == {"a": 1}


def test_error_message_has_source_then_line_and_column():
    with pytest.raises(ConfigError) as err:
        toml.loads('a = 1\nb = 2\n\n[t]\nc = "x\n', source="reg.conf")
    assert str(err.value).startswith("reg.conf: line 5, column ")
    with pytest.raises(ConfigError, match="line 3"):
        toml.loads("[a]\nx = 1\n[a]\n")
    with pytest.raises(ConfigError, match="line 2"):
        toml.loads("a = 1\na = 2\n")


def test_deep_nesting_is_a_config_error():
    with pytest.raises(ConfigError, match="reg.conf"):
        toml.loads("a = " + "[" * 5000, source="reg.conf")


def test_nested_registry_mirror_goes_under_last_registry():
    doc = toml.loads(
        '[[registry]]\nprefix = "a"\n[[registry.mirror]]\nlocation = "m1"\n'
        '[[registry]]\nprefix = "b"\n[[registry.mirror]]\nlocation = "m2"\n[[registry.mirror]]\nlocation = "m3"\n')
    assert doc == {"registry": [
        {"prefix": "a", "mirror": [{"location": "m1"}]},
        {"prefix": "b", "mirror": [{"location": "m2"}, {"location": "m3"}]},
    ]}


def test_load_reads_a_file_and_names_it(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('k = "é"\n', encoding="utf-8")
    assert toml.load(str(path)) == {"k": "é"}
    path.write_bytes(b'k = "\xff"\n')
    with pytest.raises(ConfigError, match="x.toml: not valid UTF-8"):
        toml.load(str(path))
    path.write_text("k = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="x.toml: line 1"):
        toml.load(str(path))
    with pytest.raises(ConfigError, match="cannot read"):
        toml.load(str(tmp_path / "missing.toml"))


def test_registries_conf_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "registries.conf"
    path.write_text('unqualified-search-registries = ["a.io"]\n[[registry]]\nlocation = "b.io\n')
    with pytest.raises(ConfigError, match=r"registries.conf: line 3"):
        RegistriesConfig.from_file(str(path))


def test_non_text_input_is_a_config_error():
    with pytest.raises(ConfigError):
        toml.loads(b"a = 1")  # type: ignore[arg-type]
