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
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from common import REPO, ensure_collection_link, report

ensure_collection_link()

from harness import images as I  # noqa: E402
from harness.registry import Registry  # noqa: E402

TARGET = 0.7
VENV = os.path.join(REPO, ".cache", "bench-venv")
VENV_REQUIREMENTS = ["ansible>=12,<13", "-r", os.path.join(REPO, "requirements.txt")]
PIP_TIMEOUT = 1800
PLAYBOOK_TIMEOUT = 600
OURS, PODMAN, PING = "undock.oci.oci_image", "containers.podman.podman_image", "ansible.builtin.ping"


def log(message: str) -> None:
    print("noop_image: %s" % message, flush=True)


def bench_venv() -> str:
    """The benchmark's virtualenv, created or brought up to date; returns its bin/."""
    stamp = os.path.join(VENV, ".bench-stamp")
    with open(os.path.join(REPO, "requirements.txt"), "rb") as handle:
        want = hashlib.sha256(repr(VENV_REQUIREMENTS).encode() + handle.read()).hexdigest()
    python = os.path.join(VENV, "bin", "python")
    if os.path.exists(stamp) and os.path.exists(python):
        with open(stamp) as handle:
            if handle.read().strip() == want:
                return os.path.join(VENV, "bin")
    log("creating %s with %s (once)" % (VENV, " ".join(VENV_REQUIREMENTS)))
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True, timeout=PIP_TIMEOUT)
    proc = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + VENV_REQUIREMENTS,
                          capture_output=True, text=True, timeout=PIP_TIMEOUT)
    # pip warns once per package about this machine's optional local indexes: keep the rest
    noise = "is ignored: it is neither a file nor a directory"
    sys.stdout.write("".join(line for line in (proc.stdout + proc.stderr).splitlines(True) if noise not in line))
    if proc.returncode != 0:
        raise SystemExit("noop_image: pip install into %s failed (exit %d)" % (VENV, proc.returncode))
    with open(stamp, "w") as handle:
        handle.write(want + "\n")
    return os.path.join(VENV, "bin")


def podman_env(work: str, registry: Registry) -> Dict[str, str]:
    """podman's storage and registry configuration, private to this run."""
    registries = os.path.join(work, "registries.conf")
    with open(registries, "w") as handle:
        handle.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % registry.host)
    # podman wants a short run root (socket paths must stay under ~100 characters)
    runroot = tempfile.mkdtemp(prefix="unb-", dir="/tmp")
    storage = os.path.join(work, "storage.conf")
    with open(storage, "w") as handle:
        handle.write('[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n'
                     % (os.path.join(work, "podman-storage"), runroot))
    auth = os.path.join(work, "auth.json")
    with open(auth, "w") as handle:
        handle.write('{"auths": {}}')
    return {"CONTAINERS_REGISTRIES_CONF": registries, "CONTAINERS_STORAGE_CONF": storage,
            "REGISTRY_AUTH_FILE": auth, "BENCH_PODMAN_RUNROOT": runroot}


def write_playbook(path: str, module: str, args: Dict[str, object], tasks: int) -> None:
    play = {"name": "noop %s" % module, "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "%s %d" % (module, n), module: args} for n in range(tasks)]}
    with open(path, "w") as handle:
        json.dump([play], handle, indent=1)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_playbook(bin_dir: str, playbook: str, env: Dict[str, str], expect_changed: bool = False) -> Tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of ansible-playbook and everything it
    ran: workers, modules, podman) of one run; fails unless every task is ok, and (for
    the timed runs) none changed."""
    command = [os.path.join(bin_dir, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook]
    cpu, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):]
    if proc.returncode != 0 or "failed=0" not in recap or (not expect_changed and "changed=0" not in recap):
        raise SystemExit("noop_image: %s did not run clean (rc %d):\n%s\n%s"
                         % (playbook, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return elapsed, cpu


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *dummy: sys.exit(143))  # stop the registry, remove the work dir
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each playbook (default 7)")
    parser.add_argument("--tasks", type=int, default=10, help="tasks per playbook (default 10)")
    args = parser.parse_args()
    bin_dir = bench_venv()
    work = tempfile.mkdtemp(prefix="undock-bench-noop-")
    pod: Dict[str, str] = {}
    try:
        with Registry("plain", os.path.join(work, "registry")) as registry:
            registry.start()
            image = I.push_oci_image(registry, repo="bench/noop", tag="1.0")
            pod = podman_env(work, registry)
            env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".venv", "collections"),
                       ANSIBLE_PYTHON_INTERPRETER=os.path.join(bin_dir, "python"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                       ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_RETRY_FILES_ENABLED="0", **pod)
            env.pop("VIRTUAL_ENV", None)
            books = {
                OURS: (OURS, {"name": image.ref, "storage_root": os.path.join(work, "undock-store"),
                              "validate_certs": False}),
                PODMAN: (PODMAN, {"name": image.ref, "validate_certs": False}),
                PING: (PING, {}),
            }
            paths = {}
            for label, (module, module_args) in books.items():
                paths[label] = os.path.join(work, "%s.json" % label.rsplit(".", 1)[-1])
                write_playbook(paths[label], module, module_args, args.tasks)
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
        for label, runs in results.items():
            print("  %-4s %-32s median %7.3f s   runs: %s" % (kind, label, statistics.median(runs),
                                                            " ".join("%.3f" % r for r in runs)))
    # Each run minus the ping run of the same round: Ansible's own start-up and per-task
    # overhead goes, and so does most of the machine's load of that moment. CPU seconds
    # hardly move with the load of a shared machine; wall seconds are what a user waits.
    for kind, results in (("wall", wall), ("cpu", cpu)):
        net = {label: [(mine - ping) / args.tasks for mine, ping in zip(results[label], results[PING])]
               for label in (OURS, PODMAN)}
        report("noop_image (%s): seconds per no-op task beyond %s, same round" % (kind, PING), net, OURS, PODMAN, TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
