#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_scan
short_description: Inspect a stored OCI image from the host without running anything from it (atomic scan)
version_added: 0.1.0
description:
  - Mounts an image of the local content store read-only (V(ro,nodev,nosuid)) in a private directory under
    O(run_root), runs the chosen scanners over it on the host, and unmounts it afterwards, also when a scanner
    fails. Nothing from the image is executed.
  - Scanners treat the image as hostile, never follow a symlink out of its rootfs and only read regular files,
    a bounded amount each.
  - The image must already be in the store; use M(undock.oci.oci_image) to pull it.
  - No registry is contacted, so the module takes no credentials or TLS options; only O(registries_conf), to
    resolve short names.
options:
  name:
    description:
      - The image to scan, as it was given to M(undock.oci.oci_image).
    type: str
    required: true
  scanners:
    description:
      - V(packages) lists the installed packages from dpkg (C(var/lib/dpkg/status) and the distroless
        C(var/lib/dpkg/status.d/)), apk (C(lib/apk/db/installed)) and, when the host has C(rpm), the image's rpm
        database read with C(rpm --root).
      - V(setuid) lists the setuid and setgid files.
      - V(world_writable) lists what others may write, except symlinks and sticky directories such as C(/tmp).
      - V(secrets) lists private keys and files that look like tokens or credentials (the secrets themselves
        are never returned).
      - V(command) runs O(command); it is added when O(command) is set.
    type: list
    elements: str
    choices: [packages, setuid, world_writable, secrets, command]
    default: [packages, setuid, world_writable, secrets]
  command:
    description:
      - A host command for the V(command) scanner, split like a shell would (no shell runs it). The path of the
        mounted rootfs is appended as last argument and set as the environment variable C(ROOTFS).
      - The task fails when it exits with a non-zero code; RV(report.command) still holds its output.
    type: str
  command_timeout:
    description:
      - Seconds the command may run before it is killed and the task fails. No limit by default.
      - Zero or a negative number is refused.
    type: int
requirements:
  - Python 3.9 or newer on the managed host
  - On Python 3.9 and 3.10 only, tomli (Debian and RHEL package C(python3-tomli)), to read C(registries.conf)
  - The C(mount) and C(umount) commands (Debian and RHEL package C(util-linux)), and root
  - Optional, for the rpm database of an image, C(rpm) (Debian and RHEL package C(rpm))
extends_documentation_fragment:
  - undock.oci.registry.names
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description:
      - The scan only reads the image, so it runs in check mode too.
      - The image is still mounted read-only for the time of the scan, under O(run_root), which changes nothing
        that lasts (but for the merged-layers cache of an image too deep for one overlay mount, made on first use);
        missing layers are not unpacked in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - Needs root (mounting) and the C(mount) and C(umount) commands of util-linux.
  - A scan that is killed leaves a mount behind; the next mount, scan or image removal of this collection finds
    it (its owner process is gone) and unmounts it.
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: Inventory and audit an image
  undock.oci.oci_scan:
    name: docker.io/library/debian:12
  register: scan

- name: Fail on setuid files
  ansible.builtin.assert:
    that: scan.report.setuid | length == 0

- name: Run a host scanner over the rootfs (its path is the last argument and $ROOTFS)
  undock.oci.oci_scan:
    name: registry.example.com/app:1.0
    scanners: []
    command: clamscan --recursive --infected
"""

RETURN = r"""
image:
  description: The scanned image, the same record as RV(undock.oci.oci_image#module:image).
  returned: always
  type: dict
mount:
  description: How the rootfs was mounted for the scan.
  returned: always
  type: dict
  contains:
    kind:
      description: V(overlay), V(flat), V(copy) or V(directory), as for M(undock.oci.oci_mount).
      type: str
    note:
      description: Why the mount was not a plain overlay, else null.
      type: str
report:
  description:
    - One entry per scanner that ran. Paths are absolute inside the image.
    - (Not called C(results), a key Ansible reserves for loops.)
  returned: always
  type: dict
  contains:
    packages:
      description: Installed packages, sorted by source and name.
      type: list
      elements: dict
      sample: [{"name": "libc6", "version": "2.36-9+deb12u4", "arch": "amd64", "source": "dpkg"}]
    setuid:
      description: Setuid and setgid files, with C(path), C(mode) (octal string), C(uid), C(gid), C(setuid), C(setgid).
      type: list
      elements: dict
      sample: [{"path": "/usr/bin/passwd", "mode": "4755", "uid": 0, "gid": 0, "setuid": true, "setgid": false}]
    world_writable:
      description: World-writable entries, with C(path), C(mode) and C(type) (file, directory, fifo...).
      type: list
      elements: dict
    secrets:
      description: Files that hold a secret, with C(path), C(kind) (private_key, aws_access_key, github_token...)
        and the C(line) of the first occurrence.
      type: list
      elements: dict
      sample: [{"path": "/root/.ssh/id_rsa", "kind": "private_key", "line": 1}]
    command:
      description: The command scanner's C(rc), C(stdout), C(stderr) and C(argv).
      type: dict
    errors:
      description: Entries of the image that could not be read (present only when there are any).
      type: list
      elements: str
actions:
  description: What was done.
  returned: always
  type: list
  elements: str
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.image.mounting import scan_image
from ..module_utils.module_base import finish, image_module
from ..module_utils.module_support import image_service
from ..module_utils.scan.scanners import DEFAULT_SCANNERS, SCANNERS


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str", required=True),
            scanners=dict(type="list", elements="str", choices=list(SCANNERS), default=list(DEFAULT_SCANNERS)),
            command=dict(type="str"),
            command_timeout=dict(type="int"),
        ),
        registry=False,
    )
    if "command" in module.params["scanners"] and not module.params["command"]:
        module.fail_json(msg="the command scanner needs the command option")
    try:
        params = module.params
        service = image_service(module)
        outcome = scan_image(service, params["name"], params["scanners"], params["command"], params["command_timeout"])
    except UndockError as err:
        module.fail_json(msg=str(err))
    command = outcome.values["report"].get("command")
    failed = None
    if command is not None and command["rc"] != 0:
        failed = "the command %s exited with %d" % (command["argv"][0], command["rc"])
    finish(module, outcome, diff=False, failed_msg=failed)


if __name__ == "__main__":
    main()
