#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""bench/run: running a container, ours (undock.oci) against podman, in the same run.

1. Image present to container running, each timed run starting from "image present,
   container absent" (the container is removed between runs, untimed):
   - the engine (bench/engine_container.py: ContainerService.ensure in a process of its
     own) against ``podman run -d --runtime runc --ulimit nproc=1024:1024 --ulimit
     nofile=1024:1024``;
   - ``undock.oci.oci_container`` against ``containers.podman.podman_container``, each a
     playbook of ``--tasks`` containers, with a playbook of as many ``ping`` tasks
     subtracted (Ansible's own start-up and per-task overhead).
   Target: ours <= 1.0x podman. On the bridge network (the default of both: podman's CNI
   network ``podman``, ours ``undock``), then on ``network: host``.
2. A no-op ``oci_container`` run (the container already running with the same options)
   against a no-op ``podman_container`` run, both through ``ansible-playbook``, ping
   playbook subtracted. Target: ours <= 0.7x podman_container.

The image is the tests' busybox image, pushed to a docker-registry of the benchmark's own
on 127.0.0.1 and pulled into both stores beforehand, untimed; podman uses the overlay
driver, as our store does. Every container runs ``sleep 3600`` with the same rlimits
(podman must be given them here, see shared/MACHINE.md). Everything Ansible runs is from
the benchmark's virtualenv (.cache/bench-venv, see common.bench_venv); the engine runs on
that same python.

Prints the median wall and CPU seconds (user + system of the command and all it waited
for: for podman that does not include conmon, which it leaves running, nor for us the
monitor) and the ratio lines. ``--runs 1 --tasks 1 --noop-tasks 1 --networks bridge`` is a
quick check that the benchmark itself works.

Each playbook run pays once for Ansible's assembly of the module's payload (it parses
every module_utils file the module can import: for oci_container, the whole engine),
which is why the no-op playbooks hold 10 tasks, as bench/noop_image.py's do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Sequence

from common import (COLLECTIONS, PING, REPO, bench_venv, ensure_bytecode, ensure_collection_link, net_of,
                    playbook_env, podman_env, print_runs, report, run_playbook, timed_cpu, write_playbook)

ensure_collection_link()

from harness import images as I  # noqa: E402
from harness.registry import Registry  # noqa: E402

START_TARGET = 1.0
NOOP_TARGET = 0.7
OURS, PODMAN = "undock.oci.oci_container", "containers.podman.podman_container"
ENGINE, PODMAN_RUN = "engine (ContainerService)", "podman run -d"
ULIMITS = ["nproc=1024:1024", "nofile=1024:1024"]
COMMAND = ["sleep", "3600"]
ENGINE_SCRIPT = os.path.join(REPO, "bench", "engine_container.py")


def log(message: str) -> None:
    print("run: %s" % message, flush=True)


class Bench:
    """The two stores, their environments and the commands that fill and empty them."""

    def __init__(self, work: str, bin_dir: str, pod: Dict[str, str], image: str):
        self.work = work
        self.bin = bin_dir
        self.python = os.path.join(bin_dir, "python")
        self.image = image
        self.store = os.path.join(work, "undock-store")
        self.run_root = os.path.join(work, "undock-run")
        self.registries_conf = pod["CONTAINERS_REGISTRIES_CONF"]
        self.pod_env = dict(os.environ, **pod)
        self.engine_env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        self.play_env = playbook_env(bin_dir, pod)

    # -- ours ----------------------------------------------------------------------
    def ours(self, name: str, network: str, state: str = "started") -> Dict[str, Any]:
        return {"name": name, "state": state, "image": self.image, "command": COMMAND, "ulimits": ULIMITS,
                "network": network, "stop_timeout": 0, "storage_root": self.store, "run_root": self.run_root}

    def engine(self, params: Dict[str, Any]) -> List[str]:
        engine = {k: v for k, v in params.items() if k not in ("storage_root", "run_root")}
        return [self.python, ENGINE_SCRIPT, self.store, self.run_root, self.registries_conf, json.dumps(engine)]

    def remove_ours(self, names: Sequence[str]) -> None:
        for name in names:
            timed_cpu(self.engine(self.ours(name, "none", "absent")), self.engine_env, what="removing %s" % name)

    # -- podman --------------------------------------------------------------------
    def podman_args(self, name: str, network: str) -> Dict[str, Any]:
        return {"name": name, "image": self.image, "command": COMMAND, "ulimit": ULIMITS, "network": network,
                "state": "started"}

    def podman_run(self, name: str, network: str) -> List[str]:
        return ["podman", "--runtime", "runc", "run", "-d", "--name", name, "--network", network,
                "--ulimit", ULIMITS[0], "--ulimit", ULIMITS[1], self.image] + COMMAND

    def remove_podman(self, names: Sequence[str]) -> None:
        timed_cpu(["podman", "rm", "--force", "--ignore", "--time", "0"] + list(names), self.pod_env,
                  what="podman rm")

    # -- playbooks -----------------------------------------------------------------
    def playbook(self, label: str, tasks: List[Any]) -> str:
        return write_playbook(os.path.join(self.work, "%s.json" % label), label, tasks)

    def play(self, path: str, expect_changed: Any = False):
        return run_playbook(self.bin, path, self.play_env, expect_changed=expect_changed)


def bench_start(bench: Bench, network: str, runs: int, tasks: int, modules: bool = True) -> None:
    """Image present to container running: engine and podman run, then (if ``modules``) the two modules."""
    names = ["bench-start-%d" % n for n in range(tasks)]
    podman_network = "podman" if network == "bridge" else network
    books = {
        OURS: bench.playbook("start-ours-%s" % network, [(OURS, bench.ours(n, network)) for n in names]),
        PODMAN: bench.playbook("start-podman-%s" % network,
                               [(PODMAN, bench.podman_args(n, podman_network)) for n in names]),
        PING: bench.playbook("start-ping-%s" % network, [(PING, {})] * tasks),
    }
    labels = (ENGINE, PODMAN_RUN, OURS, PODMAN, PING) if modules else (ENGINE, PODMAN_RUN)
    wall: Dict[str, List[float]] = {label: [] for label in labels}
    cpu: Dict[str, List[float]] = {label: [] for label in labels}

    def clean() -> None:
        bench.remove_ours(names)
        bench.remove_podman(names)

    clean()
    if modules:
        bench.play(books[PING])  # warm the controller's caches for every contender alike
    try:
        for run in range(runs):  # interleaved, so load on the machine hits all of them alike
            for label, command, env in ((ENGINE, bench.engine, bench.engine_env),
                                        (PODMAN_RUN, bench.podman_run, bench.pod_env)):
                seconds = cpu_seconds = 0.0
                for name in names:
                    params = bench.ours(name, network) if label == ENGINE else name
                    argv = command(params) if label == ENGINE else command(name, podman_network)
                    step_wall, step_cpu, _ = timed_cpu(argv, env, what=label)
                    seconds, cpu_seconds = seconds + step_wall, cpu_seconds + step_cpu
                wall[label].append(seconds / tasks)
                cpu[label].append(cpu_seconds / tasks)
                clean()
            for label in (OURS, PODMAN, PING) if modules else ():
                seconds, cpu_seconds = bench.play(books[label], expect_changed=label != PING)
                wall[label].append(seconds)
                cpu[label].append(cpu_seconds)
                clean()
            log("%s run %d/%d: %s" % (network, run + 1, runs, "  ".join(
                "%s %.2f s (cpu %.2f s)" % (k.rsplit(".", 1)[-1], wall[k][-1], cpu[k][-1]) for k in labels)))
    finally:
        clean()
    print("== run/start (network %s): image present to container running, %d containers per run, %d runs, "
          "load average %.1f at the end" % (network, tasks, runs, os.getloadavg()[0]))
    for kind, results in (("wall", wall), ("cpu", cpu)):
        print_runs(kind, results)
    for kind, results in (("wall", wall), ("cpu", cpu)):
        report("run/start engine (%s, %s): seconds per container" % (network, kind),
               {k: results[k] for k in (ENGINE, PODMAN_RUN)}, ENGINE, PODMAN_RUN, START_TARGET)
    for kind, results in (("wall", wall), ("cpu", cpu)) if modules else ():
        report("run/start module (%s, %s): seconds per container task beyond %s, same round" % (network, kind, PING),
               net_of(results, (OURS, PODMAN), PING, tasks), OURS, PODMAN, START_TARGET)


def bench_noop(bench: Bench, runs: int, tasks: int) -> None:
    """A no-op task on a container that runs with the same options, both modules."""
    name = "bench-noop"
    books = {
        OURS: bench.playbook("noop-ours", [(OURS, bench.ours(name, "bridge"))] * tasks),
        PODMAN: bench.playbook("noop-podman", [(PODMAN, bench.podman_args(name, "podman"))] * tasks),
        PING: bench.playbook("noop-ping", [(PING, {})] * tasks),
    }
    wall: Dict[str, List[float]] = {label: [] for label in books}
    cpu: Dict[str, List[float]] = {label: [] for label in books}
    try:
        for label in (OURS, PODMAN):  # the one create, untimed: every timed task is then a no-op
            bench.play(books[label], expect_changed=True)
        bench.play(books[PING])
        for run in range(runs):
            for label in books:
                seconds, cpu_seconds = bench.play(books[label])
                wall[label].append(seconds)
                cpu[label].append(cpu_seconds)
            log("noop run %d/%d: %s" % (run + 1, runs, "  ".join(
                "%s %.2f s (cpu %.2f s)" % (k.rsplit(".", 1)[-1], wall[k][-1], cpu[k][-1]) for k in books)))
    finally:
        bench.remove_ours([name])
        bench.remove_podman([name])
    print("== run/noop: %d no-op container tasks per ansible-playbook run, %d runs, load average %.1f at the end"
          % (tasks, runs, os.getloadavg()[0]))
    for kind, results in (("wall", wall), ("cpu", cpu)):
        print_runs(kind, results)
    for kind, results in (("wall", wall), ("cpu", cpu)):
        report("run/noop (%s): seconds per no-op container task beyond %s, same round" % (kind, PING),
               net_of(results, (OURS, PODMAN), PING, tasks), OURS, PODMAN, NOOP_TARGET)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *dummy: sys.exit(143))  # remove the containers, stop the registry
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each contender (default 5)")
    parser.add_argument("--tasks", type=int, default=3, help="containers started per run (default 3)")
    parser.add_argument("--noop-tasks", type=int, default=10,
                        help="no-op tasks per playbook (default 10, as bench/noop_image.py)")
    parser.add_argument("--networks", default="bridge,host", help="networks of the start benchmark (default bridge,host)")
    parser.add_argument("--only", choices=["start", "start-engine", "noop"],
                        help="one part only (start-engine: the engine against podman run -d, no playbooks)")
    args = parser.parse_args()
    bin_dir = bench_venv(log)
    ensure_bytecode()
    work = tempfile.mkdtemp(prefix="undock-bench-run-")
    pod: Dict[str, str] = {}
    try:
        with Registry("plain", os.path.join(work, "registry")) as registry:
            registry.start()
            image = I.push_oci_image(registry, repo="bench/run", tag="1.0")
            pod = podman_env(work, registry.host, driver="overlay")
            bench = Bench(work, bin_dir, pod, image.ref)
            log("image %s, %d runs, %d per run, venv %s" % (image.ref, args.runs, args.tasks, bin_dir))
            # the image into both stores, untimed
            subprocess.run(["podman", "pull", "-q", image.ref], env=bench.pod_env, check=True, timeout=300,
                           stdout=subprocess.DEVNULL)
            timed_cpu(bench.engine(bench.ours("bench-pull", "none", "present")), bench.engine_env, what="first pull")
            bench.remove_ours(["bench-pull"])
            if args.only in (None, "start", "start-engine"):
                for network in args.networks.split(","):
                    bench_start(bench, network, args.runs, args.tasks, modules=args.only != "start-engine")
            if args.only in (None, "noop"):
                bench_noop(bench, args.runs, args.noop_tasks)
    finally:
        if pod:
            subprocess.run(["podman", "rm", "--all", "--force", "--time", "0"], env=dict(os.environ, **pod),
                           capture_output=True, timeout=300, check=False)
            subprocess.run(["podman", "rmi", "--all", "--force"], env=dict(os.environ, **pod),
                           capture_output=True, timeout=300, check=False)
            subprocess.run(["umount", "-R", os.path.join(work, "podman-storage", "overlay")], capture_output=True,
                           check=False)
            shutil.rmtree(pod["BENCH_PODMAN_RUNROOT"], ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
