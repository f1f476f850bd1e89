# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations (HEALTHCHECK --interval=1m30s) and sizes (tmpfs size=64m), as Docker reads them."""

from __future__ import annotations

import re

_DURATION_UNITS = {
    "ns": 1, "us": 10 ** 3, "\u00b5s": 10 ** 3, "\u03bcs": 10 ** 3, "ms": 10 ** 6,
    "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-z\u00b5\u03bc]+)")
_DURATION = re.compile(r"(?:[0-9]*(?:\.[0-9]*)?[a-z\u00b5\u03bc]+)+")
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)*) ?([kKmMgGtTpP])?[iI]?[bB]?")


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: ``300ms``, ``1m30s``, ``1.5h``, ``0``."""
    if text in ("0", "+0", "-0"):
        return 0
    rest = text
    sign = 1
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if not rest:
        raise ValueError("invalid duration %r" % text)
    if not _DURATION.fullmatch(rest):
        raise ValueError("invalid duration %r" % text)
    total = 0.0
    for part in _DURATION_PART.finditer(rest):
        number, unit = part.groups()
        if number in ("", "."):
            raise ValueError("invalid duration %r" % text)
        if unit not in _DURATION_UNITS:
            raise ValueError("unknown unit %r in duration %r" % (unit, text))
        total += float(number) * _DURATION_UNITS[unit]
    return sign * int(round(total))


def parse_ram_size(text: str) -> int:
    """Docker's RAMInBytes: a number with an optional binary unit (k, m, g, t, p; KiB, MB...)."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError("invalid size: %r" % text)
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    return int(float(match.group(1)) * scale[(match.group(2) or "").lower()])
