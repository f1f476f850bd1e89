#!/usr/bin/env python3
"""Run playbooks/build_image.yml offline: build a tiny busybox image layout from local files
(as the demo does) as the base, build the busybox httpd image from it with Ansible tasks into
a store, and show the image. The store is a temporary one, removed afterwards, unless
`-e build_store=DIR -e build_run_root=DIR` are passed (extra arguments go to ansible-playbook)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)  # the virtualenv that runs this script (make build-image: .venv)
sys.path.insert(0, os.path.join(REPO, "tests"))

from harness.images import busybox_entries, tar_layer, write_image  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="undock-build-") as work:
        layout = os.path.join(work, "layout")
        write_image(layout, [tar_layer(busybox_entries())], tag="base", config_extra={"Cmd": ["/bin/sh"]})
        # ANSIBLE_PYTHON_INTERPRETER, not -e ansible_python_interpreter: an extra var would also
        # override the working container's interpreter, which add_host sets as a host variable
        env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable)
        command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                   "-e", "build_base_image=localhost/base/busybox:1", "-e", "build_base_layout=%s" % layout,
                   "-e", "build_store=%s" % os.path.join(work, "store"),
                   "-e", "build_run_root=%s" % os.path.join(work, "run"),
                   os.path.join(REPO, "playbooks", "build_image.yml")] + sys.argv[1:]
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
