# -*- coding: utf-8 -*-
"""Pull one image into a store with the engine, as a separate process (as skopeo is).

usage: undock_pull.py [--download-only] STORE HOST REF
HOST is marked insecure (a plain-HTTP test registry). --download-only stores the blobs
without unpacking the layers (what `skopeo copy docker://... oci:DIR` does).
"""

import gc
import os
import sys

from ansible_collections.undock.oci.plugins.module_utils.image.copy import copy_image
from ansible_collections.undock.oci.plugins.module_utils.image.local import StoreImageDestination
from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
from ansible_collections.undock.oci.plugins.module_utils.image.remote import open_pull_source
from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistryOptions
from ansible_collections.undock.oci.plugins.module_utils.registry.context import RegistryContext
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
from ansible_collections.undock.oci.plugins.module_utils.storage.store import Store

gc.freeze()  # as every module does once its imports are done (module_utils/module_base.image_module)
args = sys.argv[1:]
download_only = "--download-only" in args
store_dir, host, ref = [a for a in args if a != "--download-only"]
conf = store_dir + ".conf"
with open(conf, "w") as handle:
    handle.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % host)
options = RegistryOptions(registries_conf=conf, registries_conf_dir=conf + ".d", auth_file=store_dir + ".auth.json")
context = RegistryContext(options)
if download_only:
    source = open_pull_source(context, parse_reference(ref))
    destination = StoreImageDestination(Store.open(store_dir), ref, unpack=False)
    try:
        assert copy_image(source, destination).changed
    finally:
        destination.close()
else:
    assert ImageService(store_dir, context).present(ref).changed
for path in (conf, store_dir + ".auth.json"):
    if os.path.exists(path):
        os.unlink(path)
