# -*- coding: utf-8 -*-
"""registry/registries_conf.py, auth_files.py, tls.py and config.py: registries.conf, auth.json,
certs.d and per-task options.

Every file lives under tmp_path; nothing reads the real /etc or $HOME.
"""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ConfigError
from ansible_collections.undock.oci.plugins.module_utils.registry import registries_conf as rconf
from ansible_collections.undock.oci.plugins.module_utils.registry import tls as rtls
from ansible_collections.undock.oci.plugins.module_utils.registry.auth_files import AuthStore, Credentials
from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistryOptions
from ansible_collections.undock.oci.plugins.module_utils.registry.registries_conf import (
    BlockedRegistryError, RegistriesConfig)
from ansible_collections.undock.oci.plugins.module_utils.registry.tls import TLSFiles, certs_dir_for, resolve_tls
from ansible_collections.undock.oci.plugins.module_utils.model.reference import Reference, parse_reference

DIGEST = "sha256:" + "a" * 64


def ref(text):
    return parse_reference(text)


def names(sources):
    return [str(source.reference) for source in sources]


def conf(text, **kwargs):
    return RegistriesConfig.from_toml(text, **kwargs)


def write(path, text, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return str(path)


# -- registries.conf: parsing ----------------------------------------------------------------

def test_empty_configuration_has_defaults():
    cfg = RegistriesConfig()
    assert cfg.registries == []
    assert cfg.unqualified_search_registries == []
    assert cfg.short_name_mode == "permissive"
    assert cfg.aliases == {}
    assert cfg.credential_helpers == ["containers-auth.json"]
    assert cfg.find(ref("quay.io/a/b")) is None


def test_full_v2_document():
    cfg = conf('''
unqualified-search-registries = ["registry.fedoraproject.org", "quay.io/", "docker.io"]
short-name-mode = "disabled"
credential-helpers = ["containers-auth.json", "pass"]

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"ns/img" = "quay.io/ns/img"

[[registry]]
prefix = "example.com/foo"
location = "internal.example.net/bar/"
insecure = true

[[registry.mirror]]
location = "mirror.local:5000/foo"
insecure = true
pull-from-mirror = "tag-only"

[[registry]]
location = "blocked.example.com"
blocked = true
''', source="/x/registries.conf")
    assert cfg.unqualified_search_registries == ["registry.fedoraproject.org", "quay.io", "docker.io"]
    assert cfg.short_name_mode == "disabled"
    assert cfg.credential_helpers == ["containers-auth.json", "pass"]
    assert cfg.aliases == {"fedora": "registry.fedoraproject.org/fedora", "ns/img": "quay.io/ns/img"}
    entry = cfg.find(ref("example.com/foo/x"))
    assert entry.prefix == "example.com/foo"
    assert entry.location == "internal.example.net/bar"
    assert entry.insecure and not entry.blocked
    assert entry.mirrors == (rconf.Mirror("mirror.local:5000/foo", True, "tag-only"),)
    assert entry.source == "/x/registries.conf"
    blocked = cfg.find("blocked.example.com")
    assert blocked.prefix == blocked.location == "blocked.example.com" and blocked.blocked
    assert cfg.warnings == []


@pytest.mark.parametrize("text, message", [
    ('[[registry]]\ninsecure = true', "prefix and location are both unset"),
    ('[[registry]]\nprefix = "example.com"', "location is unset"),
    ('[[registry]]\nlocation = "http://example.com"', "URL schemes"),
    ('[[registry]]\nprefix = "https://example.com"\nlocation = "x.com"', "URL schemes"),
    ('[[registry]]\nprefix = "*.example.com/foo"', "wildcard"),
    ('[[registry]]\nprefix = "*.example.com:5000"', "wildcard"),
    ('[[registry]]\nprefix = "example.*.com"\nlocation = "x.com"', "host"),
    ('[[registry]]\nlocation = "*.example.com"', "wildcard"),
    ('[[registry]]\nlocation = "exa mple.com"', "host"),
    ('[[registry]]\nlocation = "x.com"\ninsecure = "yes"', "true or false"),
    ('[[registry]]\nlocation = "x.com"\nblocked = 1', "true or false"),
    ('[[registry]]\nlocation = "x.com"\npull-from-mirror = "all"', "only allowed in [[registry.mirror]]"),
    ('[[registry]]\nlocation = "x.com"\n[[registry.mirror]]\ninsecure = true', "mirror]] #1: location is unset"),
    ('[[registry]]\nlocation = "x.com"\n[[registry.mirror]]\nlocation = "m.com"\npull-from-mirror = "never"',
     "invalid pull-from-mirror"),
    ('[[registry]]\nlocation = "x.com"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.com"\n'
     'pull-from-mirror = "all"', "cannot be combined"),
    ('[[registry]]\nlocation = "x.com"\nmirror = "m.com"', "array of tables"),
    ('[registry]\nlocation = "x.com"', "array of tables"),
    ('[[registry]]\nprefix = "a.com"\nlocation = "x.com"\n[[registry]]\nprefix = "b.com"\nlocation = "x.com"\n'
     'insecure = true', "conflicting 'insecure'"),
    ('[[registry]]\nprefix = "a.com"\nlocation = "x.com"\nblocked = true\n[[registry]]\nprefix = "b.com"\n'
     'location = "x.com"', "conflicting 'blocked'"),
    ('unqualified-search-registries = "docker.io"', "array of strings"),
    ('unqualified-search-registries = ["docker.io/library"]', "host[:port]"),
    ('unqualified-search-registries = ["https://quay.io"]', "URL schemes"),
    ('short-name-mode = "prompt"', "invalid short-name-mode"),
    ('credential-helpers = "pass"', "array of strings"),
    ('aliases = "x"', "[aliases] must be a table"),
    ('[aliases]\n"quay.io/x" = "quay.io/x"', "short name"),
    ('[aliases]\n"x:tag" = "quay.io/x"', "short name"),
    ('[aliases]\n"x" = "quay.io/x:tag"', "fully qualified"),
    ('[aliases]\n"x" = "x"', "fully qualified"),
    ('[aliases]\n"x" = 3', "must be a string"),
    ('[aliases]\n"Bad" = "quay.io/x"', "invalid alias name"),
    ('[registries]\nsearch = 3', "must be a table"),
    ('registries = 3', "must be a table"),
    ('[registries.search]\nregistries = "a.com"', "array of strings"),
    ('[[registry]\n', "line 1"),
])
def test_invalid_documents(text, message):
    with pytest.raises(ConfigError) as err:
        conf(text, source="bad.conf")
    assert str(err.value).startswith("bad.conf")
    if message:
        assert message in str(err.value)


def test_mixing_v1_and_v2_is_rejected():
    with pytest.raises(ConfigError, match="mixing the v1 format"):
        conf('unqualified-search-registries = ["b.com"]\n[registries.search]\nregistries = ["a.com"]')


def test_unknown_keys_are_warnings_not_errors():
    cfg = conf('additional-layer-store-auth-helper = "x"\nfuture-key = 1\n[[registry]]\nlocation = "a.com"\n'
               'colour = "red"\n[[registry.mirror]]\nlocation = "m.com"\nweight = 2', source="f.conf")
    assert len(cfg.warnings) == 3
    assert all(w.startswith("f.conf") for w in cfg.warnings)
    assert any("future-key" in w for w in cfg.warnings)
    assert any("colour" in w for w in cfg.warnings)
    assert any("weight" in w for w in cfg.warnings)


def test_duplicate_prefix_in_one_file_keeps_the_first():
    cfg = conf('[[registry]]\nprefix = "a.com"\nlocation = "one.com"\n'
               '[[registry]]\nprefix = "a.com"\nlocation = "two.com"')
    assert cfg.find("a.com").location == "one.com"
    assert "appears twice" in cfg.warnings[0]


def test_v1_format_is_converted():
    cfg = conf("[registries.search]\nregistries = ['registry1.com', 'registry2.com']\n"
               "[registries.insecure]\nregistries = ['registry3.com:5000']\n"
               "[registries.block]\nregistries = ['registry.untrusted.com', 'registry3.com:5000']\n")
    assert cfg.unqualified_search_registries == ["registry1.com", "registry2.com"]
    assert cfg.is_insecure("registry3.com:5000")
    assert cfg.is_blocked("registry3.com:5000")
    assert cfg.is_blocked(ref("registry.untrusted.com/x"))
    assert not cfg.is_insecure("registry1.com")
    assert "deprecated" in cfg.warnings[0]
    with pytest.raises(BlockedRegistryError):
        cfg.pull_sources(ref("registry.untrusted.com/a/b:1"))


def test_from_dict_accepts_parsed_data():
    cfg = RegistriesConfig.from_dict({"unqualified-search-registries": ["quay.io"],
                                      "registry": [{"location": "quay.io", "insecure": True}]})
    assert cfg.is_insecure("quay.io")
    with pytest.raises(ConfigError):
        RegistriesConfig.from_dict(["not", "a", "table"])  # type: ignore[arg-type]


# -- prefix matching -------------------------------------------------------------------------

FIND_CONF = '''
[[registry]]
location = "registry.com:5000"
prefix = "simple-prefix.com"

[[registry]]
location = "another-registry.com:5000"
prefix = "complex-prefix.com:4000/with/path"

[[registry]]
location = "no-prefix.com"

[[registry]]
location = "subdomain-prefix.com"
prefix = "*.so.simple-prefix.com"

[[registry]]
location = "subdomain-prefix-2.com"
prefix = "*.simple-prefix.com"

[[registry]]
prefix = "*.internal.example.com"

[[registry]]
prefix = "docker.io/library/busybox"
location = "hub-mirror.local/library/busybox"

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry]]
prefix = "quay.io/ns/img:v1"
location = "pinned.local/img:v1-fixed"

[[registry]]
prefix = "same.example.com"
location = "exact.local"

[[registry]]
prefix = "*.example.com"
location = "wild.local"
'''


@pytest.mark.parametrize("name, location", [
    ("simple-prefix.com", "registry.com:5000"),
    ("simple-prefix.com/foo/bar:latest", "registry.com:5000"),
    ("simple-prefix.com:5000/foo", None),             # a port is not a boundary of a bare host
    ("simple-prefix.community/foo", None),
    ("complex-prefix.com:4000/with/path", "another-registry.com:5000"),
    ("complex-prefix.com:4000/with/path/img:tag", "another-registry.com:5000"),
    ("complex-prefix.com:4000/with/path:tag", "another-registry.com:5000"),
    ("complex-prefix.com:4000/with/path@" + DIGEST, "another-registry.com:5000"),
    ("complex-prefix.com:4000/with/pathology", None),
    ("complex-prefix.com:4000/with", None),
    ("complex-prefix.com/with/path/x", None),
    ("no-prefix.com/x/y", "no-prefix.com"),
    ("not.so.simple-prefix.com/x", "subdomain-prefix.com"),
    ("not.quite.simple-prefix.com/x", "subdomain-prefix-2.com"),
    ("not.quite.simple-prefix.com:5000/with/path:tag", "subdomain-prefix-2.com"),
    ("a.b.c.simple-prefix.com", "subdomain-prefix-2.com"),
    ("simple-prefix.com.evil.org/x", None),
    ("registry.internal.example.com/x", ""),
    ("docker.io/library/busybox:latest", "hub-mirror.local/library/busybox"),
    ("docker.io/library/busyboxx:latest", "docker.io"),
    ("docker.io/library/alpine", "docker.io"),
    ("quay.io/ns/img:v1", "pinned.local/img:v1-fixed"),
    ("quay.io/ns/img:v2", None),
    ("same.example.com/x", "exact.local"),          # equal lengths: the plain prefix beats the wildcard
    ("other.example.com/x", "wild.local"),
    ("example.com/x", None),                        # *.example.com needs a subdomain
])
def test_find_longest_prefix(name, location):
    cfg = conf(FIND_CONF)
    entry = cfg.find(name)
    if location is None:
        assert entry is None
    else:
        assert entry is not None and entry.location == location


def test_find_with_references():
    cfg = conf(FIND_CONF)
    assert cfg.find(ref("busybox")).location == "hub-mirror.local/library/busybox"
    assert cfg.find(ref("library/alpine:3")).location == "docker.io"
    assert cfg.find(ref("quay.io/ns/img:v1")).prefix == "quay.io/ns/img:v1"


# -- pull sources ------------------------------------------------------------------------------

MIRRORS_CONF = '''
[[registry]]
prefix = "registry-a.com/foo"
location = "registry-a.com/bar"
[[registry.mirror]]
location = "mirror-1.registry-a.com"
[[registry.mirror]]
location = "mirror-2.registry-a.com"
insecure = true

[[registry]]
prefix = "registry-b.com/foo"
location = "registry-b.com/bar"
mirror-by-digest-only = true
[[registry.mirror]]
location = "mirror-1.registry-b.com"

[[registry]]
prefix = "registry-g.com/baz"
location = "registry-g.com/bar"
insecure = true
[[registry.mirror]]
pull-from-mirror = "digest-only"
location = "mirror-1.registry-g.com"
[[registry.mirror]]
pull-from-mirror = "tag-only"
location = "mirror-2.registry-g.com"
[[registry.mirror]]
location = "mirror-3.registry-g.com"
[[registry.mirror]]
pull-from-mirror = "all"
location = "mirror-4.registry-g.com/deep/path"

[[registry]]
prefix = "*.wild.com"
[[registry.mirror]]
location = "wild-mirror.local"

[[registry]]
location = "blocked.com"
blocked = true

[[registry]]
prefix = "to-blocked.com"
location = "blocked.com/x"

[[registry]]
prefix = "partly.com"
location = "partly.com"
[[registry.mirror]]
location = "blocked.com/m"
[[registry.mirror]]
location = "fine-mirror.local"
'''


def test_pull_sources_mirrors_first_then_location():
    sources = conf(MIRRORS_CONF).pull_sources(ref("registry-a.com/foo/image:latest"))
    assert names(sources) == ["mirror-1.registry-a.com/image:latest", "mirror-2.registry-a.com/image:latest",
                              "registry-a.com/bar/image:latest"]
    assert [(s.insecure, s.mirror) for s in sources] == [(False, True), (True, True), (False, False)]
    assert all(isinstance(s.reference, Reference) and not s.reference.short_name for s in sources)


def test_pull_sources_keep_digest_and_tag():
    sources = conf(MIRRORS_CONF).pull_sources(ref("registry-a.com/foo/image:1@" + DIGEST))
    assert names(sources)[0] == "mirror-1.registry-a.com/image:1@" + DIGEST
    assert sources[0].reference.digest == DIGEST and sources[0].reference.tag == "1"


def test_mirror_by_digest_only():
    cfg = conf(MIRRORS_CONF)
    assert names(cfg.pull_sources(ref("registry-b.com/foo/image:latest"))) == ["registry-b.com/bar/image:latest"]
    assert names(cfg.pull_sources(ref("registry-b.com/foo/image@" + DIGEST))) == [
        "mirror-1.registry-b.com/image@" + DIGEST, "registry-b.com/bar/image@" + DIGEST]


def test_pull_from_mirror_per_mirror():
    cfg = conf(MIRRORS_CONF)
    by_tag = cfg.pull_sources(ref("registry-g.com/baz/image:latest"))
    assert names(by_tag) == ["mirror-2.registry-g.com/image:latest", "mirror-3.registry-g.com/image:latest",
                             "mirror-4.registry-g.com/deep/path/image:latest", "registry-g.com/bar/image:latest"]
    assert by_tag[-1].insecure and not by_tag[-1].mirror
    by_digest = cfg.pull_sources(ref("registry-g.com/baz/image@" + DIGEST))
    assert names(by_digest) == ["mirror-1.registry-g.com/image@" + DIGEST, "mirror-3.registry-g.com/image@" + DIGEST,
                                "mirror-4.registry-g.com/deep/path/image@" + DIGEST,
                                "registry-g.com/bar/image@" + DIGEST]
    # name:tag@digest pulls by digest
    both = cfg.pull_sources(ref("registry-g.com/baz/image:1@" + DIGEST))
    assert names(both)[0] == "mirror-1.registry-g.com/image:1@" + DIGEST


def test_wildcard_without_location_keeps_the_reference():
    sources = conf(MIRRORS_CONF).pull_sources(ref("a.wild.com/x/y:1"))
    assert names(sources) == ["wild-mirror.local/x/y:1", "a.wild.com/x/y:1"]


def test_no_entry_means_the_reference_itself():
    sources = conf(MIRRORS_CONF).pull_sources(ref("quay.io/x/y:1"))
    assert names(sources) == ["quay.io/x/y:1"]
    assert not sources[0].insecure and not sources[0].mirror


def test_blocked_registry_raises():
    cfg = conf(MIRRORS_CONF, source="/etc/x.conf")
    with pytest.raises(BlockedRegistryError) as err:
        cfg.pull_sources(ref("blocked.com/a/b:1"))
    assert isinstance(err.value, ConfigError)
    assert "blocked.com" in str(err.value) and "/etc/x.conf" in str(err.value)
    with pytest.raises(BlockedRegistryError):
        cfg.push_target(ref("blocked.com/a/b:1"))
    # a location rewritten into a blocked namespace is blocked too
    with pytest.raises(BlockedRegistryError):
        cfg.pull_sources(ref("to-blocked.com/a:1"))
    with pytest.raises(BlockedRegistryError):
        cfg.push_target(ref("to-blocked.com/a:1"))


def test_blocked_mirror_is_skipped():
    assert names(conf(MIRRORS_CONF).pull_sources(ref("partly.com/a:1"))) == [
        "fine-mirror.local/a:1", "partly.com/a:1"]


def test_push_target_never_uses_mirrors():
    cfg = conf(MIRRORS_CONF)
    target = cfg.push_target(ref("registry-a.com/foo/image:1"))
    assert str(target.reference) == "registry-a.com/bar/image:1"
    assert not target.mirror
    assert str(cfg.push_target(ref("registry-a.com/foo/image:1"), rewrite=False).reference) == \
        "registry-a.com/foo/image:1"
    insecure = cfg.push_target(ref("registry-g.com/baz/x:1"))
    assert insecure.insecure and str(insecure.reference) == "registry-g.com/bar/x:1"
    assert str(cfg.push_target(ref("quay.io/x:1")).reference) == "quay.io/x:1"


def test_location_rewrite_to_docker_hub_normalises():
    cfg = conf('[[registry]]\nprefix = "hub.local"\nlocation = "docker.io"')
    assert names(cfg.pull_sources(ref("hub.local/alpine:3"))) == ["docker.io/library/alpine:3"]


def test_location_rewrite_errors_are_config_errors():
    cfg = conf('[[registry]]\nprefix = "a.com/x"\nlocation = "bare"\n'
               '[[registry]]\nprefix = "b.com"\nlocation = "UPPER.com/ABC"')
    with pytest.raises(ConfigError, match="must start with a registry host"):
        cfg.pull_sources(ref("a.com/x/y:1"))
    with pytest.raises(ConfigError, match="invalid reference"):
        cfg.pull_sources(ref("b.com/y:1"))


def test_is_insecure_by_host():
    cfg = conf('[[registry]]\nlocation = "localhost:5000"\ninsecure = true\n'
               '[[registry]]\nlocation = "secure.com/ns"\ninsecure = true\n'
               '[[registry]]\nprefix = "*.lan"\ninsecure = true')
    assert cfg.is_insecure("localhost:5000")
    assert not cfg.is_insecure("localhost")
    assert not cfg.is_insecure("localhost:5001")
    assert not cfg.is_insecure("secure.com")          # only the namespace is insecure
    assert cfg.find(ref("secure.com/ns/img")).insecure
    assert cfg.is_insecure("box.lan") and cfg.is_insecure("box.lan:8443")


# -- short names ------------------------------------------------------------------------------

def test_resolve_short_name_with_search_registries():
    cfg = conf('unqualified-search-registries = ["registry.fedoraproject.org", "docker.io", "quay.io"]')
    assert [str(r) for r in cfg.resolve_short_name(ref("busybox"))] == [
        "registry.fedoraproject.org/busybox:latest", "docker.io/library/busybox:latest", "quay.io/busybox:latest"]
    assert [str(r) for r in cfg.resolve_short_name(ref("ns/app@" + DIGEST))] == [
        "registry.fedoraproject.org/ns/app@" + DIGEST, "docker.io/ns/app@" + DIGEST, "quay.io/ns/app@" + DIGEST]
    assert all(not r.short_name for r in cfg.resolve_short_name(ref("busybox:1")))


def test_resolve_short_name_defaults_to_docker_hub():
    assert [str(r) for r in RegistriesConfig().resolve_short_name(ref("alpine:3"))] == ["docker.io/library/alpine:3"]
    empty = conf("unqualified-search-registries = []")
    assert [str(r) for r in empty.resolve_short_name(ref("a/b"))] == ["docker.io/a/b:latest"]


def test_resolve_short_name_leaves_qualified_names_alone():
    qualified = ref("docker.io/library/busybox")
    assert RegistriesConfig().resolve_short_name(qualified) == [qualified]
    assert RegistriesConfig().resolve_short_name(ref("localhost/x"))[0].registry == "localhost"


def test_resolve_short_name_index_docker_io_and_duplicates():
    cfg = conf('unqualified-search-registries = ["index.docker.io", "docker.io", "localhost:5000"]')
    assert [str(r) for r in cfg.resolve_short_name(ref("busybox"))] == [
        "docker.io/library/busybox:latest", "localhost:5000/busybox:latest"]


def test_aliases_win_and_keep_tag_and_digest():
    cfg = conf('unqualified-search-registries = ["quay.io", "docker.io"]\nshort-name-mode = "enforcing"\n'
               '[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\n"ns/tool" = "ghcr.io/org/tool"')
    assert [str(r) for r in cfg.resolve_short_name(ref("fedora:39"))] == ["registry.fedoraproject.org/fedora:39"]
    assert [str(r) for r in cfg.resolve_short_name(ref("ns/tool@" + DIGEST))] == ["ghcr.io/org/tool@" + DIGEST]


def test_enforcing_mode_refuses_ambiguous_short_names():
    cfg = conf('unqualified-search-registries = ["quay.io", "docker.io"]\nshort-name-mode = "enforcing"')
    with pytest.raises(ConfigError, match="ambiguous"):
        cfg.resolve_short_name(ref("busybox"))
    single = conf('unqualified-search-registries = ["quay.io"]\nshort-name-mode = "enforcing"')
    assert [str(r) for r in single.resolve_short_name(ref("busybox"))] == ["quay.io/busybox:latest"]


# -- loading files ------------------------------------------------------------------------------

def test_load_defaults_missing_everything(tmp_path):
    cfg = RegistriesConfig.load(home=str(tmp_path / "home"), env={},
                                system_conf_path=str(tmp_path / "etc/registries.conf"),
                                system_conf_dir=str(tmp_path / "etc/registries.conf.d"))
    assert cfg.registries == [] and cfg.sources == []


def test_load_system_file_and_drop_ins_in_order(tmp_path):
    etc = tmp_path / "etc"
    main = write(etc / "registries.conf", 'unqualified-search-registries = ["a.com"]\nshort-name-mode = "enforcing"\n'
                 '[[registry]]\nprefix = "x.com"\nlocation = "x-main.com"\n'
                 '[[registry]]\nlocation = "keep.com"\ninsecure = true\n'
                 '[aliases]\n"gone" = "quay.io/gone"\n"kept" = "quay.io/kept"\n')
    write(etc / "registries.conf.d/10-first.conf", '[[registry]]\nprefix = "x.com"\nlocation = "x-10.com"\n')
    write(etc / "registries.conf.d/20-second.conf",
          'unqualified-search-registries = ["b.com", "c.com"]\n'
          '[[registry]]\nprefix = "x.com"\nlocation = "x-20.com"\n[aliases]\n"gone" = ""\n"new" = "quay.io/new"\n')
    write(etc / "registries.conf.d/05-early.conf", 'short-name-mode = "disabled"\n')
    write(etc / "registries.conf.d/99-ignored.txt", "this is not TOML [[[")
    (etc / "registries.conf.d/50-dir.conf").mkdir()
    home = tmp_path / "home"
    write(home / ".config/containers/registries.conf.d/00-user.conf", 'unqualified-search-registries = ["u.com"]\n')
    cfg = RegistriesConfig.load(home=str(home), env={}, system_conf_path=main,
                                system_conf_dir=str(etc / "registries.conf.d"))
    # user drop-ins come after the system ones
    assert cfg.unqualified_search_registries == ["u.com"]
    assert cfg.short_name_mode == "disabled"
    assert cfg.find("x.com").location == "x-20.com"
    assert cfg.find("x.com").source.endswith("20-second.conf")
    assert cfg.is_insecure("keep.com")
    assert cfg.aliases == {"kept": "quay.io/kept", "new": "quay.io/new"}
    assert [os.path.basename(s) for s in cfg.sources] == [
        "registries.conf", "05-early.conf", "10-first.conf", "20-second.conf", "00-user.conf"]


def test_user_registries_conf_replaces_system_file(tmp_path):
    etc = tmp_path / "etc"
    main = write(etc / "registries.conf", '[[registry]]\nlocation = "system.com"\ninsecure = true\n')
    write(etc / "registries.conf.d/10.conf", '[[registry]]\nlocation = "sysdropin.com"\ninsecure = true\n')
    home = tmp_path / "home"
    write(home / ".config/containers/registries.conf", 'unqualified-search-registries = ["user.com"]\n')
    write(home / ".config/containers/registries.conf.d/10.conf", '[[registry]]\nlocation = "userdropin.com"\n')
    cfg = RegistriesConfig.load(home=str(home), env={}, system_conf_path=main,
                                system_conf_dir=str(etc / "registries.conf.d"))
    assert cfg.unqualified_search_registries == ["user.com"]
    assert cfg.find("system.com") is None
    assert cfg.find("sysdropin.com") is None          # the system drop-ins go with the system file
    assert cfg.find("userdropin.com") is not None


def test_explicit_paths(tmp_path):
    explicit = write(tmp_path / "my.conf", 'unqualified-search-registries = ["mine.com"]\n')
    drop = tmp_path / "d"
    write(drop / "1.conf", '[[registry]]\nlocation = "d.com"\nblocked = true\n')
    home = tmp_path / "home"
    write(home / ".config/containers/registries.conf", 'unqualified-search-registries = ["user.com"]\n')
    write(home / ".config/containers/registries.conf.d/1.conf", '[[registry]]\nlocation = "user-drop.com"\n')
    cfg = RegistriesConfig.load(conf_path=explicit, conf_dir=str(drop), home=str(home), env={})
    assert cfg.unqualified_search_registries == ["mine.com"]
    assert cfg.is_blocked("d.com") and cfg.find("user-drop.com") is None
    # $CONTAINERS_REGISTRIES_CONF stands for conf_path
    env_cfg = RegistriesConfig.load(conf_dir=str(drop), home=str(home), env={"CONTAINERS_REGISTRIES_CONF": explicit})
    assert env_cfg.unqualified_search_registries == ["mine.com"]
    with pytest.raises(ConfigError, match="cannot read"):
        RegistriesConfig.load(conf_path=str(tmp_path / "missing.conf"), conf_dir=str(drop), home="", env={})


def test_drop_ins_must_be_v2(tmp_path):
    drop = tmp_path / "d"
    write(drop / "1.conf", "[registries.search]\nregistries = ['a.com']\n")
    with pytest.raises(ConfigError, match="v2 format"):
        RegistriesConfig.load(conf_path=write(tmp_path / "r.conf", ""), conf_dir=str(drop), home="", env={})


def test_drop_in_can_clear_search_registries(tmp_path):
    drop = tmp_path / "d"
    write(drop / "1.conf", "unqualified-search-registries = []\n")
    main = write(tmp_path / "r.conf", 'unqualified-search-registries = ["a.com"]\n')
    cfg = RegistriesConfig.load(conf_path=main, conf_dir=str(drop), home="", env={})
    assert cfg.unqualified_search_registries == []


def test_load_errors_name_the_file(tmp_path):
    drop = tmp_path / "d"
    bad = write(drop / "2-bad.conf", "[[registry]]\nlocation = \n")
    with pytest.raises(ConfigError) as err:
        RegistriesConfig.load(conf_path=write(tmp_path / "r.conf", ""), conf_dir=str(drop), home="", env={})
    assert str(err.value).startswith(bad + ": line 2")
    (tmp_path / "bin.conf").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        RegistriesConfig.from_file(str(tmp_path / "bin.conf"))


def test_merge_is_pure():
    base = conf('unqualified-search-registries = ["a.com"]\n[[registry]]\nlocation = "x.com"')
    over = conf('[[registry]]\nlocation = "x.com"\ninsecure = true')
    merged = base.merge(over)
    assert merged.is_insecure("x.com") and not base.is_insecure("x.com")
    assert merged.unqualified_search_registries == ["a.com"]
    assert "RegistriesConfig(" in repr(merged)


# -- auth.json ------------------------------------------------------------------------------------

def b64(text):
    return base64.b64encode(text.encode()).decode()


def auth_file(path, auths, **extra):
    data = dict(extra)
    data["auths"] = auths
    return write(path, json.dumps(data))


@pytest.fixture
def auth_env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    runtime = tmp_path / "run"
    runtime.mkdir()
    return {"home": home, "runtime": runtime, "env": {"XDG_RUNTIME_DIR": str(runtime)}}


def store_for(auth_env, **kwargs):
    return AuthStore(env=auth_env["env"], home=str(auth_env["home"]), **kwargs)


def test_credentials_repr_hides_secrets():
    creds = Credentials("alice", "s3cret", identity_token="tok3n")
    assert "s3cret" not in repr(creds) and "tok3n" not in repr(creds) and "s3cret" not in str(creds)
    assert "alice" in repr(creds)
    assert creds.password == "s3cret"


def test_lookup_chain_order(auth_env):
    home, runtime = auth_env["home"], auth_env["runtime"]
    store = store_for(auth_env)
    assert [p for p, _legacy in store.read_paths()] == [
        str(runtime / "containers/auth.json"), str(home / ".config/containers/auth.json"),
        str(home / ".docker/config.json"), str(home / ".dockercfg")]
    assert store.credentials_for(ref("quay.io/a/b")) is None

    auth_file(home / ".docker/config.json", {"quay.io": {"auth": b64("docker:d")},
                                             "ghcr.io": {"auth": b64("docker:g")}})
    assert store.credentials_for(ref("quay.io/a/b")).username == "docker"
    auth_file(home / ".config/containers/auth.json", {"quay.io": {"auth": b64("config:c")}})
    assert store.credentials_for(ref("quay.io/a/b")).username == "config"
    auth_file(runtime / "containers/auth.json", {"quay.io": {"auth": b64("runtime:r")}})
    creds = store.credentials_for(ref("quay.io/a/b"))
    assert (creds.username, creds.password) == ("runtime", "r")
    assert str(runtime) in creds.source
    # a file without a match lets the search go on to the next one
    assert store.credentials_for(ref("ghcr.io/x")).username == "docker"


def test_environment_overrides(auth_env, tmp_path):
    home = auth_env["home"]
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "DOCKER_CONFIG": str(tmp_path / "dockercfg"),
           "XDG_RUNTIME_DIR": str(auth_env["runtime"])}
    store = AuthStore(env=env, home=str(home))
    assert [p for p, _legacy in store.read_paths()][1:3] == [
        str(tmp_path / "xdg/containers/auth.json"), str(tmp_path / "dockercfg/config.json")]
    auth_file(tmp_path / "dockercfg/config.json", {"quay.io": {"auth": b64("dc:1")}})
    assert store.credentials_for("quay.io").username == "dc"
    # no XDG_RUNTIME_DIR: /run/containers/UID/auth.json
    assert AuthStore(env={}, home=str(home), uid=1234).primary_path() == "/run/containers/1234/auth.json"


def test_registry_auth_file_and_explicit_file_replace_the_chain(auth_env, tmp_path):
    auth_file(auth_env["runtime"] / "containers/auth.json", {"quay.io": {"auth": b64("chain:1")}})
    special = auth_file(tmp_path / "special.json", {"other.io": {"auth": b64("special:1")}})
    env = dict(auth_env["env"], REGISTRY_AUTH_FILE=special)
    store = AuthStore(env=env, home=str(auth_env["home"]))
    assert store.read_paths() == [(special, False)]
    assert store.credentials_for("quay.io") is None
    assert store.credentials_for("other.io").username == "special"
    explicit = auth_file(tmp_path / "explicit.json", {"quay.io": {"auth": b64("explicit:1")}})
    store = AuthStore(auth_file=explicit, env=env, home=str(auth_env["home"]))
    assert store.credentials_for("quay.io").username == "explicit"
    assert store.primary_path() == explicit


def test_most_specific_key_wins(auth_env):
    auth_file(auth_env["runtime"] / "containers/auth.json", {
        "my-registry.local/foo/bar/image": {"auth": b64("image:1")},
        "my-registry.local/foo": {"auth": b64("foo:1")},
        "my-registry.local": {"auth": b64("host:1")},
        "my-registry.local:5000": {"auth": b64("port:1")},
    })
    store = store_for(auth_env)
    assert store.credentials_for(ref("my-registry.local/foo/bar/image:tag")).username == "image"
    assert store.credentials_for(ref("my-registry.local/foo/bar/other@" + DIGEST)).username == "foo"
    assert store.credentials_for(ref("my-registry.local/foo/x")).username == "foo"
    assert store.credentials_for(ref("my-registry.local/foobar/x")).username == "host"
    assert store.credentials_for(ref("my-registry.local/x")).username == "host"
    assert store.credentials_for(ref("my-registry.local:5000/x")).username == "port"
    assert store.credentials_for(ref("my-registry.local:5001/x")) is None


@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io",
                                 "registry-1.docker.io", "http://docker.io"])
def test_docker_hub_keys(auth_env, key):
    auth_file(auth_env["home"] / ".docker/config.json", {key: {"auth": b64("hub:pw")}})
    creds = store_for(auth_env).credentials_for(ref("busybox"))
    assert creds is not None and (creds.username, creds.password) == ("hub", "pw")


def test_url_keys_for_other_registries(auth_env):
    auth_file(auth_env["home"] / ".docker/config.json", {"https://quay.io/v2/": {"auth": b64("url:1")}})
    assert store_for(auth_env).credentials_for(ref("quay.io/a/b")).username == "url"


def test_legacy_dockercfg(auth_env):
    write(auth_env["home"] / ".dockercfg", json.dumps({"https://quay.io/v1/": {"auth": b64("legacy:1")}}))
    assert store_for(auth_env).credentials_for(ref("quay.io/a/b")).username == "legacy"


def test_identity_token_and_odd_entries(auth_env):
    auth_file(auth_env["runtime"] / "containers/auth.json", {
        "token.io": {"auth": b64("user:"), "identitytoken": "refresh"},
        "onlytoken.io": {"identitytoken": "refresh2"},
        "helper.io": {},
        "nocolon.io": {"auth": b64("nocolon")},
        "nul.io": {"auth": b64("u:p\x00\x00")},
        "colon.io": {"auth": b64("u:pa:ss")},
    })
    store = store_for(auth_env)
    token = store.credentials_for("token.io")
    assert (token.username, token.password, token.identity_token) == ("user", "", "refresh")
    assert store.credentials_for("onlytoken.io").identity_token == "refresh2"
    assert store.credentials_for("helper.io") is None          # a credential-helper marker, no helper named
    assert store.credentials_for("nocolon.io") is None
    assert store.credentials_for("nul.io").password == "p"
    assert store.credentials_for("colon.io").password == "pa:ss"


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"auths": []}', '"auths" must be'),
    ('{"auths": {"quay.io": "x"}}', "must be a JSON object"),
    ('{"auths": {"quay.io": {"auth": "!!!notbase64"}}}', "not base64"),
    ('{"auths": {"quay.io": {"auth": 3}}}', "auth must be a string"),
    ('{"auths": {"quay.io": {"identitytoken": 3}}}', "identitytoken must be a string"),
])
def test_malformed_auth_files(auth_env, content, message):
    path = write(auth_env["runtime"] / "containers/auth.json", content)
    with pytest.raises(ConfigError) as err:
        store_for(auth_env).credentials_for("quay.io")
    assert message in str(err.value) and path in str(err.value)
    assert "notbase64" not in str(err.value)


def test_empty_auth_file_is_no_credentials(auth_env):
    write(auth_env["runtime"] / "containers/auth.json", "  \n")
    assert store_for(auth_env).credentials_for("quay.io") is None


def test_unreadable_auth_file_is_an_error(auth_env):
    (auth_env["runtime"] / "containers" / "auth.json").mkdir(parents=True)
    with pytest.raises(ConfigError, match="cannot read credentials file"):
        store_for(auth_env).credentials_for("quay.io")


@pytest.mark.parametrize("key", ["https://quay.io", "quay.io/x@sha256", "quay.io/x:tag", "", "bad host"])
def test_invalid_keys(auth_env, key):
    with pytest.raises(ConfigError):
        store_for(auth_env).credentials_for(key)


def test_save_writes_atomically_with_mode_0600(auth_env):
    store = store_for(auth_env)
    path = auth_env["runtime"] / "containers" / "auth.json"
    assert store.save("quay.io", "alice", "pw:with:colons") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert base64.b64decode(data["auths"]["quay.io"]["auth"]).decode() == "alice:pw:with:colons"
    assert store.save("quay.io", "alice", "pw:with:colons") is False       # unchanged
    creds = store.credentials_for(ref("quay.io/a/b"))
    assert (creds.username, creds.password) == ("alice", "pw:with:colons")
    # other keys and entries survive
    data["credHelpers"] = {"x.io": "pass"}
    path.write_text(json.dumps(data))
    assert store.save("index.docker.io", "bob", "pw2")
    data = json.loads(path.read_text())
    assert set(data["auths"]) == {"quay.io", "docker.io"}
    assert data["credHelpers"] == {"x.io": "pass"}
    assert store.credentials_for(ref("alpine")).username == "bob"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p for p in os.listdir(path.parent) if p.startswith(".tmp")] == []


def test_save_namespaced_and_remove(auth_env):
    store = store_for(auth_env)
    store.save("quay.io", "host", "1")
    store.save("quay.io/team", "team", "2")
    assert store.credentials_for(ref("quay.io/team/app")).username == "team"
    assert store.remove("quay.io/team") is True
    assert store.remove("quay.io/team") is False
    assert store.credentials_for(ref("quay.io/team/app")).username == "host"


def test_save_rejects_bad_input(auth_env):
    store = store_for(auth_env)
    with pytest.raises(ConfigError):
        store.save("https://quay.io", "a", "b")
    with pytest.raises(ConfigError, match="user name"):
        store.save("quay.io", "a:b", "c")
    with pytest.raises(ConfigError, match="user name"):
        store.save("quay.io", "", "c")


def test_save_to_explicit_file(tmp_path):
    target = tmp_path / "sub" / "auth.json"
    store = AuthStore(auth_file=str(target), env={}, home=str(tmp_path))
    store.save("localhost:5000", "u", "p")
    assert json.loads(target.read_text())["auths"]["localhost:5000"]["auth"] == b64("u:p")


# -- certs.d ------------------------------------------------------------------------------------

def test_certs_dir_for(tmp_path):
    first, second = tmp_path / "containers", tmp_path / "docker"
    host = "my-registry.com:5000"
    write(first / host / "ca.crt", "CA")
    write(first / host / "z-extra.crt", "CA2")
    write(first / host / "client.cert", "CERT")
    write(first / host / "client.key", "KEY")
    write(first / host / "b.cert", "CERT")
    write(first / host / "b.key", "KEY")
    write(first / host / "README", "ignored")
    (first / host / "sub.crt").mkdir()
    write(second / host / "ignored.crt", "shadowed: the first directory found wins")
    files = certs_dir_for(host, (str(first), str(second)))
    assert files.directory == str(first / host)
    assert files.ca_certs == [str(first / host / "ca.crt"), str(first / host / "z-extra.crt")]
    assert files.client_pairs == [(str(first / host / "b.cert"), str(first / host / "b.key")),
                                  (str(first / host / "client.cert"), str(first / host / "client.key"))]
    assert (files.client_cert, files.client_key) == files.client_pairs[0]
    other = certs_dir_for("other.com", (str(first), str(second)))
    assert other == TLSFiles()
    write(second / "only-docker.com" / "ca.crt", "CA")
    assert certs_dir_for("only-docker.com", (str(first), str(second))).ca_certs == [
        str(second / "only-docker.com" / "ca.crt")]


def test_certs_dir_unpaired_files(tmp_path):
    write(tmp_path / "a.com" / "client.cert", "CERT")
    with pytest.raises(ConfigError, match="has no key"):
        certs_dir_for("a.com", (str(tmp_path),))
    write(tmp_path / "b.com" / "client.key", "KEY")
    with pytest.raises(ConfigError, match="has no certificate"):
        certs_dir_for("b.com", (str(tmp_path),))


@pytest.mark.parametrize("host", ["", "..", "a/b", "../etc"])
def test_certs_dir_rejects_path_like_hosts(tmp_path, host):
    with pytest.raises(ConfigError):
        certs_dir_for(host, (str(tmp_path),))


# -- per-task options and TLS ---------------------------------------------------------------------

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def tls_env(tmp_path):
    base = write(tmp_path / "roots.pem", "-----BEGIN CERTIFICATE-----\nROOTS\n-----END CERTIFICATE-----\n")
    return {"home": str(tmp_path / "home"), "base_ca_files": [base], "bundle_dir": str(tmp_path / "bundles"),
            "tmp": tmp_path}


def tls(host, tls_env, **kwargs):
    return resolve_tls(host, home=tls_env["home"], base_ca_files=tls_env["base_ca_files"],
                       bundle_dir=tls_env["bundle_dir"], **kwargs)


def test_registry_options_validation_and_repr():
    opts = RegistryOptions(username="u", password="hunter2", validate_certs=False)
    assert "hunter2" not in repr(opts) and "'u'" in repr(opts)
    with pytest.raises(ConfigError):
        RegistryOptions(username="u")
    with pytest.raises(ConfigError):
        RegistryOptions(client_cert="/c")
    with pytest.raises(ConfigError):
        RegistryOptions(client_key="/k")
    with pytest.raises(ConfigError):
        RegistryOptions(validate_certs="no")  # type: ignore[arg-type]
    params = {"validate_certs": None, "auth_file": "/a.json", "name": "ignored", "certs_dir": "/c"}
    from_params = RegistryOptions.from_params(params)
    assert from_params.auth_file == "/a.json" and from_params.certs_dir == "/c" and from_params.username is None


def test_registry_options_credentials(tmp_path):
    path = auth_file(tmp_path / "a.json", {"quay.io": {"auth": b64("file:1")}})
    assert RegistryOptions(auth_file=path).credentials_for(ref("quay.io/x")).username == "file"
    task = RegistryOptions(auth_file=path, username="task", password="pw").credentials_for(ref("quay.io/x"))
    assert (task.username, task.password, task.source) == ("task", "pw", "task options")
    store = RegistryOptions(auth_file=path).auth_store(env={}, home=str(tmp_path))
    assert store.read_paths() == [(path, False)]


def test_registry_options_registries_config(tmp_path):
    main = write(tmp_path / "r.conf", 'unqualified-search-registries = ["mine.com"]\n')
    drop = tmp_path / "d"
    drop.mkdir()
    cfg = RegistryOptions(registries_conf=main, registries_conf_dir=str(drop)).registries_config(home="", env={})
    assert cfg.unqualified_search_registries == ["mine.com"]


def test_tls_defaults_verify(tls_env):
    settings = tls("quay.io", tls_env)
    assert settings == rtls.TLSSettings(verify=True, cert=None, insecure=False, ca_certs=())


def test_tls_insecure_from_registries_conf(tls_env):
    cfg = conf('[[registry]]\nlocation = "localhost:5000"\ninsecure = true')
    settings = tls("localhost:5000", tls_env, config=cfg)
    assert settings.verify is False and settings.insecure
    # per-task validate_certs wins over the file, both ways
    assert tls("localhost:5000", tls_env, config=cfg, opts=RegistryOptions(validate_certs=True)).verify is True
    assert tls("quay.io", tls_env, config=cfg, opts=RegistryOptions(validate_certs=False)).insecure
    # a PullSource's insecure flag (mirrors) is used when the caller passes it
    assert tls("mirror.local", tls_env, config=cfg, insecure=True).verify is False
    assert tls("localhost:5000", tls_env, config=cfg, insecure=False).verify is True


def test_tls_certs_d_from_home_and_ca_bundle(tls_env):
    host_dir = os.path.join(tls_env["home"], ".config/containers/certs.d/reg.local:5000")
    os.makedirs(host_dir)
    with open(os.path.join(host_dir, "ca.crt"), "w") as handle:
        handle.write(CA_PEM)
    for name in ("client.cert", "client.key"):
        with open(os.path.join(host_dir, name), "w") as handle:
            handle.write("x")
    settings = tls("reg.local:5000", tls_env)
    assert settings.cert == (os.path.join(host_dir, "client.cert"), os.path.join(host_dir, "client.key"))
    assert settings.ca_certs == (os.path.join(host_dir, "ca.crt"),)
    assert isinstance(settings.verify, str) and settings.verify.startswith(tls_env["bundle_dir"])
    with open(settings.verify) as handle:
        bundle = handle.read()
    assert "ROOTS" in bundle and "MIIB" in bundle            # default roots plus the registry's CA
    assert stat.S_IMODE(os.stat(tls_env["bundle_dir"]).st_mode) == 0o700
    # the same inputs reuse the same bundle
    assert tls("reg.local:5000", tls_env).verify == settings.verify


def test_tls_task_options_win(tls_env):
    tmp = tls_env["tmp"]
    certs = tmp / "certs"
    write(certs / "reg.local" / "ca.crt", CA_PEM)
    write(certs / "reg.local" / "dir.cert", "x")
    write(certs / "reg.local" / "dir.key", "x")
    ca = write(tmp / "task-ca.pem", CA_PEM.replace("MIIB", "TASK"))
    opts = RegistryOptions(certs_dir=str(certs), ca_cert=ca, client_cert="/task.cert", client_key="/task.key")
    settings = tls("reg.local", tls_env, opts=opts)
    assert settings.cert == ("/task.cert", "/task.key")
    assert settings.ca_certs == (ca, str(certs / "reg.local" / "ca.crt"))
    with open(settings.verify) as handle:
        assert "TASK" in handle.read()
    # with only certs_dir set, the certs.d files are used
    settings = tls("reg.local", tls_env, opts=RegistryOptions(certs_dir=str(certs)))
    assert settings.cert == (str(certs / "reg.local" / "dir.cert"), str(certs / "reg.local" / "dir.key"))
    # validate_certs=false keeps the client certificate but verifies nothing
    settings = tls("reg.local", tls_env, opts=RegistryOptions(certs_dir=str(certs), validate_certs=False))
    assert settings.verify is False and settings.insecure and settings.cert is not None


def test_tls_bad_ca_file(tls_env):
    tmp = tls_env["tmp"]
    not_pem = write(tmp / "not.pem", "hello")
    with pytest.raises(ConfigError, match="no PEM certificate"):
        tls("a.com", tls_env, opts=RegistryOptions(ca_cert=not_pem, certs_dir=str(tmp / "none")))
    with pytest.raises(ConfigError, match="cannot read CA"):
        tls("a.com", tls_env, opts=RegistryOptions(ca_cert=str(tmp / "missing.pem"), certs_dir=str(tmp / "none")))


def test_ca_bundle_refuses_a_shared_directory(tls_env):
    shared = tls_env["tmp"] / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    ca = write(tls_env["tmp"] / "ca.pem", CA_PEM)
    with pytest.raises(ConfigError, match="mode 0700"):
        rtls.ca_bundle([ca], base_files=[], bundle_dir=str(shared))


def test_tls_settings_ssl_context(tls_env):
    context = rtls.TLSSettings(verify=False, insecure=True).ssl_context()
    assert context.verify_mode == rtls.ssl.CERT_NONE and not context.check_hostname
    assert rtls.TLSSettings().ssl_context().verify_mode == rtls.ssl.CERT_REQUIRED


def test_default_ca_files_honour_requests_ca_bundle(tmp_path):
    bundle = write(tmp_path / "corp.pem", CA_PEM)
    files = rtls.default_ca_files(env={"REQUESTS_CA_BUNDLE": bundle})
    assert files[0] == bundle
    assert bundle not in rtls.default_ca_files(env={})


def _self_signed_ca(tmp_path, name):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path = tmp_path / (name + ".pem")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = tmp_path / (name + ".key")
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_generated_bundle_is_loadable_by_openssl(tls_env):
    tmp = tls_env["tmp"]
    root, _key = _self_signed_ca(tmp, "default-root")
    registry_ca, _key = _self_signed_ca(tmp, "registry-ca")
    client_cert, client_key = _self_signed_ca(tmp, "client")
    certs = tmp / "certs" / "reg.local:5000"
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_text(open(registry_ca).read())
    (certs / "me.cert").write_text(open(client_cert).read())
    (certs / "me.key").write_text(open(client_key).read())
    settings = resolve_tls("reg.local:5000", RegistryOptions(certs_dir=str(tmp / "certs")), base_ca_files=[root],
                           bundle_dir=tls_env["bundle_dir"])
    context = rtls.ssl.create_default_context(cafile=settings.verify)
    subjects = sorted(dict(item[0] for item in c["subject"])["commonName"] for c in context.get_ca_certs())
    assert subjects == ["default-root", "registry-ca"]
    context = settings.ssl_context()
    assert "registry-ca" in str(context.get_ca_certs())
    assert context.verify_mode == rtls.ssl.CERT_REQUIRED


def test_no_home_directory_skips_home_files(tmp_path):
    store = AuthStore(env={"XDG_RUNTIME_DIR": str(tmp_path)}, home="")
    assert store.read_paths() == [(str(tmp_path / "containers/auth.json"), False)]
    store.save("registry-1.docker.io", "u", "p")
    assert store.remove("index.docker.io") is True
