# -*- coding: utf-8 -*-
"""Shared pieces of the benchmarks: a loopback registry from the test harness, timing of
whole commands, medians and the ratio line every benchmark prints; for the benchmarks
against containers.podman, the benchmark's own virtualenv (the ``ansible`` 12 package),
a podman configuration private to the run, and timed ``ansible-playbook`` runs."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")
COLLECTIONS = os.path.join(REPO, ".venv", "collections")
for path in (TESTS, COLLECTIONS):
    if path not in sys.path:
        sys.path.insert(0, path)


def ensure_collection_link() -> None:
    link = os.path.join(COLLECTIONS, "ansible_collections", "undock", "oci")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)


def ensure_bytecode() -> None:
    """Compile the engine once, as an installed package would be: this machine sets
    PYTHONDONTWRITEBYTECODE, and recompiling ~40 modules on every run (~0.1 s) would be
    charged to the engine's download speed."""
    import compileall
    compileall.compile_dir(os.path.join(REPO, "plugins"), quiet=1)


def engine_env() -> Dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([COLLECTIONS, TESTS]))


def baseline_engine(revision: str) -> Tuple[str, Dict[str, str]]:
    """(bench/undock_pull.py, environment) of the engine at git ``revision``, checked out
    once under .cache/bench-baseline/ and compiled, so that a benchmark can time an earlier
    engine beside today's in the same run ("no slower than before")."""
    import compileall
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", revision + "^{commit}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    tree = os.path.join(REPO, ".cache", "bench-baseline", commit[:12])
    if not os.path.isdir(os.path.join(tree, "plugins")):
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", "-f", tree, commit],
                       capture_output=True, check=True)
    collections = os.path.join(tree + ".collections")
    link = os.path.join(collections, "ansible_collections", "undock", "oci")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(tree, link)
    compileall.compile_dir(os.path.join(tree, "plugins"), quiet=1)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([collections, os.path.join(tree, "tests")]))
    return os.path.join(tree, "bench", "undock_pull.py"), env


def timed(command: Sequence[str], env: Dict[str, str] = None, before: Callable[[], None] = None) -> float:
    """Wall seconds of one run of ``command`` (``before`` runs untimed first)."""
    if before:
        before()
    start = time.perf_counter()
    proc = subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("benchmark command failed: %s\n%s\n%s" % (command, proc.stdout, proc.stderr))
    return elapsed


def report(title: str, results: Dict[str, List[float]], ours: str, baseline: str, target: float) -> bool:
    """Print medians and the ratio ours/baseline; return whether the target is met."""
    print("== %s" % title)
    for name, runs in results.items():
        print("  %-28s median %7.3f s   runs: %s" % (name, statistics.median(runs),
                                                     " ".join("%.3f" % r for r in runs)))
    ratio = statistics.median(results[ours]) / statistics.median(results[baseline])
    met = ratio <= target
    print("  ratio %s / %s = %.2fx (target <= %.2fx): %s" % (ours, baseline, ratio, target,
                                                          "met" if met else "MISSED"))
    return met


# -- against containers.podman, through ansible-playbook --------------------------------
VENV = os.path.join(REPO, ".cache", "bench-venv")
VENV_REQUIREMENTS = ["ansible>=12,<13", "-r", os.path.join(REPO, "requirements.txt")]
PIP_TIMEOUT = 1800
PLAYBOOK_TIMEOUT = 600
PING = "ansible.builtin.ping"


def bench_venv(log: Callable[[str], None]) -> str:
    """The benchmarks' virtualenv, created or brought up to date; returns its bin/."""
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
        raise SystemExit("pip install into %s failed (exit %d)" % (VENV, proc.returncode))
    with open(stamp, "w") as handle:
        handle.write(want + "\n")
    return os.path.join(VENV, "bin")


def podman_env(work: str, registry_host: str, driver: str = "vfs") -> Dict[str, str]:
    """podman's storage, registry and engine configuration, private to this run (runc:
    crun refuses this machine's hybrid cgroups). BENCH_PODMAN_RUNROOT is for the caller
    to remove."""
    registries = os.path.join(work, "registries.conf")
    with open(registries, "w") as handle:
        handle.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % registry_host)
    # podman wants a short run root (socket paths must stay under ~100 characters)
    runroot = tempfile.mkdtemp(prefix="unb-", dir="/tmp")
    storage = os.path.join(work, "storage.conf")
    with open(storage, "w") as handle:
        handle.write('[storage]\ndriver = "%s"\ngraphroot = "%s"\nrunroot = "%s"\n'
                     % (driver, os.path.join(work, "podman-storage"), runroot))
    engine = os.path.join(work, "containers.conf")
    with open(engine, "w") as handle:
        handle.write('[engine]\nruntime = "runc"\n')
    auth = os.path.join(work, "auth.json")
    with open(auth, "w") as handle:
        handle.write('{"auths": {}}')
    return {"CONTAINERS_REGISTRIES_CONF": registries, "CONTAINERS_STORAGE_CONF": storage,
            "CONTAINERS_CONF": engine, "REGISTRY_AUTH_FILE": auth, "BENCH_PODMAN_RUNROOT": runroot}


def playbook_env(bin_dir: str, extra: Dict[str, str]) -> Dict[str, str]:
    """The environment of every timed ansible-playbook: this collection, the venv's python
    as the managed host's interpreter, no colour, no warnings about the inventory."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_PYTHON_INTERPRETER=os.path.join(bin_dir, "python"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_RETRY_FILES_ENABLED="0", **extra)
    env.pop("VIRTUAL_ENV", None)
    return env


def write_playbook(path: str, title: str, tasks: Sequence[Tuple[str, Dict[str, Any]]]) -> str:
    """A play on localhost of ``tasks`` (module, arguments)."""
    play = {"name": title, "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "%s %d" % (module, n), module: args} for n, (module, args) in enumerate(tasks)]}
    with open(path, "w") as handle:
        json.dump([play], handle, indent=1)
    return path


def children_cpu() -> float:
    """User + system seconds of every child waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_cpu(command: Sequence[str], env: Optional[Dict[str, str]] = None, timeout: float = PLAYBOOK_TIMEOUT,
              what: str = "") -> Tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds (the command and all it ran and waited for) of one run of ``command``."""
    cpu, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    elapsed, cpu = time.perf_counter() - start, children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit("%s failed (rc %d): %s\n%s\n%s" % (what or "benchmark command", proc.returncode,
                                                           " ".join(command), proc.stdout[-3000:], proc.stderr[-3000:]))
    return elapsed, cpu, proc


def run_playbook(bin_dir: str, playbook: str, env: Dict[str, str], expect_changed: Optional[bool] = False) -> Tuple[float, float]:
    """Wall and CPU seconds (user + system of ansible-playbook and everything it ran:
    workers, modules, podman) of one run; fails unless every task is ok and, unless
    ``expect_changed`` is None, changed or not as expected (every task for True)."""
    command = [os.path.join(bin_dir, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook]
    elapsed, cpu, proc = timed_cpu(command, env, what=playbook)
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):]
    unchanged = "changed=0" in recap
    if "failed=0" not in recap or (expect_changed is False and not unchanged) or (expect_changed and unchanged):
        raise SystemExit("%s did not run as expected (changed: %s):\n%s\n%s"
                         % (playbook, expect_changed, proc.stdout[-3000:], proc.stderr[-3000:]))
    return elapsed, cpu


def print_runs(kind: str, results: Dict[str, List[float]]) -> None:
    for label, runs in results.items():
        print("  %-4s %-40s median %7.3f s   runs: %s" % (kind, label, statistics.median(runs),
                                                        " ".join("%.3f" % r for r in runs)))


def net_of(results: Dict[str, List[float]], labels: Sequence[str], baseline: str, per: int = 1) -> Dict[str, List[float]]:
    """Each run of ``labels`` minus the ``baseline`` run of the same round, divided by ``per``:
    Ansible's own start-up and per-task overhead goes, and so does most of the machine's
    load of that moment."""
    return {label: [(mine - base) / per for mine, base in zip(results[label], results[baseline])] for label in labels}
