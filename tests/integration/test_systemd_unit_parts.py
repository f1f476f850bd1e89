# -*- coding: utf-8 -*-
"""The two pieces a container's systemd unit runs (runtime/systemd.py), run here for real
without systemd: the log pipe (monitor.py --log-pipe, the unit's main process) caps the log
as the monitor does and ends as its command ended; the unit's hook records each run and
spaces restarts with the monitor's doubling back-off. The units themselves run in tests/node/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.runtime import monitor
from ansible_collections.undock.oci.plugins.module_utils.runtime import systemd as D
from ansible_collections.undock.oci.plugins.module_utils.runtime.records import ContainerPaths, tail
from ansible_collections.undock.oci.plugins.module_utils.runtime.systemd_units import read_events

pytestmark = pytest.mark.integration


def log_pipe(log: str, cap: int, *command: str, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-I", "-S", monitor.__file__, "--log-pipe", log, str(cap), "--"]
                            + list(command), stdin=subprocess.DEVNULL, **options)


def test_the_log_pipe_caps_the_log_as_the_monitor_does(tmp_path):
    log = str(tmp_path / "container.log")
    script = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done; echo oops >&2; exit 3"
    proc = log_pipe(log, 1000, "sh", "-c", script)
    assert proc.wait(30) == 3
    assert os.path.getsize(log) <= 1000 and os.path.getsize(log + ".1") == 1000
    assert tail(log, 3) == ["line 298", "line 299", "oops"]
    assert not os.path.exists(log + ".2")


def test_the_log_pipe_outlives_the_stop_signal_and_ends_as_its_command(tmp_path):
    log = str(tmp_path / "container.log")
    script = "trap 'echo got term; exit 143' TERM; echo ready; while :; do sleep 0.05; done"
    proc = log_pipe(log, 1 << 20, "sh", "-c", script, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while tail(log, 1) != ["ready"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tail(log, 1) == ["ready"]
        os.killpg(proc.pid, signal.SIGTERM)  # as systemd signals the unit's control group
        assert proc.wait(20) == 143
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert tail(log, 1) == ["got term"]
    killed = log_pipe(log, 1 << 20, "sh", "-c", "kill -KILL $$")
    assert killed.wait(20) == -signal.SIGKILL  # killed as the runtime was: systemd sees the same
    missing = log_pipe(log, 1 << 20, str(tmp_path / "no-runtime"))
    assert missing.wait(20) == 127 and "cannot run" in tail(log, 1)[0]


def run_hook(paths: ContainerPaths, hook: str, step: str, **env: str) -> float:
    began = time.monotonic()
    subprocess.run(["/bin/sh", hook, step], env=dict(os.environ, **env), check=True, timeout=30,
                   stdin=subprocess.DEVNULL)
    return time.monotonic() - began


def backoff(paths: ContainerPaths):
    with open(paths.backoff) as handle:
        delay, started = handle.read().split()
    return int(delay), int(started)


def test_the_unit_hook_doubles_the_delay_between_quick_restarts(tmp_path):
    paths = ContainerPaths(str(tmp_path / "store"), str(tmp_path / "run dir"), "flaky")
    os.makedirs(paths.run)
    hook = str(tmp_path / "hook.sh")
    with open(hook, "w") as handle:  # a cap of 400 ms instead of 30 s, to see it without the wait
        handle.write(D.unit_hook(paths, "/bin/true", str(tmp_path / "root"), max_ms=400))
    assert run_hook(paths, hook, "start") < 0.5  # the first run: no wait
    assert backoff(paths)[0] == 100
    exited = dict(EXIT_CODE="exited", EXIT_STATUS="1")
    sleeps = []
    for dummy in range(4):
        run_hook(paths, hook, "exit", **exited)
        sleeps.append(run_hook(paths, hook, "start"))  # RestartSec= (100 ms) is systemd's, before this
    # the hook sleeps what the monitor waits beyond the first 100 ms: 0, 0.1, 0.3, 0.3 (capped at 0.4 s)
    assert [backoff(paths)[0]] == [400]
    assert sleeps[0] < 0.09 and 0.1 <= sleeps[1] < 0.5 and 0.3 <= sleeps[2] < 0.7 and 0.3 <= sleeps[3] < 0.7, sleeps
    starts, exits = read_events(paths.events)
    assert len(starts) == 5 and len(exits) == 4 and exits[0][:2] == ("exited", "1")
    # a run of 10 s or more resets the back-off
    delay, started = backoff(paths)
    with open(paths.backoff, "w") as handle:
        handle.write("%d %d\n" % (delay, started - 10_000))
    run_hook(paths, hook, "exit", **exited)
    assert backoff(paths)[0] == 100
    assert run_hook(paths, hook, "start") < 0.09 and backoff(paths)[0] == 200
    # a stop while the hook waited before a restart ends no run: the events keep the last exit
    run_hook(paths, hook, "exit", **exited)
    run_hook(paths, hook, "exit", EXIT_CODE="killed", EXIT_STATUS="TERM")
    starts, exits = read_events(paths.events)
    assert len(starts) == len(exits) == 6 and exits[-1][:2] == ("exited", "1")
