#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: system_container
short_description: Install images as systemd-managed system containers, as atomic install --system did
version_added: 0.2.0
description:
  - Installs an image as a system container run by systemd through C(runc), with no container engine or daemon. The image
    is pulled into the local store (per O(pull)), checked out read-only into a deployment under
    O(system_root), and gets a unit C(NAME.service) (and C(NAME.socket) for socket activation) in
    C(/etc/systemd/system), so that systemd orders it with the host's other services, at boot too.
  - Images in the Project Atomic format are fully supported, C(/exports/config.json.template),
    C(service.template), C(socket.template), C(tmpfiles.template), C(manifest.json) (C(defaultValues),
    C(renameFiles), C(noContainerService)) and C(/exports/hostfs/), with atomic's template variables and their
    precedence. Images without C(/exports) get a runtime configuration from the image's own (read-only rootfs, no
    terminal, the host's network unless O(network=none)) and a service that runs C(runc) in the foreground.
  - Each system container has two deployments ("slots"), C(NAME.0) and C(NAME.1), and a link C(NAME) to the active
    one. A new image digest, or changed O(values), dependency options, O(listen) or O(network), is an update. It is
    checked out into the other slot, the link is flipped, and the service is restarted only if it was running.
    The previous deployment is kept for O(rollback).
  - A deployment holds its image, so M(undock.oci.oci_image) refuses to remove it and M(undock.oci.oci_prune)
    keeps it, naming the system container.
  - Needs systemd as the init system (PID 1). Elsewhere the task fails before it does anything, with a message
    saying so; check mode still computes the plan there, every unit reading as inactive and disabled.
options:
  name:
    description:
      - Name of the system container, also of its units C(NAME.service) and C(NAME.socket), its runc container and
        its deployments C(NAME.0) and C(NAME.1) (1 to 100 letters, digits, C(_) or C(-); no dot).
    type: str
    required: true
  image:
    description:
      - Image to install, as given to M(undock.oci.oci_image).
      - Required to install. With a system container already installed and no O(image), nothing is deployed; the
        task only brings it to O(state) and O(enabled).
      - Not with O(rollback) nor O(state=absent).
    type: str
  state:
    description:
      - V(present) installs (or updates) it without starting it; one that runs is restarted by an update.
      - V(started) installs it and starts its main unit (C(NAME.socket) when it has one, else C(NAME.service)).
      - V(stopped) installs it and stops its units (the socket first, so it starts nothing again).
      - V(absent) stops, disables and removes it, its units, tmpfiles entries (C(systemd-tmpfiles --remove)),
        host files, both deployments and the holds on their images. A host file changed since it was installed
        is kept, with a warning. Only O(name), O(system_root) and the storage options go with it.
    type: str
    choices: [present, started, stopped, absent]
    default: started
  enabled:
    description:
      - Whether the main unit is enabled, so it starts at boot (a socket at boot, its service at the first
        connection).
    type: bool
    default: true
  values:
    description:
      - Template variables, as C(atomic install --set NAME=VALUE); they override the image's C(defaultValues).
        Values are turned into strings.
      - Variables the installer sets (C(NAME), C(DESTDIR), C(EXEC_START)...) cannot be overridden.
    type: dict
  rollback:
    description:
      - Switch to the previous deployment (the other slot) and restore its units and host files, restarting what
        ran. Nothing else is given with it; the image is the one that deployment holds.
      - It is a state, not an action - once rolled back, a second run changes nothing, until an install of an
        image or options other than the active ones makes a new deployment.
      - It fails when there is no previous deployment.
    type: bool
    default: false
  after:
    description: Units the service is ordered after (C(After=) in its C([Unit]) section), such as V(store.service).
    type: list
    elements: str
  requires:
    description: Units the service requires (C(Requires=)); it stops when one of them stops or fails.
    type: list
    elements: str
  wants:
    description: Units the service wants (C(Wants=)).
    type: list
    elements: str
  wanted_by:
    description:
      - Units that want the service when enabled (C(WantedBy=) in its C([Install]) section), in addition to the
        image's (the default service is C(WantedBy=multi-user.target)).
    type: list
    elements: str
  required_by:
    description: Units that require the service when enabled (C(RequiredBy=)).
    type: list
    elements: str
  listen:
    description:
      - Socket activation. Each item, V([HOST:]PORT[/tcp|udp]) (V(8080), V(127.0.0.1:8080/tcp), V([::1]:53/udp))
        or the absolute path of a unix socket, becomes a C(ListenStream=) or C(ListenDatagram=) line of a unit
        C(NAME.socket) (added to the image's C(/exports/socket.template) when it has one).
      - The socket, not the service, is then enabled and started; the service starts on the first connection,
        and the container's process gets the listening sockets as fds 3.. with C(LISTEN_FDS) and C(LISTEN_PID).
    type: list
    elements: str
  network:
    description:
      - Network of an image without C(/exports/config.json.template) - V(host) (its default) shares the host's
        network, V(none) gives it a network namespace of its own with loopback only.
    type: str
    choices: [host, none]
  pull:
    description:
      - Pull policy for O(image), as in M(undock.oci.oci_image). A new digest is an update.
    type: str
    choices: [missing, newer, always, never]
    default: missing
  policy:
    description:
      - The trust policy (containers-policy.json(5)) the pull of O(image) must satisfy, as in
        M(undock.oci.oci_image), given as a path to a C(policy.json) or as the policy itself (a dict).
    type: raw
  system_root:
    description:
      - Directory of the deployments. Default O(storage_root)C(/system).
      - The checkout is made of hardlinks into the store's unpacked layers (no data copied), so it must be on the
        store's file system. Its path goes into the units' command lines, so it may hold only letters, digits and
        C(_./+-).
    type: path
requirements:
  - Python 3.9 or newer on the managed host
  - requests (Debian and RHEL package C(python3-requests)) and jsonschema (C(python3-jsonschema)), to pull
  - runc (Debian and RHEL package C(runc)), systemd as the init system, and root
extends_documentation_fragment:
  - undock.oci.registry
  - undock.oci.registry.names
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description:
      - Nothing is pulled, written, enabled, started or stopped; the image (when it is in the store already) is
        checked out into a temporary directory of the store to render what would be installed, and removed.
  diff_mode:
    support: full
    description:
      - Shows the image, digest and template values, and each rendered file (C(NAME.service), C(NAME.socket),
        C(config.json), tmpfiles entries) that changes, as a text diff.
author:
  - undock.oci developers (@undock-oci)
notes:
  - Deployments and units are named as C(atomic install --system) named them, so other units can refer to
    C(NAME.service); the default O(system_root) differs from atomic's C(/var/lib/containers/atomic), since the
    checkout must be on the store's file system.
seealso:
  - module: undock.oci.system_container_info
  - module: undock.oci.oci_image
"""

EXAMPLES = r"""
- name: A key-value store, started at boot
  undock.oci.system_container:
    name: store
    image: registry.example.com/infra/kv:1.4
    values:
      PORT: 2379

- name: Its network service, after the store and stopped with it
  undock.oci.system_container:
    name: network
    image: registry.example.com/infra/net:2.0
    after: [store.service]
    requires: [store.service]

- name: Started on its first connection only (socket activation)
  undock.oci.system_container:
    name: api
    image: registry.example.com/infra/api:3
    listen:
      - 127.0.0.1:8080
      - /run/api.sock

- name: Follow a tag; a new digest is an update, restarted only if it ran
  undock.oci.system_container:
    name: store
    image: registry.example.com/infra/kv:1.4
    pull: newer
    values:
      PORT: 2379

- name: Back to the previous deployment
  undock.oci.system_container:
    name: store
    rollback: true

- name: Stop it, leaving it installed and enabled
  undock.oci.system_container:
    name: store
    state: stopped

- name: Remove it, its units, host files and deployments
  undock.oci.system_container:
    name: store
    state: absent
"""

RETURN = r"""
system_container:
  description:
    - The system container after the task, as M(undock.oci.system_container_info) returns it; null when it is
      not installed. In check mode, as it is before the task (the diff shows what would change).
  returned: always
  type: dict
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
      description: Directory of the active deployment (C(DESTDIR) of the templates).
      type: str
    values:
      description: Every template variable of the active deployment, as rendered.
      type: dict
    options:
      description: The options it was installed with (values, dependency options, listen, network).
      type: dict
    units:
      description: Its unit files, C(NAME.service) and C(NAME.socket) when it has one; empty with C(noContainerService).
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
      description: Whether the active deployment was reached by O(rollback).
      type: bool
    config:
      description: Name of the runtime configuration file in each deployment.
      type: str
      sample: config.json
image:
  description: The image, the same record as RV(undock.oci.oci_image#module:image).
  returned: when O(image) is given
  type: dict
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["installed system container store from localhost/kv:1 (sha256:...) in /var/lib/undock/system/store.0",
           "enabled store.service", "started store.service"]
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.module_base import image_module
from ..module_utils.module_support import image_service

LISTS = dict(type="list", elements="str")


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str", required=True),
            image=dict(type="str"),
            state=dict(type="str", default="started", choices=["present", "started", "stopped", "absent"]),
            enabled=dict(type="bool", default=True),
            values=dict(type="dict"),
            rollback=dict(type="bool", default=False),
            after=dict(LISTS), requires=dict(LISTS), wants=dict(LISTS), wanted_by=dict(LISTS), required_by=dict(LISTS),
            listen=dict(LISTS),
            network=dict(type="str", choices=["host", "none"]),
            pull=dict(type="str", default="missing", choices=["missing", "newer", "always", "never"]),
            policy=dict(type="raw"),
            system_root=dict(type="path"),
        ),
    )
    from ..module_utils.system.request import diff_list, ensure
    from ..module_utils.system.service import SystemContainers
    params = module.params
    try:
        engine = SystemContainers(image_service(module), system_root=params["system_root"])
        outcome = ensure(engine, params)
    except UndockError as err:
        module.fail_json(msg=str(err))
    except OSError as err:  # a file or command the engine did not expect to fail
        module.fail_json(msg="system_container %s: %s" % (params["name"], err))
    for warning in outcome.warnings:
        module.warn(warning)
    result = outcome.result(diff=False)
    result["diff"] = diff_list(params["name"], outcome.before, outcome.after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
