# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``user: NAME|UID[:GROUP|GID]`` resolved from the image's /etc/passwd and /etc/group.

The files are read through storage.rootfs, so a symlinked /etc/passwd is followed only
inside the rootfs, never to the host's. As docker: a numeric user missing from passwd runs
with gid 0; a user name that is not there is an error; supplementary groups are the
groups that list the user as a member."""

from __future__ import annotations

import errno

from ..storage.rootfs import read_file_in_root
from .errors import ContainerError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

MAX_FILE = 4 * 1024 * 1024


class ProcessUser:
    __slots__ = ("uid", "gid", "additional_gids", "home")

    def __init__(self, uid: int, gid: int, additional_gids: Optional[List[int]] = None, home: str = "/"):
        self.uid = uid
        self.gid = gid
        self.additional_gids = [] if additional_gids is None else additional_gids
        self.home = home

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessUser):
            return NotImplemented
        return (self.uid, self.gid, self.additional_gids, self.home) == (other.uid, other.gid, other.additional_gids,
                                                                         other.home)

    def __repr__(self) -> str:
        return "ProcessUser(uid=%r, gid=%r, additional_gids=%r, home=%r)" % (self.uid, self.gid, self.additional_gids,
                                                                             self.home)


def _read(rootfs: str, path: str) -> Optional[List[List[str]]]:
    try:
        data = read_file_in_root(rootfs, path, MAX_FILE)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise ContainerError("cannot read %s of the image: %s" % (path, err.strerror or err)) from None
    return [line.split(":") for line in data.decode("utf-8", "replace").splitlines()
            if line and not line.startswith("#")]


def _number(text: str) -> Optional[int]:
    return int(text) if text.isdigit() and int(text) < 2 ** 32 else None


def split_user(spec: str) -> Tuple[str, Optional[str]]:
    user, sep, group = str(spec).partition(":")
    if not user or (sep and not group):
        raise ContainerError("user %r is not USER[:GROUP] (names or numbers)" % spec)
    return user, group if sep else None


def resolve_user(rootfs: str, spec: str) -> ProcessUser:
    user, group = split_user(spec)
    passwd = _read(rootfs, "/etc/passwd") or []
    entry = None
    for fields in passwd:
        if len(fields) >= 4 and (fields[0] == user or (fields[2] == user and _number(user) is not None)):
            entry = fields
            break
    if entry is not None:
        uid = _number(entry[2])
        gid = _number(entry[3])
        if uid is None or gid is None:
            raise ContainerError("user %s: the image's /etc/passwd has an invalid entry for it" % user)
        name, home = entry[0], (entry[5] if len(entry) > 5 and entry[5] else "/")
    else:
        uid = _number(user)
        if uid is None:
            raise ContainerError("user %r is not in the image's /etc/passwd" % user)
        gid, name, home = 0, None, "/"
    groups = _read(rootfs, "/etc/group") or []
    if group is not None:
        gid_number = _number(group)
        if gid_number is None:
            for fields in groups:
                if len(fields) >= 3 and fields[0] == group and _number(fields[2]) is not None:
                    gid_number = _number(fields[2])
                    break
            if gid_number is None:
                raise ContainerError("group %r is not in the image's /etc/group" % group)
        gid = gid_number
    extra = []
    if name is not None and group is None:
        for fields in groups:
            if len(fields) >= 4 and name in fields[3].split(","):
                number = _number(fields[2])
                if number is not None and number != gid and number not in extra:
                    extra.append(number)
    return ProcessUser(uid=uid, gid=gid, additional_gids=sorted(extra), home=home)
