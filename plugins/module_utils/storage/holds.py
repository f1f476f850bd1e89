# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent holds: an image kept in the store for an owner that outlives any mount of it.

A mount record lives under the runtime root (tmpfs) and goes at boot with its mount, but a
container lives in the store and needs its image after a reboot, before it is started again.
``<store>/holds/<sha256 of owner>.json`` names the owner, the image (name, manifest digest,
image ID, diff IDs) and ``path``, a directory of the owner: a hold counts while that path
exists, so an owner removed by a run that was killed halfway never keeps an image forever.
Image removal and prune ask ``MountManager.image_users``, which reads mounts and holds.
"""

from __future__ import annotations

import contextlib
import json
import os

from ..common.fileutil import atomic_write, makedirs_private
from ..model.digest import name_digest

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

HOLDS_DIR = "holds"
_HOLD_FIELDS = ("owner", "path", "image", "digest", "image_id", "diff_ids")


class Hold:
    __slots__ = _HOLD_FIELDS

    def __init__(self, owner: str, path: str, image: str, digest: str, image_id: str,
                 diff_ids: Optional[List[str]] = None) -> None:
        self.owner = owner              # "container:NAME"
        self.path = path                # the hold counts while this exists
        self.image = image              # the store name
        self.digest = digest
        self.image_id = image_id
        self.diff_ids = [] if diff_ids is None else diff_ids

    def to_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in _HOLD_FIELDS}

    def describe(self) -> str:
        return "%s (kept while %s exists)" % (self.owner, self.path)

    def matches(self, image: str) -> bool:
        return image in (self.image, self.digest, self.image_id)


class Holds:
    def __init__(self, store_root: str):
        self.dir = os.path.join(store_root, HOLDS_DIR)

    def _file(self, owner: str) -> str:
        return os.path.join(self.dir, name_digest(owner.encode("utf-8")) + ".json")

    def put(self, hold: Hold) -> None:
        makedirs_private(self.dir)
        atomic_write(self._file(hold.owner), json.dumps(hold.to_dict(), sort_keys=True).encode("utf-8"), 0o600)

    def drop(self, owner: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._file(owner))

    def live(self) -> List[Hold]:
        """Holds whose path exists; the files of the others are removed."""
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            path = os.path.join(self.dir, name)
            try:
                with open(path, "rb") as handle:
                    data = json.loads(handle.read(1 << 20))
                hold = Hold(**{k: v for k, v in data.items() if k in _HOLD_FIELDS})
            except (OSError, ValueError, TypeError):
                continue  # unreadable: kept, and it holds nothing
            if os.path.lexists(hold.path):
                found.append(hold)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        return found
