# -*- coding: utf-8 -*-
"""`make demo`'s script, run for real: it says which step runs before each long one, and
the playbook's own promises hold."""

from __future__ import annotations

import os
import subprocess
import sys

from harness.ansible import ansible_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_runs_and_shows_its_steps():
    proc = subprocess.run([sys.executable, os.path.join(REPO, "hack", "demo.py")], env=ansible_env(),
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout
    steps = ["demo: [1/3] building a busybox image layout", "demo: [2/3] starting a docker-registry on 127.0.0.1",
             "demo: [3/3] running playbooks/demo.yml"]
    positions = [out.find(s) for s in steps]
    assert -1 not in positions and positions == sorted(positions), out[:3000]
    # each step's start is said before its work: the playbook's first task comes after step 3
    assert positions[2] < out.find("TASK [Load the image from the local layout")
    assert "registry ready at http://127.0.0.1:" in out
    assert "All assertions passed" in out and "failed=0" in out
    assert "demo:       playbook exit 0" in out
