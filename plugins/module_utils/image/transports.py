# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image names with a transport, as skopeo spells them, and the sources/destinations they open.

``oci:DIR[:REF]``, ``oci-archive:FILE[:REF]``, ``docker-archive:FILE[:REF]`` are files on
this host; ``docker://REF`` and a bare reference (``busybox``, ``localhost:5000/a:b``)
name a registry image, which the caller opens (registry client, auth, policy live
elsewhere): ``parse_transport`` returns kind ``docker`` and the reference text.

The path ends at the first colon after the transport, as containers/image splits it on
Unix: ``oci:/srv/layout:busybox:1.36`` is DIR ``/srv/layout`` and REF ``busybox:1.36``.
So a path cannot contain a colon.
"""

from __future__ import annotations

from collections import namedtuple

from ..common.errors import InvalidReferenceError
from ..model.transport_names import DOCKER, DOCKER_ARCHIVE, FILE_TRANSPORTS, OCI, OCI_ARCHIVE, UNSUPPORTED_TRANSPORTS
from .docker_archive import DockerArchiveImageDestination, DockerArchiveImageSource, parse_docker_archive_ref
from .interfaces import ImageDestination, ImageSource
from .layout import (LayoutImageDestination, LayoutImageSource, OciArchiveImageDestination,
                     OciArchiveImageSource, validate_ref_name)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Optional


class TransportRef(namedtuple("TransportRef", "kind path ref")):
    """An image named through a transport (all str): kind, oci, oci-archive, docker-archive or
    docker; path, '' for docker; ref, REF ('' when absent), for docker the registry reference text."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_transport(self.kind, self.path, self.ref)


def format_transport(kind: str, path: str, ref: str = "") -> str:
    if kind == DOCKER:
        return "docker://" + ref
    return "%s:%s%s" % (kind, path, ":" + ref if ref else "")


def parse_transport(text: str) -> TransportRef:
    """Split ``text`` into ``(kind, path, ref)``; raise InvalidReferenceError if it is malformed."""
    if not isinstance(text, str) or not text:
        raise InvalidReferenceError("invalid image name %r: empty" % (text,))
    if "\x00" in text:
        raise InvalidReferenceError("invalid image name %r: contains a NUL byte" % (text,))
    if text.startswith("docker://"):
        ref = text[len("docker://"):]
        if not ref:
            raise InvalidReferenceError("invalid image name %r: no reference after docker://" % text)
        return TransportRef(DOCKER, "", ref)
    transport, sep, rest = text.partition(":")
    if sep and transport in FILE_TRANSPORTS:
        path, dummy, ref = rest.partition(":")
        if not path:
            raise InvalidReferenceError("invalid image name %r: %s needs a path" % (text, transport))
        if transport == DOCKER_ARCHIVE:
            parse_docker_archive_ref(ref)        # validates NAME:TAG or @N
        else:
            try:
                validate_ref_name(ref, transport)
            except Exception as err:
                raise InvalidReferenceError("invalid image name %r: %s" % (text, err))
        return TransportRef(transport, path, ref)
    if sep and transport == DOCKER:
        raise InvalidReferenceError("invalid image name %r: the docker transport is written docker://REF" % text)
    if sep and transport in UNSUPPORTED_TRANSPORTS:
        raise InvalidReferenceError("invalid image name %r: the %s transport is not supported (use oci:, "
                                    "oci-archive:, docker-archive: or docker://)" % (text, transport))
    return TransportRef(DOCKER, "", text)


def open_source(text: str, tmp_dir: Optional[str] = None, manifest_format: str = "oci",
                docker: Optional[Callable[[str], ImageSource]] = None) -> ImageSource:
    """An ImageSource for ``text``. Registry references need ``docker`` (a factory taking the reference).

    ``manifest_format`` applies to docker-archive (see image.docker_archive: ``oci`` or ``docker``).
    """
    kind, path, ref = parse_transport(text)
    if kind == OCI:
        return LayoutImageSource(path, ref or None)
    if kind == OCI_ARCHIVE:
        return OciArchiveImageSource(path, ref or None, tmp_dir=tmp_dir)
    if kind == DOCKER_ARCHIVE:
        return DockerArchiveImageSource(path, ref or None, manifest_format=manifest_format, tmp_dir=tmp_dir)
    return _docker(text, ref, docker)


def open_destination(text: str, tmp_dir: Optional[str] = None,
                     docker: Optional[Callable[[str], ImageDestination]] = None) -> ImageDestination:
    """An ImageDestination for ``text``. Registry references need ``docker`` (a factory)."""
    kind, path, ref = parse_transport(text)
    if kind == OCI:
        return LayoutImageDestination(path, ref or None)
    if kind == OCI_ARCHIVE:
        return OciArchiveImageDestination(path, ref or None, tmp_dir=tmp_dir)
    if kind == DOCKER_ARCHIVE:
        if ref.startswith("@"):
            raise InvalidReferenceError("invalid destination %r: @N selects an image to read" % text)
        return DockerArchiveImageDestination(path, ref or None, tmp_dir=tmp_dir)
    return _docker(text, ref, docker)


def _docker(text: str, ref: str, factory: Optional[Callable[[str], Any]]) -> Any:
    if factory is None:
        raise InvalidReferenceError("%r is a registry reference; registry images are opened by the registry "
                                    "client, not by image.transports" % text)
    return factory(ref)


def copy_between(source_text: str, destination_text: str, tmp_dir: Optional[str] = None, **source_options: Any) -> Any:
    """``skopeo copy`` between two file transports: returns copy.CopyResult."""
    from .copy import copy_image
    source = open_source(source_text, tmp_dir=tmp_dir, **source_options)
    try:
        destination = open_destination(destination_text, tmp_dir=tmp_dir)
        try:
            return copy_image(source, destination)
        finally:
            destination.close()
    finally:
        source.close()
