#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_mount
short_description: Mount a stored OCI image read-only for inspection (atomic mount)
version_added: 0.1.0
description:
  - Mounts the root filesystem of an image from the local content store at O(path), like C(atomic mount),
    with no container engine.
  - The rootfs is an overlay mount of the image's unpacked layers, mounted V(ro,nodev,nosuid) by default.
    Images with more layers than one overlay mount can stack have their bottom layers merged into one cached
    directory first (RV(mount.note) says so).
  - When overlay cannot be used on the store's filesystem (for example a store on overlayfs), the rootfs is a
    copy of the layers, bind-mounted read-only (RV(mount.kind=copy)).
  - Each mount is recorded under O(run_root) (a tmpfs, so records vanish at boot with the mounts), and
    M(undock.oci.oci_image) refuses to remove a mounted image unless forced.
  - The image must already be in the store; use M(undock.oci.oci_image) to pull it. Nothing is pulled here.
  - No registry is contacted, so the module takes no credentials or TLS options; only O(registries_conf), to
    resolve short names the way M(undock.oci.oci_image) does.
options:
  name:
    description:
      - The image to mount, as it was given to M(undock.oci.oci_image) (short names are resolved the same way).
      - Required with O(state=mounted).
      - With O(state=unmounted), only a mount of this image is removed; without it, any mount this collection
        made at O(path) is.
    type: str
  path:
    description:
      - Directory to mount the image on. It is created if missing.
      - A path that is already a mount point not made by this collection is refused.
      - A path inside O(storage_root) or O(run_root), or one that holds either, is refused, as a mount there would
        hide the content it is made of.
    type: path
    required: true
  state:
    description:
      - V(mounted) mounts the image at O(path). If another image (or another digest of the same name, after a new
        pull) or another O(read_only) is mounted there by this module, it is remounted.
      - V(unmounted) unmounts it. The directory is kept.
    type: str
    choices: [mounted, unmounted]
    default: mounted
  read_only:
    description:
      - Mount read-only (V(ro,nodev,nosuid)).
      - With V(false), the rootfs is writable through a scratch upper directory in the store, which is discarded
        on unmount; the mount is still V(nodev,nosuid).
    type: bool
    default: true
requirements:
  - Python 3.9 or newer on the managed host
  - On Python 3.9 and 3.10 only, tomli (Debian and RHEL package C(python3-tomli)), to read C(registries.conf)
  - The C(mount) and C(umount) commands (Debian and RHEL package C(util-linux)), and root
extends_documentation_fragment:
  - undock.oci.registry.names
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description: Nothing is mounted, unmounted or written; the result says what would be done.
  diff_mode:
    support: full
    description: Shows whether O(path) is mounted, with which image (C(name), C(digest)) and O(read_only), before and after.
notes:
  - Needs root (mounting) and the C(mount) and C(umount) commands of util-linux.
  - The layers are named in the overlay options by short links relative to the store, so deep images fit in the
    one page of options the kernel accepts.
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: Make sure the image is in the store
  undock.oci.oci_image:
    name: docker.io/library/debian:12

- name: Mount it read-only for inspection
  undock.oci.oci_mount:
    name: docker.io/library/debian:12
    path: /mnt/debian
  register: mounted

- name: Read a file of the image
  ansible.builtin.slurp:
    src: /mnt/debian/etc/os-release

- name: Unmount it
  undock.oci.oci_mount:
    path: /mnt/debian
    state: unmounted
"""

RETURN = r"""
image:
  description: The mounted image, the same record as RV(undock.oci.oci_image#module:image).
  returned: when state is mounted
  type: dict
mount:
  description: The mount at O(path) after the task (in check mode, the one that would be made).
  returned: when state is mounted
  type: dict
  contains:
    path:
      description: The mount point, with symlinks resolved.
      type: str
      sample: /mnt/debian
    name:
      description: Full normalised reference of the mounted image.
      type: str
      sample: docker.io/library/debian:12
    digest:
      description: Manifest digest of the mounted image.
      type: str
    kind:
      description:
        - V(overlay) (one lower directory per layer), V(flat) (overlay whose bottom layers were merged),
          V(copy) (a copy of the layers, bind-mounted) or V(directory) (a copy, where nothing can be mounted).
        - Null in check mode when nothing is mounted yet.
      type: str
      sample: overlay
    read_only:
      description: Whether the mount is read-only.
      type: bool
    layers:
      description: Layer digests of the image, base first.
      type: list
      elements: str
    note:
      description: Why the mount is not a plain overlay of every layer (flattened, copied), else null.
      type: str
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["mounted docker.io/library/debian:12 at /mnt/debian (overlay, read-only)"]
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.image.mounting import ensure_mount
from ..module_utils.module_base import finish, image_module
from ..module_utils.module_support import image_service


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str"),
            path=dict(type="path", required=True),
            state=dict(type="str", default="mounted", choices=["mounted", "unmounted"]),
            read_only=dict(type="bool", default=True),
        ),
        required_if=[("state", "mounted", ("name",))],
        registry=False,
    )
    params = module.params
    try:
        service = image_service(module)
        outcome = ensure_mount(service, params["state"], params["path"], params["name"], params["read_only"])
    except UndockError as err:
        module.fail_json(msg=str(err))
    finish(module, outcome)


if __name__ == "__main__":
    main()
