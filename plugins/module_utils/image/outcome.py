# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one result type of every service call (image ops, prune, mount, scan)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional


class Outcome:
    """What a service call did: ``changed``, a ``before``/``after`` with the same keys for
    ``--diff``, the ``actions`` taken (in check mode, that would be), ``warnings``, the
    ``image`` record it worked on, and ``values``: the other return values of the call
    (``mount``, ``report``, ``removed``...)."""

    __slots__ = ("changed", "actions", "before", "after", "image", "warnings", "values", "resolved")

    def __init__(self, changed: bool = False, actions: Optional[List[str]] = None,
                 before: Optional[Dict[str, Any]] = None, after: Optional[Dict[str, Any]] = None,
                 image: Optional[Dict[str, Any]] = None, warnings: Optional[List[str]] = None,
                 values: Optional[Dict[str, Any]] = None, resolved: Any = None) -> None:
        self.changed = changed
        self.actions = [] if actions is None else actions
        self.before = {} if before is None else before
        self.after = {} if after is None else after
        self.image = image
        self.warnings = [] if warnings is None else warnings
        self.values = {} if values is None else values
        #: the image the store holds after the call (in check mode: would hold); engine use only
        self.resolved = resolved

    def merge(self, other: "Outcome") -> "Outcome":
        self.changed = self.changed or other.changed
        self.actions.extend(other.actions)
        self.warnings.extend(other.warnings)
        self.after.update(other.after)
        for key, value in other.before.items():
            self.before.setdefault(key, value)
        self.values.update(other.values)
        self.image = other.image or self.image
        self.resolved = other.resolved or self.resolved
        return self

    def result(self, diff: bool = True, actions: bool = True) -> Dict[str, Any]:
        """The module's return values (warnings excluded: modules hand them to Ansible)."""
        out: Dict[str, Any] = dict(self.values, changed=self.changed)
        if actions:
            out["actions"] = list(self.actions)
        if diff:
            out["diff"] = dict(before=self.before, after=self.after)
        if self.image is not None:
            out["image"] = self.image
        return out
