# -*- coding: utf-8 -*-
"""Build a Dockerfile with the engine, as a separate process (as ``buildah build`` is): what
bench/build.py times for "the engine".

usage: engine_build.py STORE RUN_ROOT REGISTRIES_CONF NAME DOCKERFILE CONTEXT [--force]
"""

import sys

from ansible_collections.undock.oci.plugins.module_utils.build.executor.api import build_dockerfile
from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistryOptions
from ansible_collections.undock.oci.plugins.module_utils.registry.context import RegistryContext

store, run_root, conf, name, dockerfile, context = sys.argv[1:7]
force = sys.argv[7:] == ["--force"]
options = RegistryOptions(registries_conf=conf, registries_conf_dir=conf + ".d", auth_file=conf + ".auth.json")
images = ImageService(store, RegistryContext(options), run_root=run_root)
with open(dockerfile) as handle:
    text = handle.read()
outcome = build_dockerfile(images, name, text, context, containerfile_path=dockerfile, force=force)
print("changed" if outcome.changed else "unchanged")
