# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything one run knows about registries: the configuration files, the per-task options
that override them, and one transport per host (so connections and tokens are reused)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from ..model.reference import Reference
from .config import AuthStore, Credentials, RegistriesConfig, RegistryOptions, resolve_tls
from .deadline import TransferLimits

if TYPE_CHECKING:
    from .client import RegistryClient
    from .transport import RegistryTransport

# client and transport (and with them requests) are imported when a registry is first
# used: a task that finds its image in the store never pays for them.


class RegistryContext:
    def __init__(self, options: Optional[RegistryOptions] = None, registries: Optional[RegistriesConfig] = None,
                 auths: Optional[AuthStore] = None, limits: Optional[TransferLimits] = None):
        self.options = options or RegistryOptions()
        self.limits = limits or TransferLimits()
        self.registries = registries if registries is not None else RegistriesConfig.load(
            conf_path=self.options.registries_conf, conf_dir=self.options.registries_conf_dir)
        self.auths = auths if auths is not None else AuthStore(auth_file=self.options.auth_file)
        self._transports: Dict[Tuple[str, bool], "RegistryTransport"] = {}
        self._lock = threading.Lock()

    # -- names ----------------------------------------------------------------------
    def short_name_candidates(self, ref: Reference) -> List[Reference]:
        return self.registries.resolve_short_name(ref)

    def push_reference(self, ref: Reference) -> Reference:
        return self.registries.push_target(ref).reference

    # -- connections ----------------------------------------------------------------
    def credentials(self, ref: Reference) -> Optional[Credentials]:
        return self.options.credentials_for(ref, self.auths)

    def transport(self, ref: Reference, insecure: bool = False) -> "RegistryTransport":
        from .transport import RegistryTransport
        key = (ref.registry, insecure)
        with self._lock:
            transport = self._transports.get(key)
            if transport is None:
                tls = resolve_tls(ref.registry, self.options, config=self.registries, insecure=insecure)
                transport = RegistryTransport(ref.registry, tls=tls, credentials=self.credentials(ref),
                                              limits=self.limits)
                self._transports[key] = transport
        return transport

    def client(self, ref: Reference, push: bool = False, insecure: Optional[bool] = None) -> "RegistryClient":
        from .client import RegistryClient
        if insecure is None:
            insecure = self.registries.is_insecure(ref.registry)
        return RegistryClient(self.transport(ref, insecure), ref.repository, push=push)


__all__ = ["RegistryContext", "RegistryOptions"]
