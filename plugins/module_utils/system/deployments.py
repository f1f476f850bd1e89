# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployments of system containers under ``system_root``, as atomic laid them out.

```
system_root/NAME -> NAME.0          the active deployment (a relative symlink)
system_root/NAME.0/                 one deployment ("slot"): DESTDIR of its templates
    rootfs/                         the image checked out read-only (hardlinks into the layers)
    config.json                     the OCI runtime config
    NAME.service, NAME.socket       the units as rendered for this slot (restored on rollback)
    tmpfiles-NAME.conf
    info                            JSON: image, digest, values, host files with checksums...
system_root/NAME.1/                 the other slot: the previous deployment, for rollback
system_root/.locks/NAME.lock        one lock per name
```

The symlink is flipped by renaming a new symlink over it, so it always names one whole
deployment. ``info`` is written last: a slot without it is an install cut short.

The rootfs is a checkout made by storage.merge in link mode: directories are made, every
other entry is a hardlink to the unpacked layer's own file (no data copied), whiteouts and
opaque directories applied. So it needs ``system_root`` on the store's filesystem; the
default, ``STORAGE_ROOT/system``, is. It survives reboots (no mount to redo) and the
layer's removal, but must never be written in place: the container gets it read-only.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

from ..common.fileutil import atomic_write, fsync_dir, makedirs_private
from ..common.locks import FileLock
from ..storage.merge import merge_layers
from ..storage.trees import remove_tree
from .errors import SystemContainerError
from .names import check_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence

SLOTS = (0, 1)
INFO = "info"
ROOTFS = "rootfs"
MAX_INFO = 16 * 1024 * 1024
SYSTEM_DIR = "system"
# DESTDIR goes into ExecStart= lines: no character systemd would split or expand there
SAFE_PATH_RE = re.compile(r"/[A-Za-z0-9_./+-]*")


def default_system_root(storage_root: str) -> str:
    return os.path.join(storage_root, SYSTEM_DIR)


class Deployments:
    def __init__(self, root: str):
        root = os.path.abspath(root)
        if not SAFE_PATH_RE.fullmatch(root):
            raise SystemContainerError("system_root %r: use only letters, digits and '_./+-' (it is written into "
                                       "the units' command lines)" % root)
        self.root = root

    def slot_dir(self, name: str, slot: int) -> str:
        return os.path.join(self.root, "%s.%d" % (check_name(name), slot))

    def link(self, name: str) -> str:
        return os.path.join(self.root, check_name(name))

    def lock(self, name: str) -> FileLock:
        locks = os.path.join(self.root, ".locks")
        makedirs_private(locks)
        return FileLock(os.path.join(locks, "%s.lock" % check_name(name)))

    def active(self, name: str) -> Optional[int]:
        try:
            target = os.readlink(self.link(name))
        except OSError:
            return None
        for slot in SLOTS:
            if target == "%s.%d" % (name, slot):
                return slot
        return None

    def info(self, name: str, slot: int) -> Optional[Dict[str, Any]]:
        path = os.path.join(self.slot_dir(name, slot), INFO)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_INFO)
            return json.loads(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise SystemContainerError("the deployment record %s cannot be read: %s" % (path, err)) from None

    def write_info(self, name: str, slot: int, info: Dict[str, Any]) -> None:
        atomic_write(os.path.join(self.slot_dir(name, slot), INFO),
                     (json.dumps(info, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o644)

    def read_file(self, name: str, slot: int, filename: str) -> Optional[str]:
        try:
            with open(os.path.join(self.slot_dir(name, slot), filename), "rb") as handle:
                return handle.read(MAX_INFO).decode("utf-8")
        except FileNotFoundError:
            return None

    def names(self) -> List[str]:
        try:
            entries = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [e for e in entries if not e.startswith(".") and os.path.islink(os.path.join(self.root, e))]

    def prepare_slot(self, name: str, slot: int) -> str:
        """An empty slot directory (whatever was there removed)."""
        makedirs_private(self.root, 0o711)
        path = self.slot_dir(name, slot)
        remove_tree(path)
        os.mkdir(path, 0o711)
        return path

    def checkout(self, layer_dirs: Sequence[str], dest: str) -> None:
        """The merged layers at ``dest`` (which must not exist), as hardlinks."""
        parent = os.path.dirname(dest)
        temp = tempfile.mkdtemp(prefix=".tmp-rootfs-", dir=parent)
        try:
            os.chmod(temp, 0o755)
            merge_layers(layer_dirs, temp, link=True)
            os.rename(temp, dest)
        except OSError as err:
            remove_tree(temp)
            if err.errno == 18:  # EXDEV
                raise SystemContainerError("cannot check out the image at %s: it must be on the same filesystem as "
                                           "the layers in the store (%s) to be made of hardlinks; choose a "
                                           "system_root there" % (dest, layer_dirs[0] if layer_dirs else "?")) from None
            raise
        except BaseException:
            remove_tree(temp)
            raise

    def flip(self, name: str, slot: int) -> None:
        """Point NAME at slot ``slot``, atomically."""
        link = self.link(name)
        temp = os.path.join(self.root, ".%s.link-%d" % (name, os.getpid()))
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        os.symlink("%s.%d" % (name, slot), temp)
        os.rename(temp, link)
        fsync_dir(self.root)

    def remove(self, name: str) -> None:
        """Both slots and the link, the link first (so nothing points at a half-removed slot)."""
        try:
            os.unlink(self.link(name))
        except FileNotFoundError:
            pass
        for slot in SLOTS:
            remove_tree(self.slot_dir(name, slot))
