# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials from ``auth.json`` / Docker ``config.json`` files, looked up as
containers/image does, and written for a login module.

Nothing here ever puts a password or token into a message.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
from collections import namedtuple

from ..common.errors import ConfigError
from ..common.fileutil import atomic_write, makedirs_private
from ..common.jsonutil import load_json
from ..model.reference import DEFAULT_REGISTRY, Reference
from .cred_helpers import check_helper_name, helper_server, run_helper
from .registries_conf import check_host

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

#: The name registries.conf ``credential-helpers`` gives the auth-file chain itself.
AUTH_FILES_HELPER = "containers-auth.json"


class Credentials(namedtuple("Credentials", "username password identity_token source", defaults=("", None, None))):
    """A user name and password (or identity token). The repr never shows the secrets.

    username, password (str); identity_token (Optional[str]); source (Optional[str]), the file
    and key they came from, for messages.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "Credentials(username=%r, password=%s, identity_token=%s, source=%r)" % (
            self.username, "'********'" if self.password else "''",
            "'********'" if self.identity_token else "None", self.source)

    __str__ = __repr__


def _normalize_auth_host(host: str) -> str:
    """Docker Hub is spelled several ways in auth files; compare them as one."""
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return "index.docker.io"
    return host


def _normalize_auth_key(key: str, legacy: bool) -> str:
    stripped = key
    for scheme in ("http://", "https://"):
        if stripped.startswith(scheme):
            stripped = stripped[len(scheme):]
    if legacy or stripped != key:
        stripped = stripped.split("/", 1)[0]
    return _normalize_auth_host(stripped)


def _validate_auth_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ConfigError("invalid credentials key %r: expected host[:port][/namespace...]" % (key,))
    if key.startswith(("http://", "https://")):
        raise ConfigError("invalid credentials key %r: write host[:port][/namespace...] without http(s)://" % key)
    if "@" in key:
        raise ConfigError("invalid credentials key %r: it cannot contain '@'" % key)
    host, _sep, path = key.partition("/")
    if ":" in path:
        raise ConfigError("invalid credentials key %r: it cannot contain a tag" % key)
    check_host(host, "credentials key", "auth")
    return key


class AuthStore:
    """Credentials from auth.json files, looked up as containers/image does.

    Files read, in order (``auth_file``, or else ``$REGISTRY_AUTH_FILE``, replaces the
    whole chain):

    1. ``$XDG_RUNTIME_DIR/containers/auth.json`` (``/run/containers/UID/auth.json``
       when XDG_RUNTIME_DIR is unset): the primary file, also the one ``save`` writes;
    2. ``$XDG_CONFIG_HOME/containers/auth.json`` (``~/.config/containers/auth.json``);
    3. ``$DOCKER_CONFIG/config.json``, or ``~/.docker/config.json``;
    4. ``~/.dockercfg`` (the legacy Docker format).

    Missing files are skipped. The first file holding credentials for the reference
    wins. Within a file, keys are tried from ``host/namespace/repo`` down to ``host``,
    then keys written as URLs (``https://index.docker.io/v1/``) are matched by host.
    In a file, ``credHelpers`` naming the registry's host sends the lookup to that Docker
    credential helper first; if neither it nor an entry holds credentials, ``credsStore``
    (the helper for every registry) is asked (see cred_helpers.py).

    ``helpers`` is registries.conf's ``credential-helpers``: the sources tried in order,
    ``containers-auth.json`` standing for the files above and any other name for a
    ``docker-credential-NAME`` asked for the host.
    """

    def __init__(self, auth_file: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
                 home: Optional[str] = None, uid: Optional[int] = None, helpers: Sequence[str] = (AUTH_FILES_HELPER,)):
        self.helpers = [check_helper_name(h, "registries.conf credential-helpers") if h != AUTH_FILES_HELPER else h
                        for h in helpers]
        self.auth_file = auth_file
        self.env = os.environ if env is None else env
        self.home = os.path.expanduser("~") if home is None else home
        self.uid = os.getuid() if uid is None else uid

    def _explicit(self) -> Optional[str]:
        return self.auth_file or self.env.get("REGISTRY_AUTH_FILE") or None

    def primary_path(self) -> str:
        """The file ``save`` writes: the explicit file, else the XDG runtime auth.json."""
        explicit = self._explicit()
        if explicit:
            return explicit
        runtime_dir = self.env.get("XDG_RUNTIME_DIR")
        if runtime_dir:
            return os.path.join(runtime_dir, "containers", "auth.json")
        return os.path.join("/run", "containers", str(self.uid), "auth.json")

    def read_paths(self) -> List[Tuple[str, bool]]:
        """``(path, legacy_format)`` in lookup order."""
        explicit = self._explicit()
        if explicit:
            return [(explicit, False)]
        paths = [(self.primary_path(), False)]
        home = self.home  # "" (no home directory) skips the files under it
        config_home = self.env.get("XDG_CONFIG_HOME") or (os.path.join(home, ".config") if home else "")
        if config_home:
            paths.append((os.path.join(config_home, "containers", "auth.json"), False))
        docker_config = self.env.get("DOCKER_CONFIG")
        if docker_config:
            paths.append((os.path.join(docker_config, "config.json"), False))
        elif home:
            paths.append((os.path.join(home, ".docker", "config.json"), False))
        if home:
            paths.append((os.path.join(home, ".dockercfg"), True))
        return paths

    @staticmethod
    def _read(path: str, legacy: bool = False) -> Optional[Dict[str, Any]]:
        """The parsed file, or None if it does not exist."""
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise ConfigError("cannot read credentials file %s: %s" % (path, err.strerror or err))
        if not raw.strip():
            return {}
        # load_json names the position only, never the content: the file holds secrets.
        data = load_json(raw, "credentials file %s" % path, error=ConfigError, expect=dict)
        if not legacy and "auths" in data and not isinstance(data["auths"], dict):
            raise ConfigError("credentials file %s: \"auths\" must be a JSON object" % path)
        return data

    @staticmethod
    def _decode(path: str, key: str, entry: Any) -> Optional[Credentials]:
        if not isinstance(entry, dict):
            raise ConfigError("credentials file %s: entry %r must be a JSON object" % (path, key))
        token = entry.get("identitytoken") or None
        if token is not None and not isinstance(token, str):
            raise ConfigError("credentials file %s: entry %r: identitytoken must be a string" % (path, key))
        auth = entry.get("auth") or ""
        if not isinstance(auth, str):
            raise ConfigError("credentials file %s: entry %r: auth must be a string" % (path, key))
        username = password = ""
        if auth:
            try:
                decoded = base64.b64decode(auth.strip(), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise ConfigError("credentials file %s: entry %r: auth is not base64 of user:password" % (path, key))
            if ":" not in decoded:
                decoded = ""  # Docker skips such entries too
            username, _sep, password = decoded.partition(":")
            password = password.strip("\x00")
        if not username and not password and not token:
            return None  # e.g. {} left by a credential helper
        return Credentials(username=username, password=password, identity_token=token,
                           source="%s (%s)" % (path, key))

    def _lookup(self, path: str, legacy: bool, key: str) -> Optional[Credentials]:
        data = self._read(path, legacy)
        if not data:
            return None
        host = key.split("/", 1)[0]
        if not legacy:
            helper = _helper_for(path, data, host)
            creds = _from_helper(helper, host, path + " credHelpers") if helper else None
            creds = creds or self._lookup_entries(path, legacy, key, data)
            store = data.get("credsStore")
            if creds is None and store:
                creds = _from_helper(check_helper_name(store, path + " credsStore"), host, path + " credsStore")
            return creds
        return self._lookup_entries(path, legacy, key, data)

    def _lookup_entries(self, path: str, legacy: bool, key: str, data: Dict[str, Any]) -> Optional[Credentials]:
        """The ``auths`` entry for ``key`` (``data`` itself in the legacy format)."""
        auths = data if legacy else data.get("auths") or {}
        host = key.split("/", 1)[0]
        candidates = [host] if legacy else [key[:i] for i in _prefix_ends(key)]
        for candidate in candidates:
            if candidate in auths:
                creds = self._decode(path, candidate, auths[candidate])
                if creds:
                    return creds
        wanted = _normalize_auth_host(host)
        for candidate, entry in auths.items():
            if candidate not in candidates and _normalize_auth_key(candidate, legacy) == wanted:
                creds = self._decode(path, candidate, entry)
                if creds:
                    return creds
        return None

    def credentials_for(self, ref: Union[Reference, str]) -> Optional[Credentials]:
        """Credentials for ``ref`` (a Reference, or ``host[/namespace...]``), or None."""
        key = ref.name if isinstance(ref, Reference) else _validate_auth_key(ref)
        for helper in self.helpers:
            if helper != AUTH_FILES_HELPER:
                creds = _from_helper(helper, key.split("/", 1)[0], "registries.conf credential-helpers")
            else:
                creds = self._from_files(key)
            if creds:
                return creds
        return None

    def _from_files(self, key: str) -> Optional[Credentials]:
        for path, legacy in self.read_paths():
            creds = self._lookup(path, legacy, key)
            if creds:
                return creds
        return None

    def _edit(self, key: str, entry: Optional[Dict[str, str]]) -> bool:
        path = self.primary_path()
        data = self._read(path) or {}
        auths = data.get("auths")
        if not isinstance(auths, dict):
            auths = {}
        if entry is None:
            if key not in auths:
                return False
            del auths[key]
        else:
            if auths.get(key) == entry:
                return False
            auths[key] = entry
        data["auths"] = auths
        directory = os.path.dirname(path) or "."
        makedirs_private(directory)
        atomic_write(path, (json.dumps(data, indent=4, sort_keys=True) + "\n").encode("utf-8"), mode=0o600)
        return True

    def save(self, key: str, username: str, password: str) -> bool:
        """Store credentials for ``key`` (``host[:port][/namespace...]``) in ``primary_path()``.

        The file is replaced atomically with mode 0600 (its directory is created 0700);
        other entries and keys are kept. Returns True if the file changed.
        """
        key = _storage_key(key)
        if not isinstance(username, str) or not username or ":" in username:
            raise ConfigError("invalid user name for %s: it must be non-empty and cannot contain ':'" % key)
        if not isinstance(password, str):
            raise ConfigError("invalid password for %s: it must be a string" % key)
        auth = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
        return self._edit(key, {"auth": auth})

    def remove(self, key: str) -> bool:
        """Delete the entry for exactly ``key`` from ``primary_path()``; True if there was one."""
        return self._edit(_storage_key(key), None)


def _helper_for(path: str, data: Dict[str, Any], host: str) -> Optional[str]:
    """The ``credHelpers`` helper of ``host`` in a Docker config file, if it names one."""
    helpers = data.get("credHelpers") or {}
    if not isinstance(helpers, dict):
        raise ConfigError("credentials file %s: \"credHelpers\" must be a JSON object" % path)
    wanted = _normalize_auth_host(host)
    for key in sorted(helpers, key=lambda k: k != host):  # an exact key first
        if key == host or _normalize_auth_key(key, False) == wanted:
            return check_helper_name(helpers[key], "%s credHelpers[%r]" % (path, key))
    return None


def _from_helper(helper: str, host: str, where: str) -> Optional[Credentials]:
    answer = run_helper(helper, helper_server(host), where)
    if answer is None:
        return None
    source = "docker-credential-%s (%s)" % (helper, where)
    if answer.identity_token:
        return Credentials(username="", identity_token=answer.secret, source=source)
    return Credentials(username=answer.username, password=answer.secret, source=source)


def _storage_key(key: str) -> str:
    """A validated key as login tools write it: Docker Hub is ``docker.io``."""
    host, sep, rest = _validate_auth_key(key).partition("/")
    if host in ("index.docker.io", "registry-1.docker.io"):
        return DEFAULT_REGISTRY + sep + rest
    return key


def _prefix_ends(key: str) -> List[int]:
    """End offsets of ``key`` and of each of its ``/`` prefixes, longest first."""
    ends = [len(key)]
    index = key.rfind("/")
    while index > 0:
        ends.append(index)
        index = key.rfind("/", 0, index)
    return ends
