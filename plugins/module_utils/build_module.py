# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options and checks of ``oci_build`` and its answer to a rebuild with nothing changed,
shared by ``oci_build`` and ``oci_build_quick`` (which the ``oci_build`` action runs first).

Ansible packs with a module every file its imports reach, and parses them on the controller
once per playbook: this file and what it imports (module_base, build/quick.py) are what
``oci_build_quick`` ships, so nothing of the engine is imported here."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from .build.quick import unchanged
from .module_base import finish, image_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict

BUILD_ARGS: Dict[str, Any] = dict(
    name=dict(type="str"),
    steps=dict(type="list", elements="dict"),
    state=dict(type="str", default="present", choices=["present", "started", "committed", "absent"]),
    container=dict(type="str"),
    python=dict(type="str"),
    remove=dict(type="bool", default=False),
    commit_message=dict(type="str"),
    layer_per_task=dict(type="bool", default=False),
    containerfile=dict(type="path"),
    containerfile_text=dict(type="str"),
    context=dict(type="path"),
    build_args=dict(type="dict"),
    target=dict(type="str"),
    secrets=dict(type="dict", no_log=True),
    layers=dict(type="bool", default=True),
    squash=dict(type="bool", default=False),
    source_date_epoch=dict(type="int"),
    format=dict(type="str", default="oci", choices=["oci", "docker"]),
    compression=dict(type="str", default="gzip", choices=["gzip", "zstd"]),
    labels=dict(type="dict"),
    annotations=dict(type="dict"),
    platform=dict(type="str"),
    force=dict(type="bool", default=False),
    no_cache=dict(type="bool", default=False),
    push=dict(type="bool", default=False),
    runtime=dict(type="str", default="runc"),
)


def build_module() -> AnsibleModule:
    """The AnsibleModule of ``oci_build``'s options, failed here when they do not go together."""
    module = image_module(
        BUILD_ARGS,
        signing=True,
        required_if=[("state", "started", ("name", "steps", "container")),
                     ("state", "committed", ("container",)), ("state", "absent", ("container",))],
        mutually_exclusive=[("steps", "containerfile", "containerfile_text")],
    )
    params = module.params
    if params["steps"] is not None and (params["target"] or params["secrets"]):
        module.fail_json(msg="target and secrets are options of a Dockerfile build (containerfile or containerfile_text), "
                             "not of steps")
    if params["compression"] == "zstd":
        try:
            import zstandard  # noqa: F401 pylint: disable=unused-import
        except ImportError:
            module.fail_json(msg=missing_required_lib("zstandard", reason="for compression: zstd"))
    state = params["state"]
    if params["sign_by"] and not (params["push"] and state in ("present", "committed")):
        module.fail_json(msg="sign_by signs what is pushed: it needs push=true (with state=present or committed)")
    dockerfile = is_dockerfile_build(params)
    if state == "present" and (not params["name"] or (params["steps"] is None and not dockerfile)):
        module.fail_json(msg="state=present needs name and one of steps, containerfile and containerfile_text")
    if state != "present" and dockerfile:
        module.fail_json(msg="containerfile and containerfile_text build with state=present; a working container "
                             "(state=%s) is made from steps" % state)
    return module


def is_dockerfile_build(params: Dict[str, Any]) -> bool:
    return params["containerfile"] is not None or params["containerfile_text"] is not None


def exit_if_unchanged(module: AnsibleModule) -> None:
    """Exit the module with the engine's own result when the Dockerfile build is a no-op
    (build/quick.py); return when the engine must decide."""
    if is_dockerfile_build(module.params):
        outcome = unchanged(module.params)
        if outcome is not None:
            finish(module, outcome)
