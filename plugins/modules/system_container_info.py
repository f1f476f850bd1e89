#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: system_container_info
short_description: Inspect system containers installed by undock.oci.system_container
version_added: 0.2.0
description:
  - Reads the system containers under O(system_root) installed by M(undock.oci.system_container) - one (O(name)),
    several (O(names)) or all - with the image, digest, active deployment, template values and what systemd says of
    their units.
  - Each record is the one M(undock.oci.system_container) returns as
    RV(undock.oci.system_container#module:system_container).
  - It only reads; it never creates the store or O(system_root). Without systemd as the init system, every unit
    reads as inactive and disabled.
options:
  name:
    description:
      - One system container to inspect. One that is not installed is not an error - it is left out of
        RV(system_containers) and listed in RV(missing).
      - Without O(name) and O(names), every system container under O(system_root).
    type: str
  names:
    description: Several system containers to inspect, as for O(name).
    type: list
    elements: str
  system_root:
    description: Directory of the deployments. Default O(storage_root)C(/system).
    type: path
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
seealso:
  - module: undock.oci.system_container
"""

EXAMPLES = r"""
- name: Inspect one system container
  undock.oci.system_container_info:
    name: store
  register: store

- name: Fail unless its service runs the expected image
  ansible.builtin.assert:
    that:
      - store.system_containers[0].active['store.service']
      - store.system_containers[0].digest == expected_digest

- name: Every system container
  undock.oci.system_container_info:
  register: all_system_containers
"""

RETURN = r"""
system_containers:
  description: The system containers found, in the order asked (sorted by name when all are listed).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Its name.
      type: str
    image:
      description: The image of the active deployment, as the store names it.
      type: str
    digest:
      description: Manifest digest of that image.
      type: str
    image_id:
      description: Config digest of that image.
      type: str
    active_slot:
      description: The active deployment, V(0) or V(1).
      type: int
    directory:
      description: Directory of the active deployment.
      type: str
    values:
      description: Every template variable of the active deployment, as rendered.
      type: dict
    options:
      description: The options it was installed with (values, dependency options, listen, network).
      type: dict
    units:
      description: Its unit files, C(NAME.service) and C(NAME.socket) when it has one.
      type: list
      elements: str
    active:
      description: Unit -> whether systemd says it is active.
      type: dict
      sample: {"store.service": true}
    enabled:
      description: Unit -> whether systemd says it is enabled.
      type: dict
      sample: {"store.service": true}
    host_files:
      description: Files its C(/exports/hostfs) put on the host.
      type: list
      elements: str
    deployments:
      description: Both deployments, each with C(slot), C(image), C(digest), C(created) and C(active).
      type: list
      elements: dict
    rolled_back:
      description: Whether the active deployment was reached by a rollback.
      type: bool
    config:
      description: Name of the runtime configuration file in each deployment.
      type: str
missing:
  description: The system containers asked for by O(name) or O(names) that are not installed.
  returned: always
  type: list
  elements: str
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.image.outcome import Outcome
from ..module_utils.module_base import finish, image_module
from ..module_utils.module_support import image_service


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str"),
            names=dict(type="list", elements="str"),
            system_root=dict(type="path"),
        ),
        registry=False, names=False,
        mutually_exclusive=[("name", "names")],
    )
    params = module.params
    wanted = [params["name"]] if params["name"] is not None else params["names"]
    from ..module_utils.system.service import SystemContainers
    try:
        engine = SystemContainers(image_service(module, check_mode=True), system_root=params["system_root"])
        found = engine.info(wanted)
    except UndockError as err:
        module.fail_json(msg=str(err))
    names = {record["name"] for record in found}
    outcome = Outcome(values={"system_containers": found, "missing": [n for n in wanted or [] if n not in names]})
    finish(module, outcome, diff=False, actions=False)


if __name__ == "__main__":
    main()
