# -*- coding: utf-8 -*-
"""runtime/monitor.py writes its state file and reads its config without the json module
(its import is what a start would wait for): the same bytes as json.dumps, the config back whole."""

import json

import pytest

from ansible_collections.undock.oci.plugins.module_utils.runtime import monitor


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
    back = monitor.parse_config(monitor.config_bytes(config))
    assert back == dict(config, log_max="10485760", restart_policy="")
    assert int(back["log_max"]) == config["log_max"]
    assert monitor.parse_config(b"") == {}
