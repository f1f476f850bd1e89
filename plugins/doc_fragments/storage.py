# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The local store, shared by every module of the collection.
    DOCUMENTATION = r"""
options:
  storage_root:
    description:
      - Root of the local content store, an OCI image layout shared by every module of this collection.
      - The store is made only in a new or empty directory (a file system root holding only C(lost+found)
        counts as empty); any other directory, a file and an empty value are refused, so a store never
        takes over a directory that holds something else.
    type: path
    default: /var/lib/undock
  run_root:
    description:
      - Runtime directory where mounts of images are recorded (and scans mount them, under C(scan/)).
        It should be on tmpfs, so records reset at boot like the mounts themselves.
      - Every module working on the same store must use the same one; set both in a C(module_defaults) group.
    type: path
    default: /run/undock
"""
