# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``RUN --mount=type=secret|cache|bind|tmpfs|ssh,...``: the fields, checked as buildkit does.

Values may hold ``$VAR`` references the build expands. ``parse_mount(spec)`` without an
expander checks what it can now and leaves such values to ``parse_mount(spec, expand)``
at build time; only ``from`` may not use variables at all.
"""

from __future__ import annotations

import csv

from .units import parse_ram_size

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Callable, Optional

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_KEYS = ("type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro", "readwrite", "rw",
         "required", "size", "id", "sharing", "mode", "uid", "gid", "env")

if TYPE_CHECKING:
    Expander = Callable[[str], str]


class Mount:
    """One RUN mount; ``read_only`` defaults to true except for cache and tmpfs."""

    __slots__ = ("type", "source", "target", "from_", "read_only", "size_limit", "id", "sharing", "required", "mode",
                 "uid", "gid", "env")

    def __init__(self, type: str = "bind", source: str = "", target: str = "", from_: str = "",
                 read_only: bool = True, size_limit: int = 0, id: str = "", sharing: str = "", required: bool = False,
                 mode: Optional[int] = None, uid: Optional[int] = None, gid: Optional[int] = None,
                 env: Optional[str] = None):
        self.type = type
        self.source = source
        self.target = target
        self.from_ = from_
        self.read_only = read_only
        self.size_limit = size_limit
        self.id = id
        self.sharing = sharing
        self.required = required
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.env = env


def _bool(key: str, value: str) -> bool:
    # Go's strconv.ParseBool
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError("invalid value for %s: %s" % (key, value))


def _uint(key: str, value: str, base: int) -> int:
    digits = "01234567" if base == 8 else "0123456789"
    if not value or any(ch not in digits for ch in value) or int(value, base) >= 1 << 32:
        raise ValueError("invalid value %s for %s" % (value, key))
    return int(value, base)


def parse_mount(spec: str, expand: Optional[Expander] = None) -> Mount:
    """One ``--mount`` value (CSV fields); ValueError with the problem if malformed."""
    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error as err:
        raise ValueError("failed to parse csv mounts: %s" % err) from None
    mount = Mount()
    read_only_auto = True
    deferred = False
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro"):
                mount.read_only, read_only_auto = True, False
            elif key in ("readwrite", "rw"):
                mount.read_only, read_only_auto = False, False
            elif key == "required" and mount.type in ("secret", "ssh"):
                mount.required = True
            elif key == "required":
                raise ValueError("unexpected key '%s' for mount type '%s'" % (key, mount.type))
            else:
                raise ValueError("invalid field '%s' must be a key=value pair" % field)
            continue
        if key == "from" and "$" in value[:-1]:
            raise ValueError("'from' doesn't support variable expansion, define alias stage instead")
        if expand is not None:
            value = expand(value)
        elif "$" in value and key not in ("type", "from"):
            if key not in _KEYS:
                raise ValueError("unexpected key '%s' in '%s'" % (key, field))
            deferred = True  # checked once the build has expanded it
            continue
        read_only_auto = _set(mount, key, value, field) and read_only_auto
    if mount.type not in ("secret", "ssh", "cache"):
        for name in ("mode", "uid", "gid"):
            if getattr(mount, name) is not None:
                raise ValueError('%s not allowed for "%s" type mounts' % (name, mount.type))
    if read_only_auto:
        mount.read_only = mount.type not in ("cache", "tmpfs")
    if mount.type == "secret":
        if mount.from_:
            raise ValueError("secret mount should not have a from")
        if mount.sharing:
            raise ValueError("secret mount should not define sharing")
        if not (mount.source or mount.target or mount.id or deferred):
            raise ValueError("invalid secret mount. one of source, target required")
        if mount.source and mount.id:
            raise ValueError("both source and id can't be set")
    if mount.sharing and mount.type != "cache":
        raise ValueError("invalid cache sharing set for %s mount" % mount.type)
    return mount


def _set(mount: Mount, key: str, value: str, field: str) -> bool:
    """Apply one key=value; returns False when it set read-only explicitly."""
    if key == "type":
        if value.lower() not in MOUNT_TYPES:
            raise ValueError('unsupported mount type "%s" (one of %s)' % (value, ", ".join(MOUNT_TYPES)))
        mount.type = value.lower()
    elif key == "from":
        mount.from_ = value
    elif key in ("source", "src"):
        mount.source = value
    elif key in ("target", "dst", "destination"):
        mount.target = value
    elif key in ("readonly", "ro"):
        mount.read_only = _bool(key, value)
        return False
    elif key in ("readwrite", "rw"):
        mount.read_only = not _bool(key, value)
        return False
    elif key == "required":
        if mount.type not in ("secret", "ssh"):
            raise ValueError("unexpected key '%s' for mount type '%s'" % (key, mount.type))
        mount.required = _bool(key, value)
    elif key == "size":
        if mount.type != "tmpfs":
            raise ValueError("unexpected key '%s' for mount type '%s'" % (key, mount.type))
        try:
            mount.size_limit = parse_ram_size(value)
        except ValueError:
            raise ValueError("invalid value for %s: %s" % (key, value)) from None
    elif key == "id":
        mount.id = value
    elif key == "sharing":
        if value.lower() not in SHARING_MODES:
            raise ValueError('unsupported sharing value "%s" (one of %s)' % (value, ", ".join(SHARING_MODES)))
        mount.sharing = value.lower()
    elif key == "mode":
        mount.mode = _uint(key, value, 8)
    elif key == "uid":
        mount.uid = _uint(key, value, 10)
    elif key == "gid":
        mount.gid = _uint(key, value, 10)
    elif key == "env":
        mount.env = value
    else:
        raise ValueError("unexpected key '%s' in '%s'" % (key, field))
    return True
