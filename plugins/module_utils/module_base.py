# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The option groups, the library check and the result of every module: the part of the glue
that imports nothing of the engine, so that a module answered from the store's files
(oci_build_quick) ships only what it uses (Ansible packs every file a module's imports reach).

Options come in groups, and a module takes only the groups it uses: ``STORAGE_ARGS`` (every
module), ``NAMES_ARGS`` (registries.conf, for modules that resolve short names),
``REGISTRY_ARGS`` (credentials and TLS, for modules that talk to a registry) and
``SIGNING_ARGS`` (``sign_by`` and the trust ``policy``, for modules that push and pull)."""

from __future__ import annotations

import gc
import importlib.util
import sys

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from .common.deps import missing_libraries
from .registry.defaults import DEFAULT_MIN_TRANSFER_RATE, DEFAULT_REQUEST_TIMEOUT

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence

REGISTRY_ARGS: Dict[str, Any] = dict(
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    auth_file=dict(type="path"),
    validate_certs=dict(type="bool", aliases=["tls_verify"]),
    ca_cert=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path"),
    certs_dir=dict(type="path", aliases=["ca_cert_dir"]),
    request_timeout=dict(type="float", default=DEFAULT_REQUEST_TIMEOUT),
    min_transfer_rate=dict(type="int", default=DEFAULT_MIN_TRANSFER_RATE),
)

NAMES_ARGS: Dict[str, Any] = dict(
    registries_conf=dict(type="path"),
)

#: Signing what is pushed and the trust policy of pulls (doc fragment undock.oci.signing).
SIGNING_ARGS: Dict[str, Any] = dict(
    sign_by=dict(type="path"),
    sign_passphrase=dict(type="str", no_log=True),
    policy=dict(type="raw"),
)

STORAGE_ARGS: Dict[str, Any] = dict(
    storage_root=dict(type="path", default="/var/lib/undock"),
    run_root=dict(type="path", default="/run/undock"),
)

#: Python library -> (Debian package, RHEL package), as the modules' ``requirements`` say.
HOST_PACKAGES: Dict[str, Any] = {
    "requests": ("python3-requests", "python3-requests"),
    "jsonschema": ("python3-jsonschema", "python3-jsonschema"),
    "tomli": ("python3-tomli", "python3-tomli"),
    "cryptography": ("python3-cryptography", "python3-cryptography"),
}
#: What a module that talks to a registry (or reads an archive or layout) needs: it checks
#: what it reads against the image-spec's schemas. The others need only the store's libraries.
REGISTRY_LIBRARIES = ("requests", "jsonschema")
STORE_LIBRARIES: tuple = ()  # the store, layers, mounts and containers need only the standard library
#: What reading registries.conf needs: nothing from Python 3.11 on (tomllib).
NAMES_LIBRARIES = ("tomli",) if sys.version_info < (3, 11) else ()


def _importable(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it (requests is loaded only when
    a registry is used, so a task served from the store never pays for it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_host_libraries(libraries: Sequence[str]) -> Dict[str, str]:
    """Library -> why it cannot be used, for each of ``libraries`` that is missing."""
    failed = missing_libraries()
    missing = {}
    for name in libraries:
        if name in failed:
            missing[name] = failed[name]
        elif not _importable(name):
            missing[name] = "No module named %r" % name
    return missing


def fail_on_missing_libraries(module: AnsibleModule, libraries: Sequence[str]) -> None:
    """Fail the task once, with Ansible's standard message naming every missing library and
    the packages that provide them."""
    missing = missing_host_libraries(libraries)
    if not missing:
        return
    names = sorted(missing)
    packages = ", ".join("%s (Debian: %s, RHEL: %s)" % ((name,) + tuple(HOST_PACKAGES.get(name, (name, name))))
                         for name in names)
    module.fail_json(msg=missing_required_lib(", ".join(names), reason="by this module; install " + packages),
                     missing_libraries=names, error="; ".join("%s: %s" % (n, missing[n]) for n in names))


def image_module(argument_spec: Dict[str, Any], registry: bool = True, names: bool = True,
                 libraries: Optional[Sequence[str]] = None, signing: bool = False, **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with the storage options, the name-resolution options unless
    ``names=False``, the registry credentials and TLS options unless ``registry=False``, the
    signing options with ``signing``, check mode, and the library check done: what every
    module of the collection starts with."""
    # A module run is one short process: what it has imported by now lives until it exits, so
    # the collector need not walk it again at each collection nor at exit (~15-20 ms a run here).
    gc.freeze()
    spec = dict(argument_spec)
    if signing:
        spec.update(SIGNING_ARGS)
    if registry:
        spec.update(REGISTRY_ARGS)
        kwargs["required_together"] = list(kwargs.get("required_together", [])) + [("client_cert", "client_key")]
    if names or registry:
        spec.update(NAMES_ARGS)
    spec.update(STORAGE_ARGS)
    kwargs.setdefault("supports_check_mode", True)
    module = AnsibleModule(argument_spec=spec, **kwargs)
    if libraries is None:
        libraries = REGISTRY_LIBRARIES if registry else STORE_LIBRARIES
        if names or registry:
            libraries = tuple(libraries) + NAMES_LIBRARIES
    fail_on_missing_libraries(module, libraries)
    return module


def finish(module: AnsibleModule, outcome: Any, diff: bool = True, actions: bool = True,
           failed_msg: Optional[str] = None) -> None:
    """Hand an Outcome to Ansible: its warnings as warnings, the rest as return values
    (failing with ``failed_msg`` when one is given)."""
    for warning in outcome.warnings:
        module.warn(warning)
    result = outcome.result(diff=diff, actions=actions)
    if failed_msg:
        module.fail_json(msg=failed_msg, **result)
    module.exit_json(**result)
