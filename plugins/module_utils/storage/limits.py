# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Size limits shared by the store, the unpacker and the decompressors (a module of its
own so that a task which unpacks nothing does not load the code that does)."""

from __future__ import annotations

# Decompressed-size ceiling used when the caller gives none. Big enough for any real
# layer; callers that know better (a quota, the config's rootfs size) pass their own.
DEFAULT_MAX_SIZE = 32 * 1024 ** 3
