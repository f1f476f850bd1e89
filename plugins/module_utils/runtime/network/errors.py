# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the networking layer."""

from __future__ import annotations

import json

from ...common.errors import UndockError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


class NetworkError(UndockError):
    """A network option is invalid, or setting up or tearing down a container's network failed."""


class CniPluginError(NetworkError):
    """A CNI plugin failed, timed out or answered something that is not CNI."""

    def __init__(self, plugin: str, command: str, container_id: str, problem: str,
                 error: Optional[Dict[str, Any]] = None):
        self.plugin = plugin
        self.command = command
        self.container_id = container_id
        self.error = error
        text = "CNI plugin %s %s for container %s: %s" % (plugin, command, container_id, problem)
        if error is not None:
            text += " (error JSON: %s)" % json.dumps(error, sort_keys=True)[:2000]
        super().__init__(text)
