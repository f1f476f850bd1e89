# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Platforms (os/architecture/variant): parsing, normalising names, matching index entries."""

from __future__ import annotations

import os
from collections import namedtuple

from ..common.errors import ManifestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


class Platform(namedtuple("Platform", "os architecture variant", defaults=(None,))):
    """An image's platform: os, architecture (str), variant (Optional[str])."""

    __slots__ = ()

    def __str__(self) -> str:
        text = "%s/%s" % (self.os, self.architecture)
        return text + "/" + self.variant if self.variant else text


_ARCH_ALIASES = {
    "x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
    "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}
# What a missing variant means, per containers/image and the image-spec platform notes.
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


def normalize_platform(value: Any) -> Platform:
    """Accept ``os/arch[/variant]``, ``arch`` alone, or a dict; normalise the names."""
    if isinstance(value, Platform):
        return value
    if isinstance(value, dict):
        os_name, arch, variant = value.get("os", "linux"), value.get("architecture", ""), value.get("variant")
    else:
        parts = str(value).strip().split("/")
        if len(parts) == 1:
            os_name, arch, variant = "linux", parts[0], None
        elif len(parts) in (2, 3):
            os_name, arch = parts[0], parts[1]
            variant = parts[2] if len(parts) == 3 else None
        else:
            raise ManifestError("invalid platform %r: expected os/arch[/variant]" % (value,))
    arch = _ARCH_ALIASES.get(str(arch).lower(), str(arch).lower())
    if not os_name or not arch:
        raise ManifestError("invalid platform %r: expected os/arch[/variant]" % (value,))
    return Platform(str(os_name).lower(), arch, variant or None)


def host_platform() -> Platform:
    machine = os.uname().machine.lower()
    variant = None
    if machine.startswith("armv"):
        variant, machine = machine[3:5], "arm"
    return normalize_platform({"os": "linux", "architecture": machine, "variant": variant})


def platform_matches(wanted: Platform, offered: Dict[str, Any]) -> bool:
    if not isinstance(offered, dict):
        return False
    got = normalize_platform(offered)
    if got.os != wanted.os or got.architecture != wanted.architecture:
        return False
    if wanted.variant is None:
        return True
    default = _DEFAULT_VARIANTS.get(got.architecture)
    return (got.variant or default) == (wanted.variant or default)
