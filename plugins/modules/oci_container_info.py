#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_container_info
short_description: Inspect containers run by undock.oci.oci_container
version_added: 0.2.0
description:
  - Reads the containers of the store made by M(undock.oci.oci_container) - one (O(name)), several (O(names)) or
    all - with their state, exit code, times, restart count, image, OCI bundle, network address, published ports
    and the tail of their logs.
  - Each record is the one M(undock.oci.oci_container) returns as RV(undock.oci.oci_container#module:container).
  - It only reads; it never creates the store, mounts, attaches or starts anything.
options:
  name:
    description:
      - One container to inspect. A container that does not exist is not an error - it is left out of
        RV(containers) and listed in RV(missing).
      - Without O(name) and O(names), every container of the store.
    type: str
  names:
    description: Several containers to inspect, as for O(name).
    type: list
    elements: str
  log_lines:
    description: How many of the last lines of each container's log to return in C(logs).
    type: int
    default: 20
requirements:
  - Python 3.9 or newer on the managed host
extends_documentation_fragment:
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description: The module only reads, in check mode as otherwise.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to diff.
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: Inspect one container, with the last 50 lines of its log
  undock.oci.oci_container_info:
    name: web
    log_lines: 50
  register: web

- name: Fail unless it runs
  ansible.builtin.assert:
    that: web.containers[0].state == 'running'

- name: Every container of the store
  undock.oci.oci_container_info:
  register: all_containers
"""

RETURN = r"""
containers:
  description: The containers found, in the order asked (sorted by name when all are listed).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the container.
      type: str
    state:
      description: V(created) (never started), V(running), V(restarting) (waiting to be restarted) or V(stopped).
      type: str
      sample: running
    pid:
      description: Host pid of the container's init while it runs, else null.
      type: int
    exit_code:
      description: Exit code of the last run (128 + signal number when killed by a signal), null if none.
      type: int
      sample: 137
    started_at:
      description: When the last run started (UTC, ISO 8601).
      type: str
    finished_at:
      description: When the last run ended (UTC, ISO 8601), null while it runs.
      type: str
    restart_count:
      description: Restarts made by the restart policy since the last start by M(undock.oci.oci_container).
      type: int
    error:
      description: Why the last run could not start, if it could not.
      type: str
    supervised:
      description: Whether its supervisor (its monitor process, or its systemd unit) holds it and may restart it.
      type: bool
    unit:
      description: The systemd unit that runs it when systemd supervises it, else null.
      type: str
      sample: undock-web.service
    image:
      description: Full normalised reference of the image.
      type: str
    image_digest:
      description: Manifest digest of the image it was created from.
      type: str
    bundle:
      description: Absolute path of the OCI bundle whose C(config.json) the runtime runs.
      type: str
    network:
      description: Its network, V(bridge), V(none), V(host) or V(container:NAME).
      type: str
    ip_address:
      description: Its IPv4 address while its network is attached, else null.
      type: str
      sample: 10.90.0.2
    ports:
      description: Its published ports, normalised (V([HOSTIP:]HOSTPORT:CONTAINERPORT/PROTOCOL), sorted).
      type: list
      elements: str
      sample: ["127.0.0.1:8080:80/tcp"]
    log_path:
      description: The log file.
      type: str
    logs:
      description: The last O(log_lines) lines of the log.
      type: list
      elements: str
    created_at:
      description: When the container was created (UTC, ISO 8601).
      type: str
    config:
      description: The normalised configuration it was created with.
      type: dict
missing:
  description: The containers asked for by O(name) or O(names) that do not exist.
  returned: always
  type: list
  elements: str
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.image.outcome import Outcome
from ..module_utils.module_base import finish, image_module
from ..module_utils.module_support import store_images


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str"),
            names=dict(type="list", elements="str"),
            log_lines=dict(type="int", default=20),
        ),
        registry=False, names=False,
        mutually_exclusive=[("name", "names")],
    )
    params = module.params
    wanted = [params["name"]] if params["name"] is not None else params["names"]
    from ..module_utils.runtime.service import ContainerService
    try:
        found = ContainerService(store_images(module, check_mode=True)).info(wanted, params["log_lines"])
    except UndockError as err:
        module.fail_json(msg=str(err))
    names = {record["name"] for record in found}
    outcome = Outcome(values={"containers": found, "missing": [n for n in wanted or [] if n not in names]})
    finish(module, outcome, diff=False, actions=False)


if __name__ == "__main__":
    main()
