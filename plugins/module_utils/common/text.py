# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks on text read from outside (headers, options, file names)."""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """True for ASCII digits only: ``str.isdigit()`` also takes "²" and "٣", which ``int()`` refuses or reads."""
    return text.isascii() and text.isdigit()
