# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The time a registry request or blob download may take (deadline.py enforces it). Apart
from deadline.py, which loads sockets and threads: every task builds its limits, few use them."""

from __future__ import annotations

import math

from ..common.errors import ConfigError
from .defaults import DEFAULT_MIN_TRANSFER_RATE, DEFAULT_REQUEST_TIMEOUT

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Optional


class TransferLimits:
    """``request_timeout`` bounds a request (seconds); a blob download gets that plus its
    declared size at ``min_transfer_rate`` (bytes per second). Not changed once made."""

    __slots__ = ("request_timeout", "min_transfer_rate")

    def __init__(self, request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 min_transfer_rate: float = DEFAULT_MIN_TRANSFER_RATE) -> None:
        for name, value in (("request_timeout", request_timeout), ("min_transfer_rate", min_transfer_rate)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError("%s must be a positive number, not %r" % (name, value))
        self.request_timeout = request_timeout
        self.min_transfer_rate = min_transfer_rate

    def request_seconds(self) -> float:
        return float(self.request_timeout)

    def blob_seconds(self, size: Optional[int]) -> float:
        return self.request_timeout + max(size or 0, 0) / self.min_transfer_rate

    def explain(self, size: Optional[int] = None) -> str:
        if size is None:
            return "request_timeout %g s" % self.request_timeout
        return "request_timeout %g s + %d bytes at min_transfer_rate %g bytes/s" % (
            self.request_timeout, max(size, 0), self.min_transfer_rate)
