# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry options a module task may set, laid over the configuration files
(``registries_conf``, ``auth_files``, ``tls``)."""

from __future__ import annotations

from ..common.errors import ConfigError
from ..model.reference import Reference

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Mapping, Optional, Union
    from .auth_files import AuthStore, Credentials
    from .registries_conf import RegistriesConfig

# auth_files and registries_conf are imported when first used: a task served from the
# store reads no configuration file and does not pay for their code.

# Whose credentials a registry gets (see RegistryOptions.credentials_for).
TASK_REGISTRY = "task"      # the registry the task names (``name``, or a push destination)
SOURCE_REGISTRY = "source"  # the registry of a ``source:`` reference
FILES_ONLY = "files"        # any other registry, such as a registries.conf mirror
CREDENTIAL_ROLES = (TASK_REGISTRY, SOURCE_REGISTRY, FILES_ONLY)
_SECRETS = ("password", "source_password")
_FIELDS = ("validate_certs", "ca_cert", "client_cert", "client_key", "username", "password", "source_username",
           "source_password", "auth_file", "registries_conf", "registries_conf_dir", "certs_dir")


class RegistryOptions:
    """The registry options a module task may set; None means "from the files".

    * ``validate_certs``: None follows registries.conf ``insecure``; False also allows
      plain HTTP, as ``--tls-verify=false`` does for podman.
    * ``ca_cert``: a PEM file of CAs, trusted in addition to the system's.
    * ``client_cert`` / ``client_key``: a client certificate, both or neither.
    * ``username`` / ``password``: for the registry the task names (``name``, or the push
      destination) only, over the auth files; both or neither.
    * ``source_username`` / ``source_password``: the same for the registry of a ``source:``
      reference (skopeo's ``--src-creds``). Mirrors get only what the auth files hold.
    * ``auth_file``: the only auth.json to read (and the one a login writes).
    * ``registries_conf`` / ``registries_conf_dir``: replace the registries.conf file
      and drop-in directory.
    * ``certs_dir``: the only certs.d-style directory to look in (``DIR/HOST[:PORT]/``).
    """

    __slots__ = _FIELDS

    def __init__(self, validate_certs: Optional[bool] = None, ca_cert: Optional[str] = None,
                 client_cert: Optional[str] = None, client_key: Optional[str] = None,
                 username: Optional[str] = None, password: Optional[str] = None,
                 source_username: Optional[str] = None, source_password: Optional[str] = None,
                 auth_file: Optional[str] = None, registries_conf: Optional[str] = None,
                 registries_conf_dir: Optional[str] = None, certs_dir: Optional[str] = None) -> None:
        self.validate_certs = validate_certs
        self.ca_cert = ca_cert
        self.client_cert = client_cert
        self.client_key = client_key
        self.username = username
        self.password = password
        self.source_username = source_username
        self.source_password = source_password
        self.auth_file = auth_file
        self.registries_conf = registries_conf
        self.registries_conf_dir = registries_conf_dir
        self.certs_dir = certs_dir
        if (self.username is None) != (self.password is None):
            raise ConfigError("username and password must be given together")
        if (self.source_username is None) != (self.source_password is None):
            raise ConfigError("source_username and source_password must be given together")
        if self.client_key and not self.client_cert:
            raise ConfigError("client_key needs client_cert")
        if self.client_cert and not self.client_key:
            raise ConfigError("client_cert needs client_key")
        if self.validate_certs is not None and not isinstance(self.validate_certs, bool):
            raise ConfigError("validate_certs must be true, false or unset")

    def __repr__(self) -> str:
        shown = []
        for name in _FIELDS:
            value = getattr(self, name)
            if value is not None:
                shown.append("%s=%s" % (name, "'********'" if name in _SECRETS else repr(value)))
        return "RegistryOptions(%s)" % ", ".join(shown)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "RegistryOptions":
        """Pick the fields above out of a module's ``params`` (missing or None = unset)."""
        return cls(**{name: params.get(name) for name in _FIELDS})

    def registries_config(self, home: Optional[str] = None,
                          env: Optional[Mapping[str, str]] = None) -> "RegistriesConfig":
        from .registries_conf import RegistriesConfig
        return RegistriesConfig.load(conf_path=self.registries_conf, conf_dir=self.registries_conf_dir,
                                     home=home, env=env)

    def auth_store(self, home: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> "AuthStore":
        from .auth_files import AuthStore
        return AuthStore(auth_file=self.auth_file, env=env, home=home)

    def credentials_for(self, ref: Union[Reference, str], store: Optional["AuthStore"] = None,
                        role: str = TASK_REGISTRY) -> Optional["Credentials"]:
        """The credentials for ``ref`` in ``role``: the task's own for the registry it names
        (``username``) or for its ``source:`` (``source_username``), else what the auth files
        hold for ``ref``. A registry in no role of the task (a mirror) gets only the files'."""
        from .auth_files import Credentials
        if role not in CREDENTIAL_ROLES:
            raise ConfigError("internal error: unknown credentials role %r" % (role,))
        if role == TASK_REGISTRY and self.username is not None:
            return Credentials(username=self.username, password=self.password or "", source="task options")
        if role == SOURCE_REGISTRY and self.source_username is not None:
            return Credentials(username=self.source_username, password=self.source_password or "",
                               source="task options (source)")
        return (store or self.auth_store()).credentials_for(ref)
