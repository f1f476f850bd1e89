# -*- coding: utf-8 -*-
"""Layers per task in builds driven by Ansible tasks (oci_build ``layer_per_task``), on real
parts: a play of three tasks that write and one that only reads, run by ansible-playbook
through the undock.oci.oci connection in a busybox working container, gives three new layers
(one per writing task, named after it) with ``layer_per_task``, and one without. The engine
side: a task that only reaches the rootfs makes no layer, and the tag stop-layering ends
layers per task."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from harness.ansible import BIN, ansible_env
from harness.engine import service
from test_ansible_build import BASE, blob, layer_members, layout, no_mounts_under  # noqa: F401

from ansible_collections.undock.oci.plugins.module_utils.build import session
from ansible_collections.undock.oci.plugins.module_utils.build.kept import KeptContainers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

IMAGE = "localhost/undock/per-task:1"

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - undock.oci.oci_image: {name: "%(base)s", source: "oci:%(layout)s:base", storage_root: "%(store)s", run_root: "%(run)s"}
    - undock.oci.oci_build:
        state: started
        container: per-task
        name: "%(image)s"
        source_date_epoch: 1700000000
        layer_per_task: %(per_task)s
        storage_root: "%(store)s"
        run_root: "%(run)s"
        steps: [{from: "%(base)s"}]
      register: working
    - ansible.builtin.add_host:
        name: "{{ working.container.name }}"
        groups: [working_containers]
        ansible_connection: undock.oci.oci
        ansible_oci_working_container: true
        ansible_python_interpreter: "{{ working.container.python_interpreter }}"
        ansible_remote_tmp: "{{ working.container.remote_tmp }}"
        ansible_oci_storage_root: "{{ working.container.storage_root }}"
        ansible_oci_run_root: "{{ working.container.run_root }}"

- hosts: working_containers
  gather_facts: false
  tasks:
    - name: first file
      ansible.builtin.copy: {content: "one\\n", dest: /one}
    - name: second file
      ansible.builtin.command: /bin/sh -c 'echo two > /two'
    - name: only reads
      ansible.builtin.stat: {path: /one}
    - name: a directory
      ansible.builtin.file: {path: /three, state: directory, mode: "0750"}
    - name: commit
      undock.oci.oci_build:
        state: committed
        container: "{{ inventory_hostname }}"
        commit_message: the rest
        remove: true
        storage_root: "{{ ansible_oci_storage_root }}"
        run_root: "{{ ansible_oci_run_root }}"
      delegate_to: localhost
"""


def written(store, digest):
    """What a layer of a task holds, but the directories the base has (copied up by overlay)."""
    return sorted(name for name, (member, data) in layer_members(store, digest).items()
                  if not (member.isdir() and name in ("etc", "tmp")))


def run_playbook(tmp_path, layout, per_task):  # noqa: F811
    store, run = str(tmp_path / "store"), str(tmp_path / "run")
    path = tmp_path / "play.yml"
    path.write_text(PLAYBOOK % {"base": BASE, "layout": layout, "store": store, "run": run, "image": IMAGE,
                                "per_task": "true" if per_task else "false"})
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)],
                          env=ansible_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    image = service(tmp_path, storage_root=store, run_root=run).local_image(IMAGE)
    assert not no_mounts_under(run)
    config = json.loads(blob(store, image.manifest.config["digest"]))
    return store, [d["digest"] for d in image.manifest.layers], config


def test_a_layer_per_task_with_layer_per_task(tmp_path, layout):  # noqa: F811
    store, layers, config = run_playbook(tmp_path, layout, per_task=True)
    assert len(layers) == 1 + 3, layers
    # each layer: what its task wrote (and directories copied up: /etc by runc's /etc/hosts stubs,
    # /tmp by a module's temporary file)
    assert [written(store, d) for d in layers[1:]] == [["one"], ["two"], ["three"]]
    made = [h for h in config["history"] if not h.get("empty_layer")][1:]
    assert [(h["created_by"], h["comment"]) for h in made] == [("ANSIBLE first file", "first file"),
                                                              ("ANSIBLE second file", "second file"),
                                                              ("ANSIBLE a directory", "a directory")]


def test_one_layer_for_the_play_by_default(tmp_path, layout):  # noqa: F811
    store, layers, config = run_playbook(tmp_path, layout, per_task=False)
    assert len(layers) == 1 + 1, layers
    assert written(store, layers[1]) == ["one", "three", "two"]
    assert config["history"][-1]["comment"] == "the rest"


def test_reading_tasks_make_no_layer_and_stop_layering_ends_them(tmp_path, layout):  # noqa: F811
    svc = service(tmp_path)
    svc.present(BASE, source="oci:%s:base" % layout)
    session.start(svc, "tagged", "localhost/tagged:1", [{"from": BASE}], python="", epoch=1700000000,
                  layer_per_task=True)
    kept = KeptContainers(svc.store(), svc.run_root)
    try:
        made = []
        for name, command, stop in (("a", "echo a > /a", False), ("read", "cat /a", False),
                                    ("b", "echo b > /b", True), ("c", "echo c > /c", False)):
            with kept.open("tagged") as working:
                assert working.exec(["/bin/sh", "-c", command])[0] == 0
                made.append(working.end_task(name, stop_layering=stop))
        assert made[0] is not None and made[1:] == [None, None, None]
        committed = session.commit(svc, "tagged", None, message="rest")
    finally:
        session.remove_container(svc, "tagged")
    layers = [d["digest"] for d in svc.local_image("localhost/tagged:1").manifest.layers]
    assert committed.changed and len(layers) == 3
    assert [sorted(layer_members(svc.storage_root, d)) for d in layers[1:]] == [["a", "etc"], ["b", "c", "etc"]]
