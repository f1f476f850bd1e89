#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""bench/noop_image: the cost of a no-op image task through ``ansible-playbook``, ours
(``undock.oci.oci_image``) against ``containers.podman.podman_image``.

Both playbooks hold the same number of tasks asking for an image that is already present
(the same small busybox image, served by a docker-registry of the benchmark's own on
127.0.0.1 and pulled once, untimed, by each module). A third playbook of as many
``ansible.builtin.ping`` tasks measures Ansible's own start-up and per-task overhead, which
is subtracted from both before the ratio is taken.

Everything runs from a virtualenv of the benchmark's own, ``.cache/bench-venv``, created
here on first use with the ``ansible`` 12 package (ansible-core 2.19 plus
containers.podman) and the modules' requirements.txt; it is used as controller and as
the managed host's Python for all three playbooks. podman gets a storage and a
registries.conf of its own (CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF), so
nothing on the machine is touched.

Prints the median wall and CPU times of each playbook (CPU: user + system of
ansible-playbook and all it ran, modules and podman included, which hardly moves with
the load of a shared machine), then for each the per-task cost with start-up
subtracted (each run minus the ping run of the same round, divided by the task count)
and the ratio of those medians. Target: ours <= 0.7x podman_image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from typing import Dict, List

from common import (PING, VENV, bench_venv, ensure_collection_link, net_of, playbook_env, podman_env, print_runs,
                    report, run_playbook, write_playbook)

ensure_collection_link()

from harness import images as I  # noqa: E402
from harness.registry import Registry  # noqa: E402

TARGET = 0.7
OURS, PODMAN = "undock.oci.oci_image", "containers.podman.podman_image"


def log(message: str) -> None:
    print("noop_image: %s" % message, flush=True)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *dummy: sys.exit(143))  # stop the registry, remove the work dir
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each playbook (default 7)")
    parser.add_argument("--tasks", type=int, default=10, help="tasks per playbook (default 10)")
    args = parser.parse_args()
    bin_dir = bench_venv(log)
    work = tempfile.mkdtemp(prefix="undock-bench-noop-")
    pod: Dict[str, str] = {}
    try:
        with Registry("plain", os.path.join(work, "registry")) as registry:
            registry.start()
            image = I.push_oci_image(registry, repo="bench/noop", tag="1.0")
            pod = podman_env(work, registry.host)
            env = playbook_env(bin_dir, pod)
            books = {
                OURS: (OURS, {"name": image.ref, "storage_root": os.path.join(work, "undock-store"),
                              "validate_certs": False}),
                PODMAN: (PODMAN, {"name": image.ref, "validate_certs": False}),
                PING: (PING, {}),
            }
            paths = {}
            for label, (module, module_args) in books.items():
                paths[label] = os.path.join(work, "%s.json" % label.rsplit(".", 1)[-1])
                write_playbook(paths[label], "noop %s" % module, [(module, module_args)] * args.tasks)
            log("image %s, %d tasks per playbook, %d runs each, venv %s" % (image.ref, args.tasks, args.runs, VENV))
            for label in (OURS, PODMAN):  # the one pull, untimed: every timed task is then a no-op
                run_playbook(bin_dir, paths[label], env, expect_changed=True)
            run_playbook(bin_dir, paths[PING], env)  # warm the controller's caches for every contender alike
            wall: Dict[str, List[float]] = {label: [] for label in books}
            cpu: Dict[str, List[float]] = {label: [] for label in books}
            for run in range(args.runs):  # interleaved, so load on the machine hits all three alike
                for label in books:
                    seconds, cpu_seconds = run_playbook(bin_dir, paths[label], env)
                    wall[label].append(seconds)
                    cpu[label].append(cpu_seconds)
                log("run %d/%d: %s" % (run + 1, args.runs, "  ".join(
                    "%s %.2f s (cpu %.2f s)" % (k.rsplit(".", 1)[-1], wall[k][-1], cpu[k][-1]) for k in books)))
    finally:
        if pod.get("BENCH_PODMAN_RUNROOT"):
            shutil.rmtree(pod["BENCH_PODMAN_RUNROOT"], ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print("== noop_image: %d no-op tasks per ansible-playbook run, %d runs, load average %.1f at the end"
          % (args.tasks, args.runs, os.getloadavg()[0]))
    for kind, results in (("wall", wall), ("cpu", cpu)):
        print_runs(kind, results)
    # CPU seconds hardly move with the load of a shared machine; wall seconds are what a user waits.
    for kind, results in (("wall", wall), ("cpu", cpu)):
        net = net_of(results, (OURS, PODMAN), PING, args.tasks)
        report("noop_image (%s): seconds per no-op task beyond %s, same round" % (kind, PING), net, OURS, PODMAN, TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
