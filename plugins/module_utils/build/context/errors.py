# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the build context."""

from __future__ import annotations

from ..errors import BuildError


class ContextError(BuildError):
    """A build context, an ignore file or a COPY source is invalid or unreadable."""
