# -*- coding: utf-8 -*-
"""Shared pieces of the benchmarks: a loopback registry from the test harness, timing of
whole commands, medians and the ratio line every benchmark prints."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Sequence, Tuple

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
