# -*- coding: utf-8 -*-
"""Pull one image into a store with the engine, as a separate process (as skopeo is).

usage: undock_pull.py STORE HOST REF  (HOST is marked insecure: a plain-HTTP test registry)
"""

import os
import sys

from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistryOptions
from ansible_collections.undock.oci.plugins.module_utils.registry.context import RegistryContext

store_dir, host, ref = sys.argv[1:4]
conf = os.path.join(store_dir + ".conf")
with open(conf, "w") as handle:
    handle.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % host)
options = RegistryOptions(registries_conf=conf, registries_conf_dir=conf + ".d",
                          auth_file=os.path.join(store_dir + ".auth.json"))
outcome = ImageService(store_dir, RegistryContext(options)).present(ref)
assert outcome.changed, outcome
