# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the store's unpacked layers are, and their short links (layout: storage.layers).

A mount (storage.mounts) needs only these names, not the unpacking of layers.py, which
a container start through a module would otherwise compile on every run."""

from __future__ import annotations

import os

from ..common.fileutil import makedirs_private, point_symlink
from ..model.digest import name_digest, parse_digest
from .peek import layer_dir

LINK_DIR = "l"
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648


def base32_prefix(digest: bytes) -> str:
    """``base64.b32encode(digest)[:12]`` (its first 60 bits), without importing base64 (and
    struct and binascii) on every start for one name."""
    bits = int.from_bytes(digest[:8], "big") >> 4
    return "".join(_BASE32[(bits >> shift) & 31] for shift in range(55, -1, -5))


def short_link(diff_id: str) -> str:
    """A stable 12-character name for a layer (derived, so a crash cannot orphan it; on disk,
    so it must never change)."""
    return base32_prefix(bytes.fromhex(name_digest(diff_id.encode())))


class LayerDirs:
    """``overlay/`` of the store at ``store_root``: each layer's directory and short link."""

    def __init__(self, store_root: str):
        self.store_root = store_root
        self.root = os.path.join(store_root, "overlay")
        self.links = os.path.join(self.root, LINK_DIR)

    def ensure_dirs(self) -> None:
        makedirs_private(self.root)
        makedirs_private(self.links)

    def layer_dir(self, diff_id: str) -> str:
        return layer_dir(self.store_root, diff_id)

    def diff_dir(self, diff_id: str) -> str:
        return os.path.join(self.layer_dir(diff_id), "diff")

    def link_path(self, diff_id: str) -> str:
        """``overlay/l/<short>``, relative to ``self.root``: ``l/<short>``."""
        return os.path.join(LINK_DIR, short_link(diff_id))

    def has(self, diff_id: str) -> bool:
        return os.path.isdir(self.diff_dir(diff_id))

    def link(self, diff_id: str) -> None:
        """(Re)make the short link of the layer ``diff_id``."""
        point_symlink(os.path.join(self.root, self.link_path(diff_id)), os.path.join("..", parse_digest(diff_id)[1], "diff"))
