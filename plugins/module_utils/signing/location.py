# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an image is read from, as the scopes of containers-policy.json(5) see it.

Each transport names its own scopes, as containers/image's references do
(PolicyConfigurationIdentity, then PolicyConfigurationNamespaces):

- ``docker``: the full ``name:tag`` or ``name@digest``, the repository, each parent namespace,
  then ``*.`` wildcards of the host's parent domains;
- ``oci`` and ``oci-archive``: the directory or file, absolute with symlinks resolved (the REF
  inside it is not part of the scope), then each parent directory but ``/``;
- ``docker-archive``: none; only the transport's ``""`` scope applies.

After these come the transport's ``""`` scope and then the policy's ``default``. No cryptography
here: sources build locations whether or not a policy applies.
"""

from __future__ import annotations

import os
from collections import namedtuple

from ..common.errors import ConfigError
from ..model.reference import Reference

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional

DOCKER = "docker"
OCI = "oci"
OCI_ARCHIVE = "oci-archive"
DOCKER_ARCHIVE = "docker-archive"
PATH_TRANSPORTS = (OCI, OCI_ARCHIVE)


class ImageLocation(namedtuple("ImageLocation", "transport reference path", defaults=(None, ""))):
    """Where an image is read: transport (str); reference (Optional[Reference]), for docker the
    name the image is pulled as; path (str), for the other transports the file or directory read."""

    __slots__ = ()

    @classmethod
    def of_file(cls, transport: str, path: str) -> "ImageLocation":
        return cls(transport, path=os.path.realpath(path))

    def __str__(self) -> str:
        if self.transport == DOCKER:
            return str(self.reference)
        return "%s:%s" % (self.transport, self.path)

    def scopes(self) -> List[str]:
        """Scope names, most specific first (without the transport's "" and default)."""
        if self.transport == DOCKER and self.reference is not None:
            return docker_scopes(self.reference)
        if self.transport in PATH_TRANSPORTS:
            return path_scopes(self.path)
        return []


def docker_scopes(ref: Reference) -> List[str]:
    identity = ref.name + ("@" + ref.digest if ref.digest else ":" + ref.tag if ref.tag else "")
    result = [identity] if identity != ref.name else []
    name = ref.name
    while True:
        result.append(name)
        if "/" not in name:
            break
        name = name.rsplit("/", 1)[0]
    host = name.split(":", 1)[0]
    while "." in host:
        host = host.split(".", 1)[1]
        result.append("*." + host)
    return result


def path_scopes(path: str) -> List[str]:
    result = []
    while path and path != "/":
        result.append(path)
        path = os.path.dirname(path)
    return result


def check_scope(transport: str, scope: str, where: str) -> None:
    """Raise ConfigError for a scope the transport could never match (containers/image refuses
    the whole policy then, so a typo cannot silently fall through to a weaker scope)."""
    if transport == DOCKER:
        if scope.startswith("*."):
            if "/" in scope or ":" in scope or len(scope) < 3:
                raise ConfigError("%s: wildcard scope %r must be *.DOMAIN" % (where, scope))
        elif scope != scope.strip() or "*" in scope:
            raise ConfigError("%s: invalid scope %r" % (where, scope))
    elif transport in PATH_TRANSPORTS:
        if not scope.startswith("/"):
            raise ConfigError("%s: scope %r must be an absolute path" % (where, scope))
        if scope == "/":
            raise ConfigError('%s: scope "/" is not allowed; use the transport\'s default scope ""' % where)
        if os.path.normpath(scope) != scope:
            raise ConfigError("%s: scope %r is not a canonical path; write %r" % (where, scope, os.path.normpath(scope)))
    elif transport == DOCKER_ARCHIVE:
        raise ConfigError('%s: docker-archive has no scopes except its default "" one' % where)
