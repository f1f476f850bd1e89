# -*- coding: utf-8 -*-
"""Bring one container to a state with the engine, as a separate process (as ``podman run
-d`` is): what bench/run.py times for "the engine".

usage: engine_container.py STORE RUN_ROOT REGISTRIES_CONF PARAMS_JSON
PARAMS_JSON: the options of oci_container (name, state, image, command, ...).
"""

import gc
import json
import sys

from ansible_collections.undock.oci.plugins.module_utils.runtime.monitoring import early_monitor


def image_service():
    """Made only to pull or unpack, as the module's (module_support.store_images)."""
    from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
    from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistryOptions
    from ansible_collections.undock.oci.plugins.module_utils.registry.context import RegistryContext
    options = RegistryOptions(registries_conf=conf, registries_conf_dir=conf + ".d", auth_file=conf + ".auth.json")
    return ImageService(store, RegistryContext(options), run_root=run_root)


def main(params):
    """As oci_container does: a start's monitor is launched before the rest of the engine is imported."""
    early = early_monitor(store, run_root, params, check_mode=False)
    from ansible_collections.undock.oci.plugins.module_utils.image.store_images import StoreImages
    from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
    gc.freeze()  # as every module does once its imports are done (module_utils/module_base.image_module)
    images = StoreImages(store, run_root, False, image_service)
    outcome = ContainerService(images).ensure(params, early=early)
    container = outcome.values.get("container")
    if container is not None and container["state"] != "running" and params.get("state", "started") == "started":
        sys.exit("container %s is %s" % (container["name"], container["state"]))


store, run_root, conf, arguments = sys.argv[1:]
main(json.loads(arguments))
