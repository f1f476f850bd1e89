# -*- coding: utf-8 -*-
"""runtime/monitor.py writes its state file and reads its config without the json module
(its import is what a start would wait for): the same bytes as json.dumps, the config back whole.
The engine's end of the pipe (runtime/monitoring.py) writes what the monitor reads."""

import json
import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.runtime import monitor, monitoring


@pytest.mark.parametrize("state", [
    {"status": "starting", "monitor_pid": 12, "monitor_start": 345, "pid": None, "exit_code": None, "started_at": None,
     "finished_at": None, "restart_count": 0, "error": None},
    {"status": "exited", "exit_code": -1, "error": 'runc create failed: "quoted" \\ back\nline \u00e9\u4e2d \U0001f600 \x00',
     "flag": True, "other": False, "ratio": 0.5, "list": [1, "a", None], "nested": {"b": 1, "a": [2]}},
])
def test_state_is_written_as_json_dumps_writes_it(state):
    assert monitor.to_json(state) == json.dumps(state, sort_keys=True)
    assert json.loads(monitor.to_json(state)) == state


def test_state_refuses_what_json_cannot_hold():
    with pytest.raises(TypeError):
        monitor.to_json({"x": object()})


def test_config_goes_over_the_pipe_whole():
    config = {"runtime": "/usr/sbin/runc", "root": "/run/undock/runtime/runc", "id": "web", "bundle": "/s p/a=c\n",
              "log_max": 10485760, "restart_policy": None, "monitor_log": "/r/\u00e9.log"}
    back = monitor.parse_config(monitoring.config_bytes(config))
    assert back == dict(config, log_max="10485760", restart_policy="")
    assert int(back["log_max"]) == config["log_max"]
    assert monitor.parse_config(b"") == {}


def _pipe_with(data: bytes, close: bool = True) -> tuple:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    if close:
        os.close(write_fd)
        write_fd = None
    return read_fd, write_fd


def test_the_engine_writes_the_go_ahead_the_monitor_waits_for():
    assert monitoring.GO == monitor.GO and len(monitor.GO) == 1  # the monitor reads one byte


@pytest.mark.parametrize("tail,given", [(b"", False), (monitoring.GO, True)])
def test_the_config_is_read_whole_and_the_go_ahead_with_it_when_it_came(tail, given):
    config = {"id": "web", "bundle": "/b"}
    read_fd, write_fd = _pipe_with(monitoring.config_bytes(config) + tail, close=False)
    try:  # the engine keeps its end open: the config is read without waiting for the end of the pipe
        assert monitor.read_config(read_fd) == (config, given)
    finally:
        os.close(write_fd)
        os.close(read_fd)


@pytest.mark.parametrize("data", [b"", monitoring.config_bytes({"id": "web"})[:-3]])
def test_a_pipe_closed_before_the_whole_config_hands_nothing_over(data):
    read_fd = _pipe_with(data)[0]
    assert monitor.read_config(read_fd) is None
    with pytest.raises(OSError):
        os.fstat(read_fd)  # closed by read_config


@pytest.mark.parametrize("data,close,expected", [(monitoring.GO, False, True), (b"", True, False)])
def test_the_go_ahead_or_the_pipe_closed_without_it(data, close, expected):
    read_fd, write_fd = _pipe_with(data, close=close)
    try:
        waiting = monitor.Monitor({"id": "web"}, go_fd=read_fd)
        assert waiting.go_ahead() is expected
        assert monitor.Monitor({"id": "web"}).go_ahead() is True  # a restart, or a go-ahead that came with the config
    finally:
        if write_fd is not None:
            os.close(write_fd)
