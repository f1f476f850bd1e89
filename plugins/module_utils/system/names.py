# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names: a system container's name is also its unit names (NAME.service, NAME.socket), its
runtime id and the prefix of its deployments (NAME.0, NAME.1), so it has no dot."""

from __future__ import annotations

import re

from .errors import SystemContainerError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, List

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
UNIT_TYPES = ("service", "socket", "target", "mount", "automount", "swap", "path", "timer", "device", "slice", "scope")
# systemd's unit_name_is_valid(): letters, digits and ":-_.\\", an optional "@instance", a known type
UNIT_RE = re.compile(r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(%s)" % "|".join(UNIT_TYPES))
UNIT_NAME_MAX = 255


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SystemContainerError("system container name %r is invalid: use 1 to 100 letters, digits, '_' or '-', "
                                   "starting with a letter or digit (it names NAME.service and the deployments "
                                   "NAME.0 and NAME.1)" % (name,))
    return name


def unit_names(value: Any, option: str) -> List[str]:
    """A list of unit names (``etcd.service``, ``network-online.target``), in order, without repeats."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise SystemContainerError("%s must be a list of unit names, not %r" % (option, value))
    result: List[str] = []
    for item in value:
        if not isinstance(item, str) or len(item) > UNIT_NAME_MAX or not UNIT_RE.fullmatch(item):
            raise SystemContainerError("%s: %r is not a systemd unit name (NAME.service, NAME.target, NAME.socket...)"
                                       % (option, item))
        if item not in result:
            result.append(item)
    return result
