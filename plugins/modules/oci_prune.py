#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_prune
short_description: Remove images by filter, and the blobs, unpacked layers and build cache nothing uses
version_added: 0.1.0
description:
  - Chooses images in the local store with the filters (combined with AND), removes those that are
    not in use (mounted by M(undock.oci.oci_mount) or a scan), then removes every blob and unpacked
    layer that no remaining image and no mount uses.
  - Without any filter, no image is removed; only unreferenced content is collected, which also
    cleans up after interrupted pulls of images that were never named.
  - Images in use are kept, with a warning naming their users.
  - It also cleans what M(undock.oci.oci_build) keeps that nothing left refers to. That is the layer cache's
    entries (C(build-cache/)) whose layer no remaining image and no live working container holds, and the build
    records (C(build-records/)) of image names no longer stored. It also removes the directories that killed
    builds left under C(builds/) of the store and of the run root. Cache mounts (C(RUN --mount=type=cache)) stay.
options:
  all:
    description:
      - Choose every image (still subject to the other filters).
    type: bool
    default: false
  dangling:
    description:
      - Choose only images stored without a tag (pulled by digest only).
    type: bool
    default: false
  older_than:
    description:
      - Choose only images created before this, from the C(created) time of their config.
      - A duration back from now such as V(36h), V(7d), V(1h30m) or V(2w), or a date such as
        V(2024-05-01) or V(2024-05-01T12:00:00Z).
      - A value that is neither fails the task before anything is read or removed.
    type: str
  labels:
    description:
      - Choose only images with all these labels, each V(key) or V(key=value).
      - A malformed item (an empty key, or a key with spaces) fails the task before anything is removed.
    type: list
    elements: str
    default: []
requirements:
  - Python 3.9 or newer on the managed host
extends_documentation_fragment:
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description: Reports what would be removed (build cache included) and how many bytes would be freed; removes nothing.
  diff_mode:
    support: full
    description: Shows the names of the images in the store before (read before anything is removed) and after.
notes:
  - This module never contacts a registry, so it takes no registry options; set the shared storage options in
    the C(group/undock.oci.oci) C(module_defaults) group and registry options in C(group/undock.oci.registry).
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: Collect blobs and layers no image uses
  undock.oci.oci_prune:

- name: Remove images pulled by digest only
  undock.oci.oci_prune:
    dangling: true

- name: Remove old images of a team, unless in use
  undock.oci.oci_prune:
    all: true
    older_than: 30d
    labels:
      - org.example.team=payments

- name: How much would removing every image free?
  undock.oci.oci_prune:
    all: true
  check_mode: true
  register: what_if
"""

RETURN = r"""
removed:
  description: Names of the images removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
kept:
  description: Names of chosen images kept because they are in use.
  returned: always
  type: list
  elements: str
freed_bytes:
  description: Bytes freed (in check mode, that would be) by removing blobs and unpacked layers.
  returned: always
  type: int
blob_count:
  description: Number of blobs removed (in check mode, that would be).
  returned: always
  type: int
layer_count:
  description: Number of unpacked layers removed (in check mode, that would be).
  returned: always
  type: int
build_cache_count:
  description: Number of build cache entries removed (in check mode, that would be).
  returned: always
  type: int
build_record_count:
  description: Number of build records removed (in check mode, that would be).
  returned: always
  type: int
build_dir_count:
  description: Number of directories left by killed builds that were removed (in check mode, that would be).
  returned: always
  type: int
actions:
  description: What was done, in order.
  returned: always
  type: list
  elements: str
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.build.prune import prune
from ..module_utils.image.prune import PruneFilters
from ..module_utils.module_base import finish, image_module
from ..module_utils.module_support import image_service


def main() -> None:
    module = image_module(
        dict(
            all=dict(type="bool", default=False),
            dangling=dict(type="bool", default=False),
            older_than=dict(type="str"),
            labels=dict(type="list", elements="str", default=[]),
        ),
        registry=False, names=False,
    )
    params = module.params
    try:
        service = image_service(module)
        filters = PruneFilters(all_images=params["all"], dangling=params["dangling"],
                               older_than=params["older_than"], labels=params["labels"])
        outcome = prune(service, filters)
    except UndockError as err:
        module.fail_json(msg=str(err))
    finish(module, outcome)


if __name__ == "__main__":
    main()
