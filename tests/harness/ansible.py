# -*- coding: utf-8 -*-
"""Run a module of the collection through real Ansible (ad-hoc, json callback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from .engine import python_path

BIN = os.path.dirname(sys.executable)


def ansible_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    collections = python_path().split(os.pathsep)[0]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env.update(extra or {})
    return env


def run_tasks(tasks: List[Tuple[str, Dict[str, Any], Dict[str, Any]]], timeout: float = 600) -> List[Dict[str, Any]]:
    """Run ``(module, args, task keywords)`` in order in one play on localhost; return each
    registered result (diff included). Keywords such as ``check_mode`` and ``diff`` apply
    per task. One ansible-playbook start for many calls keeps the tests fast."""
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "result.json")
        play_tasks = []
        for number, (module, args, keywords) in enumerate(tasks):
            task = {"name": "step %d" % number, module: args, "register": "r%d" % number, "ignore_errors": True}
            task.update(keywords)
            play_tasks.append(task)
        names = ", ".join("r%d" % n for n in range(len(tasks)))
        play_tasks.append({"ansible.builtin.copy": {"content": "{{ [%s] | to_json }}" % names, "dest": out},
                           "check_mode": False, "diff": False})
        playbook = os.path.join(work, "play.yml")
        with open(playbook, "w") as handle:
            json.dump([{"hosts": "localhost", "gather_facts": False, "tasks": play_tasks}], handle)
        command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook]
        proc = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=timeout)
        try:
            with open(out) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            raise AssertionError("ansible gave no result (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout,
                                                                               proc.stderr))


def run_module(module: str, args: Dict[str, Any], check: bool = False, diff: bool = False,
               timeout: float = 300) -> Dict[str, Any]:
    """The registered result of one task."""
    return run_tasks([(module, args, {"check_mode": check, "diff": diff})], timeout)[0]


def run_play_on(host: str, host_vars: Dict[str, Any], tasks: List[Dict[str, Any]], timeout: float = 600,
                extra_env: Optional[Dict[str, str]] = None) -> Tuple[List[Dict[str, Any]], subprocess.CompletedProcess]:
    """Run ``tasks`` (plain task dicts) in one play on the inventory host ``host`` with
    ``host_vars`` (its connection among them); each result is registered and collected by
    a second play on localhost. Returns the results and the finished ansible-playbook."""
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "result.json")
        play_tasks = []
        for number, task in enumerate(tasks):
            play_tasks.append(dict(task, register="r%d" % number, ignore_errors=True))
        names = ", ".join("hostvars[%r].r%d" % (host, n) for n in range(len(tasks)))
        collect = {"ansible.builtin.copy": {"content": "{{ [%s] | to_json }}" % names, "dest": out}}
        playbook = os.path.join(work, "play.yml")
        with open(playbook, "w") as handle:
            json.dump([{"hosts": host, "gather_facts": False, "tasks": play_tasks},
                       {"hosts": "localhost", "gather_facts": False, "tasks": [collect]}], handle)
        inventory = os.path.join(work, "inventory.json")
        with open(inventory, "w") as handle:
            json.dump({"all": {"hosts": {host: host_vars, "localhost": {"ansible_connection": "local"}}}}, handle)
        command = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook]
        proc = subprocess.run(command, env=ansible_env(extra_env), capture_output=True, text=True, timeout=timeout)
        try:
            with open(out) as handle:
                return json.load(handle), proc
        except (OSError, ValueError):
            raise AssertionError("ansible gave no result (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout,
                                                                               proc.stderr))
