# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``registries.conf`` (v2, and the deprecated v1) plus the ``registries.conf.d/*.conf``
drop-ins, read the way containers/image reads them: search registries, short-name
aliases, prefix rewrites, mirrors, ``insecure`` and ``blocked``.

Nothing here touches the network, and every path can be passed explicitly so that tests
never read ``/etc`` or ``$HOME``. ``docs/configuration.md`` describes the same rules.
"""

from __future__ import annotations

import errno
import os
import re
from collections import namedtuple
from collections.abc import Mapping  # for isinstance (typing.Mapping is an alias of it)

from ..common.errors import ConfigError, InvalidReferenceError
from ..common.toml import load as toml_load
from ..common.toml import loads as toml_loads
from ..model.reference import DEFAULT_REGISTRY, LEGACY_DEFAULT_REGISTRY, Reference, parse_reference, short_name_path

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Union

SYSTEM_REGISTRIES_CONF = "/etc/containers/registries.conf"
SYSTEM_REGISTRIES_CONF_DIR = "/etc/containers/registries.conf.d"
USER_REGISTRIES_CONF = os.path.join(".config", "containers", "registries.conf")        # under $HOME
USER_REGISTRIES_CONF_DIR = os.path.join(".config", "containers", "registries.conf.d")  # under $HOME

MIRROR_ALL = "all"
MIRROR_DIGEST_ONLY = "digest-only"
MIRROR_TAG_ONLY = "tag-only"
PULL_FROM_MIRROR_VALUES = (MIRROR_ALL, MIRROR_DIGEST_ONLY, MIRROR_TAG_ONLY)

SHORT_NAME_ENFORCING = "enforcing"
SHORT_NAME_PERMISSIVE = "permissive"
SHORT_NAME_DISABLED = "disabled"
SHORT_NAME_MODES = (SHORT_NAME_ENFORCING, SHORT_NAME_PERMISSIVE, SHORT_NAME_DISABLED)
DEFAULT_SHORT_NAME_MODE = SHORT_NAME_PERMISSIVE

# host[:port] as the distribution reference grammar spells it (IPv6 in brackets).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_RE = re.compile(r"(?:%s(?:\.%s)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT))
_DOCKER_HUB_HOSTS = (DEFAULT_REGISTRY, LEGACY_DEFAULT_REGISTRY)

_V2_KEYS = ("registry", "unqualified-search-registries", "short-name-mode", "aliases",
            "credential-helpers", "additional-layer-store-auth-helper")
_REGISTRY_KEYS = ("prefix", "location", "insecure", "blocked", "mirror", "mirror-by-digest-only")
_MIRROR_KEYS = ("location", "insecure", "pull-from-mirror")


class BlockedRegistryError(ConfigError):
    """registries.conf marks the registry (or the namespace) as ``blocked = true``."""


class Mirror(namedtuple("Mirror", "location insecure pull_from_mirror", defaults=(False, MIRROR_ALL))):
    """One ``[[registry.mirror]]`` table: location (str), insecure (bool), pull_from_mirror (str)."""

    __slots__ = ()


class RegistryEntry(namedtuple("RegistryEntry", "prefix location insecure blocked mirrors mirror_by_digest_only source",
                               defaults=("", False, False, (), False, ""))):
    """One ``[[registry]]`` table, after defaults (``prefix`` defaults to ``location``).

    ``location`` is empty only for a wildcard prefix (``*.example.com``): the
    reference is then used as it is, but ``insecure``, ``blocked`` and the mirrors apply.

    prefix, location, source (str); insecure, blocked, mirror_by_digest_only (bool);
    mirrors (Tuple[Mirror, ...]).
    """

    __slots__ = ()

    @property
    def wildcard(self) -> bool:
        return self.prefix.startswith("*.")

    def match_length(self, name: str) -> int:
        """How much of ``name`` this prefix covers, or -1 if it does not match.

        ``name`` is ``host[:port]``, ``host[:port]/path`` or a whole reference with tag
        and digest. A prefix matches the whole host, or up to a ``/`` boundary; once a
        prefix names a repository, ``:tag`` and ``@digest`` are boundaries too (so
        ``example.com`` never matches ``example.com:5000``). ``*.example.com`` matches
        any subdomain of example.com, on any port.
        """
        prefix = self.prefix
        if self.wildcard:
            host_port = name.split("/", 1)[0]
            host = host_port
            if not host.startswith("[") and ":" in host:
                host = host.rsplit(":", 1)[0]
            suffix = prefix[1:]
            if len(host) > len(suffix) and host.endswith(suffix):
                return len(host)
            return -1
        if name == prefix:
            return len(prefix)
        if not name.startswith(prefix):
            return -1
        follower = name[len(prefix)]
        if follower == "/" or (follower in ":@" and "/" in prefix):
            return len(prefix)
        return -1


class PullSource(namedtuple("PullSource", "reference insecure mirror", defaults=(False, False))):
    """Where to fetch (or push) an image: the rewritten reference (Reference) and its TLS policy
    (insecure: bool); mirror (bool)."""

    __slots__ = ()


def check_host(value: str, what: str, source: str) -> str:
    if not _HOST_RE.fullmatch(value):
        raise ConfigError("%s: invalid %s %r: expected host[:port]" % (source, what, value))
    return value


def _parse_location(value: Any, what: str, source: str) -> str:
    """``host[:port][/path]`` with trailing slashes removed and no URL scheme."""
    if not isinstance(value, str):
        raise ConfigError("%s: %s must be a string, not %r" % (source, what, value))
    trimmed = value.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise ConfigError("%s: invalid %s %r: URL schemes are not supported, write host[:port][/path]"
                          % (source, what, value))
    if trimmed:
        host = trimmed.split("/", 1)[0]
        if trimmed.startswith("*."):
            if any(c in trimmed for c in "/@:"):
                raise ConfigError("%s: invalid %s %r: a wildcard must have the form *.example.com"
                                  % (source, what, value))
            host = trimmed[2:]
        check_host(host, what, source)
    return trimmed


def _get_bool(table: Mapping, key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError("%s: %s must be true or false, not %r" % (where, key, value))
    return value


def _get_str_list(table: Mapping, key: str, where: str) -> List[str]:
    value = table.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError("%s: %s must be an array of strings" % (where, key))
    return value


class RegistriesConfig:
    """The merged registries.conf configuration.

    Build it with ``load()`` (the files, as containers/image finds them), ``from_toml()``
    or ``from_dict()`` (one document), and combine documents with ``merge()``.
    """

    def __init__(self, registries: Sequence[RegistryEntry] = (),
                 unqualified_search_registries: Optional[Sequence[str]] = None,
                 short_name_mode: Optional[str] = None,
                 aliases: Optional[Mapping[str, Optional[str]]] = None,
                 credential_helpers: Optional[Sequence[str]] = None,
                 sources: Sequence[str] = (), warnings: Sequence[str] = ()):
        # ``None`` means "not set in this document", so that merging can tell it from [].
        self._registries: Dict[str, RegistryEntry] = {}
        for entry in registries:
            self._registries.setdefault(entry.prefix, entry)
        self._search = list(unqualified_search_registries) if unqualified_search_registries is not None else None
        self._mode = short_name_mode or None
        self._aliases: Dict[str, Optional[str]] = dict(aliases or {})
        self._helpers = list(credential_helpers) if credential_helpers is not None else None
        self.sources: List[str] = list(sources)
        self.warnings: List[str] = list(warnings)

    # -- the effective settings ------------------------------------------------------

    @property
    def registries(self) -> List[RegistryEntry]:
        """Every ``[[registry]]`` entry, one per prefix, sorted by prefix."""
        return [self._registries[prefix] for prefix in sorted(self._registries)]

    @property
    def unqualified_search_registries(self) -> List[str]:
        return list(self._search or [])

    @property
    def short_name_mode(self) -> str:
        return self._mode or DEFAULT_SHORT_NAME_MODE

    @property
    def aliases(self) -> Dict[str, str]:
        """Short name -> fully qualified name (no tag); erased aliases are left out."""
        return {name: value for name, value in self._aliases.items() if value}

    @property
    def credential_helpers(self) -> List[str]:
        """Where credentials are looked for, in order (AuthStore ``helpers``): ``containers-auth.json``
        is the auth-file chain, any other name a ``docker-credential-NAME`` program."""
        return list(self._helpers) if self._helpers else ["containers-auth.json"]

    def __repr__(self) -> str:
        return "RegistriesConfig(sources=%r, registries=%d, unqualified_search_registries=%r)" % (
            self.sources, len(self._registries), self._search)

    # -- building ----------------------------------------------------------------------

    @classmethod
    def from_toml(cls, text: str, source: str = "<registries.conf>", drop_in: bool = False) -> "RegistriesConfig":
        return cls.from_dict(toml_loads(text, source=source), source=source, drop_in=drop_in)

    @classmethod
    def from_file(cls, path: str, drop_in: bool = False) -> "RegistriesConfig":
        return cls.from_dict(toml_load(path), source=path, drop_in=drop_in)

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "<registries.conf>", drop_in: bool = False) -> "RegistriesConfig":
        """One registries.conf document, as parsed TOML. v1 documents are converted to v2.

        ``drop_in`` documents (registries.conf.d) must use the v2 format, as in containers/image.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("%s: a registries configuration must be a table" % source)
        warnings: List[str] = []
        is_v1 = "registries" in data
        if is_v1:
            if drop_in:
                raise ConfigError("%s: drop-in registries configuration must use the v2 format "
                                  "([[registry]]), not [registries.*]" % source)
            mixed = [key for key in _V2_KEYS if key in data]
            if mixed:
                raise ConfigError("%s: mixing the v1 format ([registries.*]) with v2 keys (%s) is not supported"
                                  % (source, ", ".join(mixed)))
            return cls._from_v1(data, source)

        for key in data:
            if key not in _V2_KEYS:
                warnings.append("%s: unknown key %r ignored" % (source, key))

        search = None
        if "unqualified-search-registries" in data:
            search = []
            for host in _get_str_list(data, "unqualified-search-registries", source):
                host = host.rstrip("/")
                if host.startswith(("http://", "https://")):
                    raise ConfigError("%s: invalid unqualified-search-registries entry %r: URL schemes are not "
                                      "supported" % (source, host))
                search.append(check_host(host, "unqualified-search-registries entry", source))

        mode = data.get("short-name-mode", "")
        if not isinstance(mode, str) or (mode and mode not in SHORT_NAME_MODES):
            raise ConfigError("%s: invalid short-name-mode %r: expected one of %s"
                              % (source, mode, ", ".join(SHORT_NAME_MODES)))

        helpers = _get_str_list(data, "credential-helpers", source) if "credential-helpers" in data else None

        aliases: Dict[str, Optional[str]] = {}
        raw_aliases = data.get("aliases", {})
        if not isinstance(raw_aliases, Mapping):
            raise ConfigError("%s: [aliases] must be a table of \"name\" = \"registry/repository\"" % source)
        for name, value in raw_aliases.items():
            aliases[_check_alias_name(name, source)] = _check_alias_value(name, value, source)

        raw_registries = data.get("registry", [])
        if not isinstance(raw_registries, list) or not all(isinstance(t, Mapping) for t in raw_registries):
            raise ConfigError("%s: registry must be an array of tables, written [[registry]]" % source)
        entries = []
        for index, table in enumerate(raw_registries):
            entries.append(_parse_registry(table, "%s: [[registry]] #%d" % (source, index + 1), source, warnings))
        _check_conflicts(entries, source)
        seen: Dict[str, RegistryEntry] = {}
        for entry in entries:
            if entry.prefix in seen:
                warnings.append("%s: [[registry]] prefix %r appears twice; the first one is used"
                                % (source, entry.prefix))
            else:
                seen[entry.prefix] = entry
        return cls(registries=list(seen.values()), unqualified_search_registries=search,
                   short_name_mode=mode or None, aliases=aliases, credential_helpers=helpers,
                   sources=[source], warnings=warnings)

    @classmethod
    def _from_v1(cls, data: Mapping, source: str) -> "RegistriesConfig":
        tables = data["registries"]
        if not isinstance(tables, Mapping):
            raise ConfigError("%s: registries must be a table ([registries.search] etc.)" % source)
        warnings = ["%s: the v1 format ([registries.*]) is deprecated; use unqualified-search-registries "
                    "and [[registry]]" % source]

        def hosts(name: str) -> Optional[List[str]]:
            table = tables.get(name)
            if table is None:
                return None
            if not isinstance(table, Mapping):
                raise ConfigError("%s: [registries.%s] must be a table with a registries array" % (source, name))
            if "registries" not in table:
                return None
            values = _get_str_list(table, "registries", "%s: [registries.%s]" % (source, name))
            return [_parse_location(v, "[registries.%s] entry" % name, source) for v in values]

        search = hosts("search")
        flags: Dict[str, Dict[str, bool]] = {}
        for name, flag in (("block", "blocked"), ("insecure", "insecure")):
            for location in hosts(name) or []:
                flags.setdefault(location, {"blocked": False, "insecure": False})[flag] = True
        entries = [RegistryEntry(prefix=location, location=location, source=source, **values)
                   for location, values in flags.items()]
        return cls(registries=entries, unqualified_search_registries=search, sources=[source], warnings=warnings)

    def merge(self, other: "RegistriesConfig") -> "RegistriesConfig":
        """``other`` laid over ``self``, as a later drop-in file is laid over earlier files.

        Top-level keys that ``other`` sets replace ours; ``[[registry]]`` entries are
        merged by prefix (``other``'s entry replaces ours for the same prefix); aliases
        are merged by name and an empty alias value erases the alias.
        """
        merged = RegistriesConfig()
        merged._registries = dict(self._registries)
        merged._registries.update(other._registries)
        merged._search = other._search if other._search is not None else self._search
        merged._mode = other._mode or self._mode
        merged._aliases = dict(self._aliases)
        merged._aliases.update(other._aliases)
        merged._helpers = other._helpers if other._helpers is not None else self._helpers
        merged.sources = self.sources + other.sources
        merged.warnings = self.warnings + other.warnings
        return merged

    @classmethod
    def load(cls, conf_path: Optional[str] = None, conf_dir: Optional[str] = None,
             home: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
             system_conf_path: str = SYSTEM_REGISTRIES_CONF,
             system_conf_dir: str = SYSTEM_REGISTRIES_CONF_DIR) -> "RegistriesConfig":
        """Read the configuration files the way containers/image chooses them.

        * The main file is ``conf_path`` if given (or ``$CONTAINERS_REGISTRIES_CONF``),
          and must then exist; otherwise ``$HOME/.config/containers/registries.conf``
          if it exists, which *replaces* the system file; otherwise
          ``system_conf_path`` (``/etc/containers/registries.conf``), which may be missing.
        * Then the ``*.conf`` drop-ins, in name order, from ``conf_dir`` alone if given;
          otherwise from ``system_conf_dir`` and then
          ``$HOME/.config/containers/registries.conf.d`` (only the latter when the user's
          registries.conf is in use).

        ``home`` defaults to the user's home directory (``""`` disables the per-user
        files); ``env`` defaults to ``os.environ``.
        """
        env = os.environ if env is None else env
        if home is None:
            home = os.path.expanduser("~")
        user_file = os.path.join(home, USER_REGISTRIES_CONF) if home else ""
        user_dir = os.path.join(home, USER_REGISTRIES_CONF_DIR) if home else ""
        if conf_path is None and env.get("CONTAINERS_REGISTRIES_CONF"):
            conf_path = env["CONTAINERS_REGISTRIES_CONF"]

        if conf_path:
            main, required = conf_path, True
            dirs = [conf_dir] if conf_dir else [system_conf_dir, user_dir]
        elif user_file and os.path.exists(user_file):
            main, required = user_file, True
            dirs = [conf_dir] if conf_dir else [user_dir]
        else:
            main, required = system_conf_path, False
            dirs = [conf_dir] if conf_dir else [system_conf_dir, user_dir]

        if not required and not os.path.exists(main):
            config = cls()
        else:
            config = cls.from_file(main)
        for directory in dirs:
            for path in _drop_in_files(directory):
                try:
                    drop_in = cls.from_file(path, drop_in=True)
                except ConfigError:
                    if not os.path.exists(path):  # removed while we were listing: ignore, like c/image
                        continue
                    raise
                config = config.merge(drop_in)
        return config

    # -- lookups -----------------------------------------------------------------------

    def find(self, ref: Union[Reference, str]) -> Optional[RegistryEntry]:
        """The ``[[registry]]`` entry with the longest prefix matching ``ref``, or None.

        ``ref`` is a Reference (matched as ``host/repository:tag@digest``) or a string:
        ``host[:port]``, ``host[:port]/namespace...`` or a whole reference.
        """
        name = str(ref)
        best: Optional[RegistryEntry] = None
        best_key = (-1, False)
        for entry in self._registries.values():
            if entry.match_length(name) < 0:
                continue
            # The longest prefix wins; for equal lengths, a plain prefix beats a wildcard.
            key = (len(entry.prefix), not entry.wildcard)
            if key > best_key:
                best, best_key = entry, key
        return best

    def is_insecure(self, host: str) -> bool:
        """Whether the ``[[registry]]`` entry for ``host[:port]`` says ``insecure = true``."""
        entry = self.find(host)
        return bool(entry and entry.insecure)

    def is_blocked(self, ref: Union[Reference, str]) -> bool:
        entry = self.find(ref)
        return bool(entry and entry.blocked)

    def _blocked_error(self, ref: Union[Reference, str], entry: RegistryEntry) -> BlockedRegistryError:
        return BlockedRegistryError("pulling or pushing %s is blocked: [[registry]] prefix %r has blocked = true in %s"
                                    % (ref, entry.prefix, entry.source or "registries.conf"))

    def pull_sources(self, ref: Reference) -> List[PullSource]:
        """Where to try pulling ``ref`` from, in order: the mirrors, then the primary location.

        Mirrors are skipped when their ``pull-from-mirror`` (or the entry's
        ``mirror-by-digest-only``) excludes this kind of reference: by digest
        (``ref.digest`` set, even with a tag) or by tag. Sources whose rewritten
        reference falls under a blocked prefix are dropped. Raises
        BlockedRegistryError when ``ref`` itself is blocked, or when every source is.
        ``ref`` should be fully qualified (see ``resolve_short_name``).
        """
        entry = self.find(ref)
        if entry is None:
            return [PullSource(reference=ref.in_registry(ref.registry, ref.repository))]
        if entry.blocked:
            raise self._blocked_error(ref, entry)
        by_digest = ref.digest is not None
        sources = []
        for mirror in entry.mirrors:
            if entry.mirror_by_digest_only and not by_digest:
                continue
            if mirror.pull_from_mirror == MIRROR_DIGEST_ONLY and not by_digest:
                continue
            if mirror.pull_from_mirror == MIRROR_TAG_ONLY and by_digest:
                continue
            sources.append(PullSource(reference=self._rewrite(ref, entry, mirror.location),
                                      insecure=mirror.insecure, mirror=True))
        sources.append(PullSource(reference=self._rewrite(ref, entry, entry.location), insecure=entry.insecure))
        allowed = [source for source in sources if not self.is_blocked(source.reference)]
        if not allowed:
            target = self.find(sources[-1].reference)
            raise self._blocked_error(sources[-1].reference, target or entry)
        return allowed

    def push_target(self, ref: Reference, rewrite: bool = True) -> PullSource:
        """Where to push ``ref``: never a mirror; the entry's ``location`` when ``rewrite``.

        containers/image does not apply ``location`` to pushes; pass ``rewrite=False`` to
        behave exactly like podman/skopeo. Raises BlockedRegistryError for blocked targets.
        """
        entry = self.find(ref)
        if entry is None:
            return PullSource(reference=ref.in_registry(ref.registry, ref.repository))
        if entry.blocked:
            raise self._blocked_error(ref, entry)
        target = self._rewrite(ref, entry, entry.location) if rewrite else ref.in_registry(
            ref.registry, ref.repository)
        target_entry = self.find(target)
        if target_entry is not None and target_entry.blocked:
            raise self._blocked_error(target, target_entry)
        return PullSource(reference=target, insecure=entry.insecure)

    @staticmethod
    def _rewrite(ref: Reference, entry: RegistryEntry, location: str) -> Reference:
        if not location:
            return ref.in_registry(ref.registry, ref.repository)
        name = str(ref)
        matched = entry.match_length(name)
        if matched < 0:  # pragma: no cover - callers pass a matching entry
            raise ConfigError("internal error: prefix %r does not match %s" % (entry.prefix, name))
        text = location + name[matched:]
        try:
            parsed = parse_reference(text, default_tag=None)
        except InvalidReferenceError as err:
            raise ConfigError("%s: [[registry]] prefix %r: rewriting %s to location %r gives an invalid "
                              "reference: %s" % (entry.source or "registries.conf", entry.prefix, name, location, err))
        if parsed.short_name:
            raise ConfigError("%s: [[registry]] prefix %r: location %r must start with a registry host "
                              "(containing '.' or ':', or localhost)"
                              % (entry.source or "registries.conf", entry.prefix, location))
        return ref.in_registry(parsed.registry, parsed.repository).with_tag(parsed.tag).with_digest(parsed.digest)

    def resolve_short_name(self, ref: Reference) -> List[Reference]:
        """The fully qualified candidates for ``ref``, to try in order.

        A qualified reference is returned alone. For a short name: its ``[aliases]``
        entry if there is one; otherwise one candidate per unqualified-search registry
        (``docker.io`` gets ``library/`` for one-component names, any other registry
        gets the path as typed); with no search registry configured, ``docker.io``
        alone, as Docker does. With ``short-name-mode = "enforcing"`` and several search
        registries the name is ambiguous, and since modules never prompt, that is a
        ConfigError (podman fails the same way without a terminal).
        """
        if not ref.short_name:
            return [ref]
        typed = short_name_path(ref)
        alias = self._aliases.get(typed) or self._aliases.get(ref.repository)
        if alias:
            target = parse_reference(alias, default_tag=None)
            return [target.with_tag(ref.tag).with_digest(ref.digest)]
        registries = self.unqualified_search_registries or [DEFAULT_REGISTRY]
        if self.short_name_mode == SHORT_NAME_ENFORCING and len(registries) > 1:
            raise ConfigError(
                "short name %r is ambiguous: short-name-mode is enforcing and unqualified-search-registries "
                "lists %s; use a fully qualified name such as %s/%s, or add an alias"
                % (ref.familiar(), ", ".join(registries), registries[0], typed))
        candidates: List[Reference] = []
        for registry in registries:
            if registry in _DOCKER_HUB_HOSTS:
                candidate = ref.in_registry(DEFAULT_REGISTRY, ref.repository)
            else:
                candidate = ref.in_registry(registry, typed)
            if candidate not in candidates:
                candidates.append(candidate)
        return candidates


def _check_alias_name(name: str, source: str) -> str:
    try:
        parsed = parse_reference(name, default_tag=None)
    except InvalidReferenceError as err:
        raise ConfigError("%s: invalid alias name %r: %s" % (source, name, err))
    if not parsed.short_name or parsed.tag or parsed.digest:
        raise ConfigError("%s: invalid alias name %r: it must be a short name without registry, tag or digest"
                          % (source, name))
    return name


def _check_alias_value(name: str, value: Any, source: str) -> Optional[str]:
    if not isinstance(value, str):
        raise ConfigError("%s: alias %r must be a string" % (source, name))
    if value == "":
        return None  # erases the alias set by an earlier file
    try:
        parsed = parse_reference(value, default_tag=None)
    except InvalidReferenceError as err:
        raise ConfigError("%s: invalid value for alias %r: %s" % (source, name, err))
    if parsed.short_name or parsed.tag or parsed.digest:
        raise ConfigError("%s: invalid value %r for alias %r: it must be a fully qualified name "
                          "(registry/repository) without tag or digest" % (source, value, name))
    return parsed.name


def _parse_registry(table: Mapping, where: str, source: str, warnings: List[str]) -> RegistryEntry:
    for key in table:
        if key not in _REGISTRY_KEYS and key != "pull-from-mirror":
            warnings.append("%s: unknown key %r ignored" % (where, key))
    if "pull-from-mirror" in table:
        raise ConfigError("%s: pull-from-mirror is only allowed in [[registry.mirror]] tables" % where)
    location = _parse_location(table.get("location", ""), "location", where)
    prefix = _parse_location(table.get("prefix", ""), "prefix", where)
    if not prefix:
        if not location:
            raise ConfigError("%s: prefix and location are both unset" % where)
        prefix = location
    elif not location and not prefix.startswith("*."):
        raise ConfigError("%s: location is unset; only a wildcard prefix (*.example.com) may omit it" % where)
    if location.startswith("*."):
        raise ConfigError("%s: location %r cannot be a wildcard" % (where, location))
    digest_only = _get_bool(table, "mirror-by-digest-only", where)
    raw_mirrors = table.get("mirror", [])
    if not isinstance(raw_mirrors, list) or not all(isinstance(m, Mapping) for m in raw_mirrors):
        raise ConfigError("%s: mirror must be an array of tables, written [[registry.mirror]]" % where)
    mirrors = []
    for index, raw in enumerate(raw_mirrors):
        mwhere = "%s [[registry.mirror]] #%d" % (where, index + 1)
        for key in raw:
            if key not in _MIRROR_KEYS:
                warnings.append("%s: unknown key %r ignored" % (mwhere, key))
        mlocation = _parse_location(raw.get("location", ""), "location", mwhere)
        if not mlocation:
            raise ConfigError("%s: location is unset" % mwhere)
        if mlocation.startswith("*."):
            raise ConfigError("%s: location %r cannot be a wildcard" % (mwhere, mlocation))
        pull_from = raw.get("pull-from-mirror", "")
        if not isinstance(pull_from, str) or (pull_from and pull_from not in PULL_FROM_MIRROR_VALUES):
            raise ConfigError("%s: invalid pull-from-mirror %r: expected one of %s"
                              % (mwhere, pull_from, ", ".join(PULL_FROM_MIRROR_VALUES)))
        if pull_from and digest_only:
            raise ConfigError("%s: pull-from-mirror cannot be combined with mirror-by-digest-only = true "
                              "on the registry" % mwhere)
        mirrors.append(Mirror(location=mlocation, insecure=_get_bool(raw, "insecure", mwhere),
                              pull_from_mirror=pull_from or MIRROR_ALL))
    return RegistryEntry(prefix=prefix, location=location, insecure=_get_bool(table, "insecure", where),
                         blocked=_get_bool(table, "blocked", where), mirrors=tuple(mirrors),
                         mirror_by_digest_only=digest_only, source=source)


def _check_conflicts(entries: Sequence[RegistryEntry], source: str) -> None:
    """One location listed several times must agree on insecure and blocked (as c/image checks)."""
    seen: Dict[str, RegistryEntry] = {}
    for entry in entries:
        key = entry.location or entry.prefix
        other = seen.setdefault(key, entry)
        for flag in ("insecure", "blocked"):
            if getattr(other, flag) != getattr(entry, flag):
                raise ConfigError("%s: registry %r is defined several times with conflicting %r settings"
                                  % (source, key, flag))


def _drop_in_files(directory: str) -> List[str]:
    """``*.conf`` regular files directly in ``directory``, sorted by name; none if it is missing."""
    if not directory:
        return []
    try:
        names = os.listdir(directory)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return []
        raise ConfigError("cannot read drop-in directory %s: %s" % (directory, err.strerror or err))
    paths = []
    for name in sorted(names):
        path = os.path.join(directory, name)
        if name.endswith(".conf") and not os.path.isdir(path):
            paths.append(path)
    return paths
