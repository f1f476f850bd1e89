# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the build engine."""

from __future__ import annotations

from ..common.errors import UndockError


class BuildError(UndockError):
    """A build input is invalid, or a build step failed."""
