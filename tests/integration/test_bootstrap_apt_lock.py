# -*- coding: utf-8 -*-
"""hack/bootstrap.sh waits, bounded and saying why, while another apt or dpkg holds the
package manager's locks, instead of failing at once.

The locks are real fcntl locks, taken the way apt takes them by a second process, on
lock files of the test's own (BOOTSTRAP_APT_LOCKS), so the machine's apt is never held up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOTSTRAP = os.path.join(REPO, "hack", "bootstrap.sh")
# Hold an fcntl write lock on argv[1] for argv[2] seconds, after printing "locked".
HOLDER = ("import fcntl, sys, time\n"
          "handle = open(sys.argv[1], 'r+')\n"
          "fcntl.lockf(handle, fcntl.LOCK_EX)\n"
          "print('locked', flush=True)\n"
          "time.sleep(float(sys.argv[2]))\n")


def _hold(path: str, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, path, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _wait_apt_locks(locks, wait: int, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, BOOTSTRAP_APT_LOCKS=" ".join(locks), BOOTSTRAP_APT_LOCK_WAIT=str(wait))
    return subprocess.run(["bash", "-c", 'source "$1" && wait_apt_locks && echo "locks free"', "bash", BOOTSTRAP],
                          env=env, capture_output=True, text=True, timeout=timeout)


def _locks(tmp_path):
    paths = [str(tmp_path / name) for name in ("lock-frontend", "lock", "lists-lock")]
    for path in paths:
        open(path, "w").close()
    return paths


def test_waits_while_another_apt_holds_the_lock(tmp_path):
    locks = _locks(tmp_path)
    holder = _hold(locks[1], 4)
    try:
        start = time.monotonic()
        proc = _wait_apt_locks(locks, wait=60, timeout=90)
        waited = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "locks free"
    assert "%s is locked by process %d (python" % (locks[1], holder.pid) in proc.stderr
    assert 2 <= waited < 30, waited


def test_gives_up_after_the_bound_naming_the_holder(tmp_path):
    locks = _locks(tmp_path)
    holder = _hold(locks[2], 120)
    try:
        start = time.monotonic()
        proc = _wait_apt_locks(locks, wait=3, timeout=60)
        waited = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode != 0 and "locks free" not in proc.stdout
    assert "ERROR: %s is still locked by process %d" % (locks[2], holder.pid) in proc.stderr
    assert "BOOTSTRAP_APT_LOCK_WAIT" in proc.stderr
    assert 3 <= waited < 30, waited


def test_free_locks_and_missing_lock_files_do_not_wait(tmp_path):
    locks = _locks(tmp_path) + [str(tmp_path / "never-created")]
    start = time.monotonic()
    proc = _wait_apt_locks(locks, wait=60, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "locks free", proc.stderr
    assert "waiting" not in proc.stderr
    assert time.monotonic() - start < 10
