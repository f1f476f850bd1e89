#!/usr/bin/env python3
"""The README's demo: start a registry of its own on 127.0.0.1, build a tiny busybox image
from local files, and run playbooks/demo.yml against it. Everything is stopped and removed
afterwards, even on failure."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

from harness.images import busybox_entries, tar_layer, write_image  # noqa: E402
from harness.registry import Registry  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="undock-demo-") as work:
        layout = os.path.join(work, "layout")
        write_image(layout, [tar_layer(busybox_entries())], tag="demo",
                    config_extra={"Cmd": ["/bin/sh"], "Labels": {"org.opencontainers.image.title": "undock demo"}})
        with Registry("plain", os.path.join(work, "registry")) as registry:
            registry.start()
            print("demo registry on http://%s, image layout at %s" % (registry.host, layout), flush=True)
            command = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,",
                       "-e", "ansible_connection=local",
                       "-e", "ansible_python_interpreter=%s" % os.path.join(REPO, ".venv", "bin", "python"),
                       "-e", "demo_registry=%s" % registry.host, "-e", "demo_layout=%s" % layout,
                       "-e", "demo_store=%s" % os.path.join(work, "store"),
                       os.path.join(REPO, "playbooks", "demo.yml")] + sys.argv[1:]
            return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
