#!/usr/bin/env python3
"""The README's demo: start a registry of its own on 127.0.0.1, build a tiny busybox image
from local files, and run playbooks/demo.yml against it. Everything is stopped and removed
afterwards, even on failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)  # the virtualenv that runs this script (make demo: .venv)
sys.path.insert(0, os.path.join(REPO, "tests"))

from harness.images import busybox_entries, tar_layer, write_image  # noqa: E402
from harness.registry import Registry  # noqa: E402

STEPS = 3


def step(number: int, what: str) -> float:
    """Say which step starts, so a long one is never silent; returns its start time."""
    print("demo: [%d/%d] %s ..." % (number, STEPS, what), flush=True)
    return time.monotonic()


def done(start: float, what: str = "done") -> None:
    print("demo:       %s in %.1f s" % (what, time.monotonic() - start), flush=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for the demo container's published port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="undock-demo-") as work:
        layout = os.path.join(work, "layout")
        start = step(1, "building a busybox image layout from local files")
        write_image(layout, [tar_layer(busybox_entries())], tag="demo",
                    config_extra={"Cmd": ["/bin/sh"], "Labels": {"org.opencontainers.image.title": "undock demo"}})
        done(start, "image layout at %s" % layout)
        start = step(2, "starting a docker-registry on 127.0.0.1")
        with Registry("plain", os.path.join(work, "registry")) as registry:
            registry.start()
            done(start, "registry ready at http://%s" % registry.host)
            start = step(3, "running playbooks/demo.yml (ansible-playbook prints each task as it starts)")
            command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,",
                       "-e", "ansible_connection=local",
                       "-e", "ansible_python_interpreter=%s" % os.path.join(BIN, "python"),
                       "-e", "demo_registry=%s" % registry.host, "-e", "demo_layout=%s" % layout,
                       "-e", "demo_store=%s" % os.path.join(work, "store"),
                       "-e", "demo_run_root=%s" % os.path.join(work, "run"),
                       "-e", "demo_port=%d" % free_port(),
                       os.path.join(REPO, "playbooks", "demo.yml")] + sys.argv[1:]
            rc = subprocess.call(command)
            done(start, "playbook exit %d" % rc)
            return rc


if __name__ == "__main__":
    sys.exit(main())
