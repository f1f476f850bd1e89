#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""bench/build: building a Dockerfile, ours (undock.oci) against buildah and podman, in the same run.

The Dockerfile (``DOCKERFILE``) has two stages, four RUN and five COPY steps, FROM the tests'
busybox image served by a docker-registry of the benchmark's own on 127.0.0.1; the context
holds 200 small files, a configuration directory and a 4 MiB file. Each contender builds it
cold (no image built and no build cache, the base image already pulled, untimed), then warm
(the same build again at once: everything cached). Per run, in turns:

1. the engine (bench/engine_build.py: ``build_dockerfile`` in a process of its own) against
   ``buildah build --layers --runtime runc`` (a storage root of its own, overlay driver);
   targets: cold <= 1.0x, warm <= 0.5x;
2. ``undock.oci.oci_build`` against ``containers.podman.podman_image`` (``build:`` options),
   both through ``ansible-playbook`` with a ping playbook of the same round subtracted (warm:
   ``--warm-tasks`` no-op tasks per playbook, per task, as bench/noop_image.py);
   podman gets runc through CONTAINERS_CONF (common.podman_env); targets: cold <= 1.0x,
   warm <= 0.5x.

The warm runs of ours are what a user gets on a rebuild: the module's fingerprint finds every
input unchanged and builds nothing; ``engine, warm --force`` is also timed (every step
replayed from the layer cache) and printed for information.

Prints the median wall and CPU seconds (user + system of the command and all it waited for)
and the ratio lines. ``--runs 1`` is a quick check that the benchmark itself works.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Dict, List

from common import (COLLECTIONS, PING, bench_venv, ensure_bytecode, ensure_collection_link, net_of, playbook_env,
                    podman_env, print_runs, report, run_playbook, timed_cpu, write_playbook)

ensure_collection_link()

from harness import images as I  # noqa: E402
from harness.buildah import Buildah  # noqa: E402
from harness.engine import registries_conf  # noqa: E402
from harness.registry import Registry  # noqa: E402

COLD_TARGET, WARM_TARGET = 1.0, 0.5
ENGINE, BUILDAH = "engine (build_dockerfile)", "buildah build --layers"
ENGINE_FORCE = "engine, warm --force"
OURS, PODMAN = "undock.oci.oci_build", "containers.podman.podman_image"
ENGINE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine_build.py")
NAME = "localhost/bench/build:1"

DOCKERFILE = """\
FROM {base} AS build
RUN mkdir -p /out/bin /out/data && for i in $(seq 1 200); do echo "item $i" > /out/data/$i.txt; done
COPY src/ /src/
RUN cat /src/*.txt > /out/all.txt && wc -l /out/all.txt > /out/count
RUN cp /bin/busybox /out/bin/tool && chmod 755 /out/bin/tool

FROM {base}
COPY --from=build /out /opt/app
COPY conf/ /etc/app/
COPY big.bin /opt/big.bin
RUN ls -lR /opt/app > /opt/listing && rm -f /opt/app/count
COPY --from=build /src/1.txt /etc/app/first.txt
ENV APP_HOME=/opt/app
CMD ["/opt/app/bin/tool", "sh"]
"""


def log(message: str) -> None:
    print("build: %s" % message, flush=True)


def make_context(directory: str, base: str) -> str:
    os.makedirs(os.path.join(directory, "src"))
    os.makedirs(os.path.join(directory, "conf", "sub"))
    for n in range(1, 201):
        with open(os.path.join(directory, "src", "%d.txt" % n), "w") as handle:
            handle.write("source file %d\n" % n)
    for n in range(10):
        with open(os.path.join(directory, "conf", "sub" if n % 2 else "", "app%d.conf" % n), "w") as handle:
            handle.write("key%d = value\n" % n)
    with open(os.path.join(directory, "big.bin"), "wb") as handle:
        handle.write(random.Random(8).randbytes(4 * 1024 * 1024))
    dockerfile = os.path.join(directory, "Dockerfile")
    with open(dockerfile, "w") as handle:
        handle.write(DOCKERFILE.format(base=base))
    return dockerfile


class Bench:
    def __init__(self, work: str, bin_dir: str, registry: Registry, base: str) -> None:
        self.work, self.bin, self.base = work, bin_dir, base
        self.context = os.path.join(work, "context")
        self.dockerfile = make_context(self.context, base)
        self.conf = registries_conf(os.path.join(work, "undock-conf"), registry.host)
        self.store = os.path.join(work, "undock-store")
        self.run_root = os.path.join(work, "undock-run")
        self.engine_env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        self.python = os.path.join(bin_dir, "python")
        self.buildah = Buildah(os.path.join(work, "buildah"), registry.host)
        self.pod = podman_env(work, registry.host, driver="overlay")
        self.pod_env = dict(os.environ, **self.pod)
        self.play_env = playbook_env(bin_dir, self.pod)

    # -- ours ------------------------------------------------------------------------
    def engine(self, *extra: str) -> List[str]:
        return [self.python, ENGINE_SCRIPT, self.store, self.run_root, self.conf, NAME, self.dockerfile,
                self.context] + list(extra)

    def ours_cold(self) -> None:
        """An empty store holding only the base image."""
        from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
        from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistryOptions
        from ansible_collections.undock.oci.plugins.module_utils.registry.context import RegistryContext
        subprocess.run(["umount", "-R", self.run_root], capture_output=True, check=False)
        shutil.rmtree(self.store, ignore_errors=True)
        shutil.rmtree(self.run_root, ignore_errors=True)
        options = RegistryOptions(registries_conf=self.conf, registries_conf_dir=self.conf + ".d",
                                  auth_file=self.conf + ".auth.json")
        ImageService(self.store, RegistryContext(options), run_root=self.run_root).present(self.base, pull="missing")

    # -- peers -----------------------------------------------------------------------
    def buildah_build(self) -> List[str]:
        return ["buildah"] + self.buildah.build_args(NAME, self.context, dockerfile=self.dockerfile)

    def buildah_cold(self) -> None:
        subprocess.run(["buildah", "rmi", "--all", "--force"], env=self.buildah.env, capture_output=True, timeout=600)
        self.buildah.run(["pull", "--quiet", self.base])

    def podman_cold(self) -> None:
        subprocess.run(["podman", "rmi", "--all", "--force"], env=self.pod_env, capture_output=True, timeout=600)
        subprocess.run(["podman", "pull", "-q", self.base], env=self.pod_env, check=True, timeout=600,
                       stdout=subprocess.DEVNULL)

    def playbooks(self, tasks: int) -> Dict[str, str]:
        """label -> playbook of ``tasks`` identical tasks."""
        ours = {"name": NAME, "containerfile": self.dockerfile, "context": self.context,
                "storage_root": self.store, "validate_certs": False}
        podman = {"name": NAME, "path": self.context, "state": "present", "validate_certs": False,
                  "build": {"file": self.dockerfile, "format": "oci", "cache": True}}
        return {label: write_playbook(os.path.join(self.work, "%s-%d.json" % (label.rsplit(".", 1)[-1], tasks)), label,
                                      [(label, args)] * tasks)
                for label, args in ((OURS, ours), (PODMAN, podman), (PING, {}))}

    def close(self) -> None:
        try:
            subprocess.run(["podman", "rmi", "--all", "--force"], env=self.pod_env, capture_output=True, timeout=600)
            subprocess.run(["umount", "-R", os.path.join(self.work, "podman-storage", "overlay")],
                           capture_output=True, check=False)
            shutil.rmtree(self.pod["BENCH_PODMAN_RUNROOT"], ignore_errors=True)
        finally:
            self.buildah.close()
            subprocess.run(["umount", "-R", self.run_root], capture_output=True, check=False)


def bench_engine(bench: Bench, runs: int) -> None:
    labels = ("%s cold" % ENGINE, "%s warm" % ENGINE, ENGINE_FORCE, "%s cold" % BUILDAH, "%s warm" % BUILDAH)
    wall: Dict[str, List[float]] = {label: [] for label in labels}
    cpu: Dict[str, List[float]] = {label: [] for label in labels}

    def timed(label: str, argv: List[str], env: Dict[str, str], expect: str = "") -> None:
        seconds, cpu_seconds, proc = timed_cpu(argv, env, what=label)
        if expect and proc.stdout.strip() != expect:
            raise SystemExit("%s: expected %s, got %r" % (label, expect, proc.stdout.strip()))
        wall[label].append(seconds)
        cpu[label].append(cpu_seconds)

    for run in range(runs):
        bench.ours_cold()
        timed(labels[0], bench.engine(), bench.engine_env, "changed")
        timed(labels[1], bench.engine(), bench.engine_env, "unchanged")
        timed(labels[2], bench.engine("--force"), bench.engine_env, "changed")
        bench.buildah_cold()
        timed(labels[3], bench.buildah_build(), bench.buildah.env)
        timed(labels[4], bench.buildah_build(), bench.buildah.env)
        log("engine run %d/%d: %s" % (run + 1, runs, "  ".join("%s %.2f s" % (k, wall[k][-1]) for k in labels)))
    print("== build/engine: %d runs, load average %.1f at the end" % (runs, os.getloadavg()[0]))
    for kind, results in (("wall", wall), ("cpu", cpu)):
        print_runs(kind, results)
    for kind, results in (("wall", wall), ("cpu", cpu)):
        for phase, target in (("cold", COLD_TARGET), ("warm", WARM_TARGET)):
            ours, theirs = "%s %s" % (ENGINE, phase), "%s %s" % (BUILDAH, phase)
            report("build/engine %s (%s)" % (phase, kind), {ours: results[ours], theirs: results[theirs]},
                   ours, theirs, target)


def bench_modules(bench: Bench, runs: int, warm_tasks: int) -> None:
    """Cold: a playbook of one build task. Warm: a playbook of ``warm_tasks`` such tasks, all
    no-ops, divided by their number (as bench/noop_image.py does: each playbook run pays once
    for Ansible's assembly of the module's payload). A ping playbook of as many tasks is
    subtracted from each."""
    cold, warm = bench.playbooks(1), bench.playbooks(warm_tasks)
    ping_cold, ping_warm = "%s x1" % PING, "%s x%d" % (PING, warm_tasks)
    labels = ("%s cold" % OURS, "%s warm" % OURS, "%s cold" % PODMAN, "%s warm" % PODMAN, ping_cold, ping_warm)
    wall: Dict[str, List[float]] = {label: [] for label in labels}
    cpu: Dict[str, List[float]] = {label: [] for label in labels}

    def play(label: str, book: str, changed) -> None:
        seconds, cpu_seconds = run_playbook(bench.bin, book, bench.play_env, expect_changed=changed)
        wall[label].append(seconds)
        cpu[label].append(cpu_seconds)

    run_playbook(bench.bin, cold[PING], bench.play_env)  # warm the controller's caches for every contender alike
    for run in range(runs):
        bench.ours_cold()
        play(labels[0], cold[OURS], True)
        play(labels[1], warm[OURS], False)
        bench.podman_cold()
        play(labels[2], cold[PODMAN], True)
        play(labels[3], warm[PODMAN], False)
        play(ping_cold, cold[PING], False)
        play(ping_warm, warm[PING], False)
        log("module run %d/%d: %s" % (run + 1, runs, "  ".join("%s %.2f s" % (k, wall[k][-1]) for k in labels)))
    print("== build/module: one build task per cold playbook, %d no-op build tasks per warm playbook, %d runs, "
          "load average %.1f at the end" % (warm_tasks, runs, os.getloadavg()[0]))
    for kind, results in (("wall", wall), ("cpu", cpu)):
        print_runs(kind, results)
    for kind, results in (("wall", wall), ("cpu", cpu)):
        for phase, target, ping, per in (("cold", COLD_TARGET, ping_cold, 1), ("warm", WARM_TARGET, ping_warm, warm_tasks)):
            ours, theirs = "%s %s" % (OURS, phase), "%s %s" % (PODMAN, phase)
            net = net_of(results, (ours, theirs), ping, per)
            report("build/module %s (%s): seconds per task beyond %s, same round" % (phase, kind, ping), net, ours, theirs,
                   target)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *dummy: sys.exit(143))  # remove the stores, stop the registry
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed cold+warm rounds of each contender (default 5)")
    parser.add_argument("--warm-tasks", type=int, default=10,
                        help="no-op build tasks per warm playbook (default 10, as bench/noop_image.py)")
    parser.add_argument("--only", choices=["engine", "module"], help="one part only")
    args = parser.parse_args()
    bin_dir = bench_venv(log)
    ensure_bytecode()
    work = tempfile.mkdtemp(prefix="undock-bench-build-")
    bench = None
    try:
        with Registry("plain", os.path.join(work, "registry")) as registry:
            registry.start()
            base = I.push_layers(registry, "bench/busybox", "1", [I.tar_layer(I.busybox_entries())])
            bench = Bench(work, bin_dir, registry, base.ref)
            log("base %s, %d runs, venv %s" % (base.ref, args.runs, bin_dir))
            if args.only in (None, "engine"):
                bench_engine(bench, args.runs)
            if args.only in (None, "module"):
                bench_modules(bench, args.runs, args.warm_tasks)
    finally:
        if bench is not None:
            bench.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
