#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_container_exec
short_description: Run a command in a running container of the local store
version_added: 0.2.0
description:
  - Runs a command in a container started by M(undock.oci.oci_container), through C(runc exec) (or C(crun exec),
    whichever runtime the container runs with). No podman, docker or daemon is needed on the target.
  - The command runs with the container's own capabilities, limits and namespaces; O(env) is merged over the
    container's environment, O(user) and O(working_dir) replace the container's for this command only.
  - A container that does not exist or is not running is an error saying so.
  - Like M(ansible.builtin.command), the task reports RV(ignore:changed=true) whenever the command ran, and
    fails when it exits with a non-zero code. In check mode nothing is run and the task is skipped with
    RV(ignore:changed=false).
options:
  name:
    description:
      - Name of the container.
    type: str
    required: true
  command:
    description:
      - The command to run, split into words as a POSIX shell would; no shell runs it, so pipes and variables are not expanded.
      - Exactly one of O(command) and O(argv) is required.
    type: str
  argv:
    description:
      - The command to run as a list of words, taken as they are.
      - Exactly one of O(command) and O(argv) is required.
    type: list
    elements: str
  env:
    description:
      - Environment variables for the command, added to (and replacing) those of the container. Values are
        turned into strings.
    type: dict
  user:
    description:
      - The user (and group) to run as, C(NAME|UID[:GROUP|GID]), resolved from the image's C(/etc/passwd) and
        C(/etc/group); these are read without ever following a symlink out of the container's rootfs.
      - Defaults to the user of the container.
    type: str
  working_dir:
    description:
      - Absolute working directory of the command inside the container. Defaults to the container's.
    type: str
  stdin:
    description:
      - Text passed to the command on its standard input (with a trailing newline unless
        O(stdin_add_newline=false)). Without it, the command reads an empty input.
    type: str
  stdin_add_newline:
    description:
      - Whether a newline is appended to O(stdin).
    type: bool
    default: true
  timeout:
    description:
      - Seconds the command may run; after that it is killed and the task fails. No limit when not set.
    type: int
extends_documentation_fragment:
  - undock.oci.storage
requirements:
  - Python 3.9 or newer on the managed host
  - runc or crun (the container's O(undock.oci.oci_container#module:runtime))
attributes:
  check_mode:
    support: full
    description: Nothing is run; the task is skipped and reports RV(ignore:changed=false).
  diff_mode:
    support: none
    description: A command has no diff.
notes:
  - The store and run root must be those the container was created with (set both in a
    C(module_defaults) group C(group/undock.oci.oci)).
seealso:
  - module: undock.oci.oci_container
  - plugin: undock.oci.oci
    plugin_type: connection
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: Print the nginx configuration check of container web
  undock.oci.oci_container_exec:
    name: web
    command: nginx -t

- name: Run a shell pipeline as user app in /srv
  undock.oci.oci_container_exec:
    name: web
    argv: [/bin/sh, -c, "ls -l | wc -l"]
    user: app
    working_dir: /srv
    env:
      LANG: C.UTF-8

- name: Feed a command on its standard input, giving it at most 30 s
  undock.oci.oci_container_exec:
    name: db
    argv: [psql, -U, postgres]
    stdin: "SELECT 1;"
    timeout: 30
  register: result
"""

RETURN = r"""
rc:
  description: The exit code of the command.
  returned: when the command ran
  type: int
  sample: 0
stdout:
  description: The standard output of the command (bytes that are not UTF-8 replaced).
  returned: when the command ran
  type: str
  sample: "hello\n"
stderr:
  description: The standard error of the command.
  returned: when the command ran
  type: str
  sample: ""
stdout_lines:
  description: RV(stdout) split into lines.
  returned: when the command ran
  type: list
  elements: str
  sample: ["hello"]
stderr_lines:
  description: RV(stderr) split into lines.
  returned: when the command ran
  type: list
  elements: str
  sample: []
"""

import shlex

from ..module_utils.common.errors import UndockError
from ..module_utils.module_base import image_module
from ..module_utils.module_support import store_images


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str", required=True),
            command=dict(type="str"),
            argv=dict(type="list", elements="str"),
            env=dict(type="dict"),
            user=dict(type="str"),
            working_dir=dict(type="str"),
            stdin=dict(type="str"),
            stdin_add_newline=dict(type="bool", default=True),
            timeout=dict(type="int"),
        ),
        registry=False, names=False, mutually_exclusive=[("command", "argv")], required_one_of=[("command", "argv")],
    )
    params = module.params
    try:
        argv = shlex.split(params["command"]) if params["command"] is not None else list(params["argv"])
    except ValueError as err:
        module.fail_json(msg="command %r cannot be split into words: %s" % (params["command"], err))
    if not argv:
        module.fail_json(msg="the command is empty")
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, msg="check mode: the command is not run")
    stdin = params["stdin"]
    if stdin is not None and params["stdin_add_newline"]:
        stdin += "\n"
    from ..module_utils.runtime.service import ContainerService
    try:
        result = ContainerService(store_images(module)).exec(
            params["name"], argv, env=params["env"], user=params["user"], working_dir=params["working_dir"],
            stdin=stdin.encode("utf-8") if stdin is not None else None, timeout=params["timeout"])
    except UndockError as err:
        module.fail_json(msg=str(err))
    except OSError as err:
        module.fail_json(msg="oci_container_exec %s: %s" % (params["name"], err))
    stdout = result.stdout.decode("utf-8", "replace")
    stderr = result.stderr.decode("utf-8", "replace")
    values = dict(changed=True, rc=result.rc, stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(),
                  stderr_lines=stderr.splitlines())
    if result.rc != 0:
        module.fail_json(msg="the command exited with %d" % result.rc, **values)
    module.exit_json(**values)


if __name__ == "__main__":
    main()
