# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the container runtime layer."""

from __future__ import annotations

from ..common.errors import UndockError


class ContainerError(UndockError):
    """A container option is invalid, or a container operation failed."""


class RuntimeCommandError(ContainerError):
    """runc (or crun) failed; the message carries what it printed."""
