# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent network namespaces under ``run_root/netns``, made the way ``ip netns add`` makes
them but not tied to /run/netns: a forked child calls libc's unshare(CLONE_NEWNET) and
bind-mounts its /proc/self/ns/net onto FILE (common/libc, as storage/mount_commands mounts
an overlay: no ``unshare`` and ``true`` to exec at each start), so the namespace outlives the
process and any container that joins it (runtime-spec ``linux.namespaces[].path``). The same
child brings the namespace's loopback up (SIOCSIFFLAGS, as netavark does: no CNI ``loopback``
plugin to run; the kernel gives ``lo`` 127.0.0.1 and ::1 as it comes up). Where ctypes or
libc's functions are missing, or the child fails, util-linux ``unshare --net=FILE`` does the
same, running this interpreter to bring ``lo`` up (and names what went wrong). A namespace is "there" only when FILE
is an nsfs mount (mountinfo): an empty FILE left by a kill -9 between the two steps is
simply made again, or removed. Removal is umount, then unlink, which since Linux 3.18 also
drops copies of the mount that other mount namespaces still hold."""

from __future__ import annotations

import fcntl  # noqa: F401 pylint: disable=unused-import  # for LOOPBACK_UP: loaded here, the forked child imports nothing
import os
import sys

from ...common.libc import libc_functions
from ...common.tools import find_tool
from ...storage.mounts import mount_entry, umount
from .errors import NetworkError

UNSHARE_TIMEOUT = 20.0
MAX_STACKED = 16  # mounts stacked on one file by repeated interrupted creates
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
#: Bring ``lo`` up in the network namespace of the process that runs it (struct ifreq: the name
#: in 16 bytes, then the flags, a short; OSError if the kernel refuses). One program for both
#: ways of making a namespace: compiled and run by the forked child of _create_by_fork, and by
#: the unshare fallback as ``python -I -S -c LOOPBACK_UP``. _socket is socket's C part: socket.py's own
#: imports (selectors, enum...) would cost a start tens of ms.
LOOPBACK_UP = ("import _socket, fcntl, sys\n"
               "s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)\n"
               "try:\n"
               "    r = fcntl.ioctl(s.fileno(), %d, b'lo'.ljust(40, b'\\0'))\n"
               "    f = int.from_bytes(r[16:18], sys.byteorder) | %d\n"
               "    fcntl.ioctl(s.fileno(), %d, r[:16] + f.to_bytes(2, sys.byteorder) + bytes(22))\n"
               "finally:\n"
               "    s.close()\n" % (SIOCGIFFLAGS, IFF_UP, SIOCSIFFLAGS))


def _create_by_fork(path: str) -> bool:
    """The namespace made by a forked child through libc; False if that could not be done."""
    functions = libc_functions("unshare", "mount")
    if functions is None:
        return False
    unshare, mount = functions
    target = os.fsencode(path)
    # LOOPBACK_UP's modules loaded and the program compiled before the fork, so that the child
    # runs nothing but system calls; here, since a host network's start makes no namespace
    # (and the first compile() of a process costs it ~2.6 ms)
    import _socket  # noqa: F401 pylint: disable=unused-import
    loopback_up = compile(LOOPBACK_UP, "<loopback_up>", "exec")
    pid = os.fork()
    if pid == 0:  # nothing but system calls here, until the exit
        code = 1
        try:
            if unshare(CLONE_NEWNET) == 0:
                exec(loopback_up, {})  # pylint: disable=exec-used  # before the bind mount: a namespace is "there" with its lo up
                if mount(b"/proc/self/ns/net", target, None, MS_BIND, None) == 0:
                    code = 0
        finally:
            os._exit(code)  # pylint: disable=protected-access
    status = os.waitpid(pid, 0)[1]
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and is_netns(path)


def netns_dir(run_root: str) -> str:
    return os.path.join(run_root, "netns")


def is_netns(path: str) -> bool:
    entry = mount_entry(path)
    return entry is not None and entry["fstype"] == "nsfs"


def create(path: str) -> bool:
    """Make ``path`` a persistent network namespace (only loopback, up). False if it was one already."""
    if is_netns(path):
        return False
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o444)
    os.close(fd)
    if _create_by_fork(path):
        return True
    import subprocess  # here: a host-network start makes no namespace, and the modules cost every start
    tool = find_tool("unshare") or "/usr/bin/unshare"
    try:
        proc = subprocess.run([tool, "--net=" + path, "--", sys.executable, "-I", "-S", "-c", LOOPBACK_UP],
                              capture_output=True, timeout=UNSHARE_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise NetworkError("cannot create the network namespace %s with %s: %s" % (path, tool, err))
    if proc.returncode != 0 or not is_netns(path):
        raise NetworkError("cannot create the network namespace %s: unshare exit %d: %s"
                           % (path, proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))
    return True


def remove(path: str) -> bool:
    """Unmount and delete ``path``; False if there was nothing to remove."""
    changed = False
    for _attempt in range(MAX_STACKED):
        if not is_netns(path):
            break
        umount(path, lazy=True)
        changed = True
    else:
        raise NetworkError("cannot unmount the network namespace %s: still mounted after %d unmounts" % (path, MAX_STACKED))
    try:
        os.unlink(path)
        changed = True
    except FileNotFoundError:
        pass
    except OSError as err:
        raise NetworkError("cannot remove the network namespace file %s: %s" % (path, err))
    return changed
