# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs and option translation shared by the modules (the only Ansible-aware glue)."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from .common.deps import missing_libraries
from .registry.config import RegistryOptions
from .registry.context import RegistryContext
from .registry.deadline import DEFAULT_MIN_TRANSFER_RATE, DEFAULT_REQUEST_TIMEOUT, TransferLimits

REGISTRY_ARGS: Dict[str, Any] = dict(
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    auth_file=dict(type="path"),
    validate_certs=dict(type="bool", aliases=["tls_verify"]),
    ca_cert=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path"),
    registries_conf=dict(type="path"),
    certs_dir=dict(type="path", aliases=["ca_cert_dir"]),
    request_timeout=dict(type="float", default=DEFAULT_REQUEST_TIMEOUT),
    min_transfer_rate=dict(type="int", default=DEFAULT_MIN_TRANSFER_RATE),
)

STORAGE_ARGS: Dict[str, Any] = dict(
    storage_root=dict(type="path", default="/var/lib/undock"),
    run_root=dict(type="path", default="/run/undock"),
)


def registry_context(params: Dict[str, Any]) -> RegistryContext:
    conf = params.get("registries_conf")
    options = RegistryOptions(
        username=params.get("username"), password=params.get("password"), auth_file=params.get("auth_file"),
        validate_certs=params.get("validate_certs"), ca_cert=params.get("ca_cert"),
        client_cert=params.get("client_cert"), client_key=params.get("client_key"),
        registries_conf=conf, registries_conf_dir=(conf + ".d") if conf else None,
        certs_dir=params.get("certs_dir"))
    return RegistryContext(options, limits=transfer_limits(params))


def transfer_limits(params: Dict[str, Any]) -> TransferLimits:
    """The deadlines of registry requests and blob downloads (defaults when a caller has no such options)."""
    timeout = params.get("request_timeout")
    rate = params.get("min_transfer_rate")
    return TransferLimits(request_timeout=DEFAULT_REQUEST_TIMEOUT if timeout is None else timeout,
                          min_transfer_rate=DEFAULT_MIN_TRANSFER_RATE if rate is None else rate)


def fail_on_missing_libraries(module: AnsibleModule) -> None:
    """Fail the task with Ansible's standard message if a required library is missing."""
    for name, error in sorted(missing_libraries().items()):
        module.fail_json(msg=missing_required_lib(name), error=error)


def image_module(argument_spec: Dict[str, Any], **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with the shared registry and storage options, check mode, and the
    library check done: what every module of the collection starts with."""
    spec = dict(argument_spec)
    spec.update(REGISTRY_ARGS)
    spec.update(STORAGE_ARGS)
    kwargs.setdefault("supports_check_mode", True)
    kwargs["required_together"] = list(kwargs.get("required_together", [])) + [("client_cert", "client_key")]
    module = AnsibleModule(argument_spec=spec, **kwargs)
    fail_on_missing_libraries(module)
    return module


def image_service(module: AnsibleModule, check_mode: Optional[bool] = None) -> Any:
    """The engine's ImageService for a module's options."""
    from .image.ops import ImageService
    params = module.params
    return ImageService(params["storage_root"], registry_context(params),
                        check_mode=module.check_mode if check_mode is None else check_mode,
                        run_root=params["run_root"])
