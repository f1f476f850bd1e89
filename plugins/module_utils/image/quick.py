# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The no-op of ``oci_image`` answered from the store's files: the most common image task
of all (an image that is already there) should cost little more than reading index.json.

It serves ``state: present`` with nothing to load, push, sign or export, for a reference
named in full (a short name depends on registries.conf) that the store holds with every
layer unpacked, when the pull policy cannot fetch: ``missing`` or ``never`` for a tag, and
also ``newer`` for a digest (a digest cannot move). For those, ImageService.present finds
the entry, reads the image and returns it unchanged, without a request, a policy check or
a write; ``unchanged`` gives the same Outcome through the same functions (instore.py,
whose lookup ImageService.present uses too) without importing the registry client, the
store's writers or the layer code. Anything else, or anything it does not find as expected (a missing or corrupt
blob, a layer not unpacked, an entry it cannot read), returns None and the full engine
decides, with its errors and repairs.

No lock is taken, and the store's housekeeping (stale temporaries) waits for the next
task that opens it: every file read here is replaced atomically by its writers, and a
read that loses a race with another task is the answer that task's run would have found
just before it."""

from __future__ import annotations

from .instore import present_in_store
from .outcome import Outcome

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

#: Options that make the task do more than make the image present.
ACTIONS = ("source", "push", "export_to", "sign_by", "platform", "force")


def unchanged(params: Dict[str, Any]) -> Optional[Outcome]:
    """The Outcome of ``oci_image`` with these module ``params`` when the image is in the
    store as asked and the task has nothing to do; None when the full engine must decide."""
    if params.get("state", "present") != "present" or any(params.get(option) for option in ACTIONS):
        return None
    return present_in_store(params.get("storage_root"), params.get("name"), params.get("pull", "missing"))
