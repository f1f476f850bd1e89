# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Layer blobs of a build: a tree's entries (layerdiff) written as a tar, compressed, hashed.

gzip is written with the standard library's zlib, whatever else is installed: isal makes
other (equally valid) bytes, and a build must give the same blob on every host.
"""

from __future__ import annotations

import os
import tempfile

from ..common.errors import LayerError
from ..image.tar_writer import TarWriter
from ..model.manifest import DOCKER_LAYER_GZIP, OCI_LAYER_GZIP, OCI_LAYER_ZSTD
from ..storage.compression import GZIP, ZSTD, CompressWriter
from .errors import BuildError
from .layerdiff import Entry, write_entries

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, Optional

COMPRESSIONS = (GZIP, ZSTD)
FORMATS = ("oci", "docker")


class LayerBlob:
    """A layer written to ``path``: its descriptor (compressed) and diff ID (uncompressed)."""

    __slots__ = ("path", "desc", "diff_id", "entries")

    def __init__(self, path: str, desc: Dict[str, Any], diff_id: str, entries: int):
        self.path = path
        self.desc = desc
        self.diff_id = diff_id
        self.entries = entries


def layer_media_type(image_format: str, compression: str) -> str:
    if compression not in COMPRESSIONS:
        raise BuildError("compression must be one of %s, not %r" % (", ".join(COMPRESSIONS), compression))
    if image_format == "docker":
        if compression != GZIP:
            raise BuildError("format docker has no zstd layers (Docker's image format knows only gzip): "
                             "use format oci with compression zstd")
        return DOCKER_LAYER_GZIP
    if image_format != "oci":
        raise BuildError("format must be one of %s, not %r" % (", ".join(FORMATS), image_format))
    return OCI_LAYER_ZSTD if compression == ZSTD else OCI_LAYER_GZIP


def write_layer(entries: Iterator[Entry], directory: str, media_type: str, compression: str,
                level: Optional[int] = None) -> LayerBlob:
    """Write ``entries`` as one compressed tar in ``directory``."""
    fd, path = tempfile.mkstemp(prefix=".layer-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                packer = CompressWriter(out, compression, level, backend="zlib" if compression == GZIP else None)
            except LayerError as err:
                raise BuildError("compression %s: %s" % (compression, err))
            with packer:
                writer = TarWriter(packer)
                count = write_entries(writer, entries)
                writer.finish()
            out.flush()
            os.fsync(out.fileno())
        final = os.path.join(directory, packer.blob_digest.split(":", 1)[1])
        os.rename(path, final)
    except BaseException:
        if os.path.exists(path):
            os.unlink(path)
        raise
    desc = {"mediaType": media_type, "digest": packer.blob_digest, "size": packer.blob_size}
    return LayerBlob(path=final, desc=desc, diff_id=packer.diff_id, entries=count)
