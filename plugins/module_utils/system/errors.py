# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the system container layer."""

from __future__ import annotations

from ..common.errors import UndockError


class SystemContainerError(UndockError):
    """A system container option, image or operation is wrong; the message names what."""


class SystemctlError(SystemContainerError):
    """systemctl or systemd-tmpfiles failed; the message carries what it printed."""
