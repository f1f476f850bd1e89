# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The defaults of the registry options that every module declares (module_support), apart
from the code that applies them (deadline.py), so that declaring them imports nothing."""

from __future__ import annotations

DEFAULT_REQUEST_TIMEOUT = 300.0
DEFAULT_MIN_TRANSFER_RATE = 64 * 1024  # bytes per second
