#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_image_info
short_description: Inspect images in the local store or at a registry
version_added: 0.1.0
description:
  - Lists and inspects images in the content store of this collection, and checks that each one is complete
    and verifies (manifest, config and every layer present, with the right digests).
  - With O(remote=true), inspects images at their registry without downloading layers, like C(skopeo inspect).
options:
  name:
    description:
      - Image references to inspect. Without it, every image in the local store.
      - A missing image is treated the same way locally and remotely - not an error - it is left out of
        RV(images) and listed in RV(missing). Other errors (a registry that cannot be reached, refused
        credentials) fail the task.
    type: list
    elements: str
  remote:
    description:
      - Inspect at the registry (manifest and config only) instead of in the local store. Requires O(name).
    type: bool
    default: false
  platform:
    description:
      - With O(remote=true), the platform to select from a multi-platform image. Defaults to the host's.
      - A malformed value fails the task before any registry is contacted.
    type: str
requirements:
  - Python 3.9 or newer on the managed host
  - requests (Debian and RHEL package C(python3-requests))
  - jsonschema (Debian and RHEL package C(python3-jsonschema))
  - On Python 3.9 and 3.10 only, tomli (Debian and RHEL package C(python3-tomli)), to read C(registries.conf)
extends_documentation_fragment:
  - undock.oci.registry
  - undock.oci.registry.names
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to diff.
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: List every local image
  undock.oci.oci_image_info:
  register: local

- name: Inspect one image at its registry without pulling it
  undock.oci.oci_image_info:
    name: quay.io/org/app:stable
    remote: true
  register: remote

- name: Fail if a local image does not verify
  ansible.builtin.assert:
    that: local.images | rejectattr('consistent') | list | length == 0
"""

RETURN = r"""
images:
  description:
    - One entry per image found, with the same keys as RV(undock.oci.oci_image#module:image) (plus those below).
    - A local entry of the store's C(index.json) that cannot be read is listed with RV(images[].consistent=false)
      and its RV(images[].problems); the other images are still listed.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Full normalised reference (for remote images, the location actually read).
      type: str
    digest:
      description: Manifest digest.
      type: str
    id:
      description: Config digest.
      type: str
    media_type:
      description: Manifest media type.
      type: str
    source_digest:
      description: What the reference resolved to; the index digest for a multi-platform image.
      type: str
    platform:
      description: C(os/architecture[/variant]).
      type: str
    size:
      description: Bytes of manifest, config and layers.
      type: int
    layers:
      description: Layer digests, base first.
      type: list
      elements: str
    config:
      description: The C(config) section of the image config.
      type: dict
    created:
      description: Creation time.
      type: str
    labels:
      description: Image labels.
      type: dict
    consistent:
      description: Local images only. Whether every blob is present and verifies.
      type: bool
    problems:
      description: Local images only. What the consistency check found wrong.
      type: list
      elements: str
    repo_tags:
      description: Remote images only. Tags of the repository.
      type: list
      elements: str
missing:
  description: The names of O(name) that are not in the store (or, with O(remote=true), not at the registry).
  returned: always
  type: list
  elements: str
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.module_base import finish, image_module
from ..module_utils.module_support import image_service


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="list", elements="str"),
            remote=dict(type="bool", default=False),
            platform=dict(type="str"),
        ),
        required_if=[("remote", True, ("name",))],
    )
    params = module.params
    try:
        service = image_service(module, check_mode=True)
        if params["remote"]:
            outcome = service.inspect_remote(params["name"], params["platform"])
        else:
            outcome = service.list_local(params["name"])
    except UndockError as err:
        module.fail_json(msg=str(err))
    finish(module, outcome, diff=False, actions=False)


if __name__ == "__main__":
    main()
