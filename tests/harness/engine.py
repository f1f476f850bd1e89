# -*- coding: utf-8 -*-
"""Build the engine the way a module does, but isolated from the machine's own
registries.conf and auth files, and pointed at a test registry."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
from ansible_collections.undock.oci.plugins.module_utils.module_support import registry_context

from .registry import Registry


def registries_conf(directory: str, *insecure_hosts: str, extra: str = "") -> str:
    """Write a registries.conf that marks ``insecure_hosts`` insecure and nothing else."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "registries.conf")
    text = "unqualified-search-registries = []\n"
    for host in insecure_hosts:
        text += '[[registry]]\nlocation = "%s"\ninsecure = true\n' % host
    with open(path, "w") as handle:
        handle.write(text + extra)
    return path


def service(tmp_path: Any, registry: Optional[Registry] = None, check_mode: bool = False,
            storage_root: Optional[str] = None, also: Sequence[Registry] = (), max_layer_size: Optional[int] = None,
            run_root: Optional[str] = None, policy: Any = None, **params: Any) -> ImageService:
    """An ImageService on a store under ``tmp_path``; a plain-HTTP registry (and those in
    ``also``) is marked insecure, a TLS one gets its CA, a basic one its credentials, unless
    ``params`` say otherwise."""
    conf_dir = os.path.join(str(tmp_path), "conf")
    hosts = [r.host for r in [registry, *also] if r is not None and not r.tls]
    if "registries_conf" not in params:
        params["registries_conf"] = registries_conf(conf_dir, *hosts)
    params.setdefault("auth_file", os.path.join(conf_dir, "auth.json"))
    if registry is not None and registry.tls and registry.ca_cert:
        params.setdefault("ca_cert", registry.ca_cert)
    if registry is not None and registry.username:
        params.setdefault("username", registry.username)
        params.setdefault("password", registry.password)
    root = storage_root or os.path.join(str(tmp_path), "store")
    extra = {"max_layer_size": max_layer_size} if max_layer_size else {}
    # Mount records of a test live beside its store, never in the machine's /run/undock.
    run_root = run_root or os.path.join(str(tmp_path), "run")
    return ImageService(root, registry_context(params), check_mode=check_mode, run_root=run_root, policy=policy,
                        **extra)


def python_path() -> str:
    """PYTHONPATH for a child process that imports the collection and the harness."""
    import ansible_collections.undock.oci as collection
    collections_root = os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join([collections_root, tests])
