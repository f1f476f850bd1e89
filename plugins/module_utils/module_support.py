# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' glue to the engine: the registry configuration and the ImageService for a
module's options, or StoreImages, which makes that ImageService only when it is needed (the
option groups, the library check and ``finish`` are in module_base)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from .registry.defaults import DEFAULT_MIN_TRANSFER_RATE, DEFAULT_REQUEST_TIMEOUT

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional
    from .image.store_images import StoreImages
    from .registry.context import RegistryContext
    from .registry.transfer_limits import TransferLimits

# The registry configuration and the engine are imported by the functions that use them:
# a task answered from the store's files (image/quick.py, runtime/quick.py) loads neither.


def registry_context(params: Dict[str, Any]) -> "RegistryContext":
    from .registry.config import RegistryOptions
    from .registry.context import RegistryContext
    conf = params.get("registries_conf")
    options = RegistryOptions(
        username=params.get("username"), password=params.get("password"),
        source_username=params.get("source_username"), source_password=params.get("source_password"),
        auth_file=params.get("auth_file"),
        validate_certs=params.get("validate_certs"), ca_cert=params.get("ca_cert"),
        client_cert=params.get("client_cert"), client_key=params.get("client_key"),
        registries_conf=conf, registries_conf_dir=(conf + ".d") if conf else None,
        certs_dir=params.get("certs_dir"))
    return RegistryContext(options, limits=transfer_limits(params))


def transfer_limits(params: Dict[str, Any]) -> "TransferLimits":
    """The deadlines of registry requests and blob downloads (defaults when a caller has no such options)."""
    from .registry.transfer_limits import TransferLimits
    timeout = params.get("request_timeout")
    rate = params.get("min_transfer_rate")
    return TransferLimits(request_timeout=DEFAULT_REQUEST_TIMEOUT if timeout is None else timeout,
                          min_transfer_rate=DEFAULT_MIN_TRANSFER_RATE if rate is None else rate)


def image_service(module: AnsibleModule, check_mode: Optional[bool] = None) -> Any:
    """The engine's ImageService for a module's options."""
    from .image.ops import ImageService
    params = module.params

    def policy() -> Any:  # read (and signing imported) only when a pull needs it
        from .signing.policy import load_policy
        return load_policy(params.get("policy"))

    return ImageService(params["storage_root"], registry_context(params),
                        check_mode=module.check_mode if check_mode is None else check_mode,
                        run_root=params["run_root"], policy=policy)


def store_images(module: AnsibleModule, check_mode: Optional[bool] = None) -> "StoreImages":
    """The store's images for a container task: the ImageService of ``image_service`` is made
    (and image.ops and the registry configuration imported) only to pull or unpack."""
    from .image.store_images import StoreImages
    check = module.check_mode if check_mode is None else check_mode
    return StoreImages(module.params["storage_root"], module.params["run_root"], check,
                       lambda: image_service(module, check_mode=check))
