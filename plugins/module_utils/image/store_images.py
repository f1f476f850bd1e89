# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A store's images for a task that usually finds its image there: the ImageService is made
only when the store's files (instore.py) do not answer.

Apart from instore.py because the no-op modules import that (image/quick.py): Ansible ships
every file a module's imports reach, those inside functions and under TYPE_CHECKING too, so a
reference to the image service here would put all of it in their payloads."""

from __future__ import annotations

from ..storage.store import Store, open_store
from .outcome import Outcome

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Optional
    from .ops import ImageService


class StoreImages:
    """A store's images for a task that usually finds its image there (a container start):
    what ContainerService reads of an ImageService (``storage_root``, ``run_root``,
    ``check_mode``, ``store`` and ``present``), with the ImageService made by ``make``, once,
    only when present() is called: ContainerService calls it for what present_in_store
    does not answer (a pull, an unpack, a short name)."""

    def __init__(self, storage_root: str, run_root: str, check_mode: bool, make: Callable[[], "ImageService"]):
        self.storage_root = storage_root
        self.run_root = run_root
        self.check_mode = check_mode
        self._make = make
        self._service: Optional[ImageService] = None
        self._store: Optional[Store] = None

    def service(self) -> "ImageService":
        if self._service is None:
            self._service = self._make()
        return self._service

    def store(self, create: bool = True) -> Optional["Store"]:
        """The store, as ImageService.store opens it (its housekeeping of unpacks left by killed
        runs waits for the next task that makes an ImageService, as with quick.py)."""
        if self._store is None:
            if self._service is not None:
                self._store = self._service.store(create=create)
            else:
                self._store = open_store(self.storage_root, self.run_root, create=create, check_mode=self.check_mode)
        return self._store

    def present(self, name: str, pull: str = "missing", **options: Any) -> Outcome:
        return self.service().present(name, pull=pull, **options)
