# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything one run knows about registries: the configuration files, the per-task options
that override them, and one transport per host (so connections and tokens are reused)."""

from __future__ import annotations

import _thread  # threading.Lock is _thread.allocate_lock; importing threading costs a start ~2 ms

from ..model.reference import Reference
from .config import TASK_REGISTRY, RegistryOptions
from .transfer_limits import TransferLimits

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple
    from .auth_files import AuthStore, Credentials
    from .client import RegistryClient
    from .registries_conf import RegistriesConfig
    from .transport import RegistryTransport

# client and transport (and with them requests) are imported when a registry is first
# used, and the configuration files are read when first needed: a task that finds its
# image (named in full) in the store never pays for them.


class RegistryContext:
    def __init__(self, options: Optional[RegistryOptions] = None, registries: Optional["RegistriesConfig"] = None,
                 auths: Optional["AuthStore"] = None, limits: Optional[TransferLimits] = None):
        self.options = options or RegistryOptions()
        self.limits = limits or TransferLimits()
        self._registries = registries
        self._auths = auths
        self._transports: Dict[Tuple[str, bool, Optional["Credentials"]], "RegistryTransport"] = {}
        self._credentials: Dict[Tuple[str, str], Optional["Credentials"]] = {}
        self._lock = _thread.allocate_lock()

    @property
    def registries(self) -> "RegistriesConfig":
        """registries.conf and its drop-ins, read on first use."""
        if self._registries is None:
            from .registries_conf import RegistriesConfig
            self._registries = RegistriesConfig.load(conf_path=self.options.registries_conf,
                                                     conf_dir=self.options.registries_conf_dir)
        return self._registries

    @property
    def auths(self) -> "AuthStore":
        """The auth-file chain (and credential helpers), opened on first use."""
        if self._auths is None:
            from .auth_files import AuthStore
            self._auths = AuthStore(auth_file=self.options.auth_file, helpers=self.registries.credential_helpers)
        return self._auths

    # -- names ----------------------------------------------------------------------
    def short_name_candidates(self, ref: Reference) -> List[Reference]:
        if not ref.short_name:
            return [ref]  # what resolve_short_name answers, without reading registries.conf
        return self.registries.resolve_short_name(ref)

    def push_reference(self, ref: Reference) -> Reference:
        return self.registries.push_target(ref).reference

    # -- connections ----------------------------------------------------------------
    def credentials(self, ref: Reference, role: str = TASK_REGISTRY) -> Optional["Credentials"]:
        """What ``ref``'s registry is sent in ``role`` (see RegistryOptions.credentials_for),
        looked up once per repository and role: a credential helper is a process to run."""
        key = (ref.name, role)
        if key not in self._credentials:
            self._credentials[key] = self.options.credentials_for(ref, self.auths, role=role)
        return self._credentials[key]

    def transport(self, ref: Reference, insecure: bool = False, role: str = TASK_REGISTRY) -> "RegistryTransport":
        """The transport to ``ref``'s registry with the credentials of ``role``: one per host
        and credentials, so that connections and tokens are shared only where the credentials are."""
        from .tls import resolve_tls
        from .transport import RegistryTransport
        credentials = self.credentials(ref, role)
        key = (ref.registry, insecure, credentials)
        with self._lock:
            transport = self._transports.get(key)
            if transport is None:
                tls = resolve_tls(ref.registry, self.options, config=self.registries, insecure=insecure)
                transport = RegistryTransport(ref.registry, tls=tls, credentials=credentials,
                                              limits=self.limits)
                self._transports[key] = transport
        return transport

    def client(self, ref: Reference, push: bool = False, insecure: Optional[bool] = None,
               role: str = TASK_REGISTRY) -> "RegistryClient":
        from .client import RegistryClient
        if insecure is None:
            insecure = self.registries.is_insecure(ref.registry)
        return RegistryClient(self.transport(ref, insecure, role), ref.repository, push=push)


__all__ = ["RegistryContext", "RegistryOptions"]
