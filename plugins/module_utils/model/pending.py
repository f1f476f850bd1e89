# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schema checks a copy defers: the checks of the documents it read from outside (manifests,
index, config), run later so that their cost (importing jsonschema, mostly) overlaps the
copy's disk flush instead of delaying its first download (see image.copy.copy_image).

Whoever defers them must ``run`` them before naming anything the documents describe, and
must run them first whenever something else fails (``first``): a document that breaks its
schema may break code that reads it, and the schema's message is the one to report."""

from __future__ import annotations

from contextlib import contextmanager

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Callable, Iterator, List, Optional


class PendingChecks:
    """Checks (each raising ManifestError when its document is bad), run in the order added."""

    __slots__ = ("_checks", "_failure")

    def __init__(self) -> None:
        self._checks: List[Callable[[], None]] = []
        self._failure: Optional[Exception] = None

    def add(self, check: Callable[[], None]) -> None:
        self._checks.append(check)

    def __bool__(self) -> bool:
        return bool(self._checks)

    def run(self) -> None:
        """Run every check not yet passed; once one failed, every run raises its error."""
        if self._failure is not None:
            raise self._failure
        while self._checks:
            try:
                self._checks[0]()
            except Exception as err:
                self._failure = err
                raise
            self._checks.pop(0)

    @contextmanager
    def first(self) -> Iterator[None]:
        """Around code that reads the documents before they are checked: if it fails, the
        checks run before its error goes on, so a schema error (raised from it) wins."""
        try:
            yield
        except Exception as err:
            if err is not self._failure:
                self.run()
            raise
