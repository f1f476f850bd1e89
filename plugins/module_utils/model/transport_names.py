# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transports of an image name, as skopeo spells them (``oci:DIR:REF``, ``docker://REF``).

The one table of their names: image/transports.py opens them, model/reference.py refuses
the file transports as registry references.
"""

from __future__ import annotations

OCI = "oci"
OCI_ARCHIVE = "oci-archive"
DOCKER_ARCHIVE = "docker-archive"
DOCKER = "docker"
FILE_TRANSPORTS = (OCI, OCI_ARCHIVE, DOCKER_ARCHIVE)
# containers/image transports we recognise but do not implement (so that "dir:/x" is not
# mistaken for a registry reference to the image "dir" with tag "/x").
UNSUPPORTED_TRANSPORTS = ("dir", "containers-storage", "docker-daemon", "ostree", "sif", "tarball")
