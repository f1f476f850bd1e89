# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whose fault a failure to write a layer entry is: the layer's (``LayerError``) or the
host's (``StoreError``: a full disk says nothing about the image)."""

from __future__ import annotations

import errno

from ..common.errors import LayerError, StoreError
from .tarreader import display

_HOST_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE,
                          errno.ENFILE, errno.ENOMEM))


def bad(name, reason: str) -> LayerError:
    """The error for layer entry ``name`` (bytes or str)."""
    return LayerError("layer entry %r: %s" % (display(name), reason))


def os_error(name, err: OSError) -> Exception:
    """An OSError while writing entry ``name``, as the layer's or the host's fault."""
    if err.errno in _HOST_ERRNOS:
        return StoreError("cannot write layer entry %r: %s" % (display(name), err.strerror))
    return bad(name, err.strerror or str(err))
