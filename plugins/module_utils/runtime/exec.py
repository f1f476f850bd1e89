# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command in a running container: ``runc exec --process FILE`` (crun takes the same).

The process starts from the container's own ``process`` of its config.json (capabilities,
rlimits, no_new_privileges, apparmor and the like stay as the container has them), with
the command's argv, its env merged over the container's, a user resolved from the image's
/etc/passwd and /etc/group through storage.rootfs, and a working directory. On a timeout the
process is killed (through the pid runc wrote) and the exec is an error."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile

from ..common.fileutil import makedirs_private
from .containers import Containers
from .errors import ContainerError
from .users import resolve_user

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

KILL_WAIT = 10.0


class ExecResult:
    __slots__ = ("rc", "stdout", "stderr")

    def __init__(self, rc: int, stdout: bytes, stderr: bytes):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


def running_container(containers: Containers, name: str) -> Dict[str, Any]:
    """The record of ``name``, which must exist and run (else a ContainerError saying which)."""
    record = containers.record(name)
    if record is None:
        raise ContainerError("container %s does not exist in the store %s" % (name, containers.store.root))
    status = containers.status(name)
    if status["state"] != "running" or not status.get("pid"):
        raise ContainerError("container %s is not running (it is %s): start it first" % (name, status["state"]))
    return dict(record, pid=int(status["pid"]))


def exec_process(containers: Containers, name: str, argv: List[str], env: Optional[Dict[str, Any]] = None,
                 user: Optional[str] = None, working_dir: Optional[str] = None) -> Dict[str, Any]:
    """The runtime-spec ``process`` of the exec: the container's, with these overrides."""
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ContainerError("the command to run in container %s is empty" % name)
    paths = containers.paths(name)
    try:
        with open(paths.config, "rb") as handle:
            spec = json.loads(handle.read())
    except (OSError, ValueError) as err:
        raise ContainerError("cannot read the OCI config of container %s (%s): %s" % (name, paths.config, err)) from None
    process = dict(spec.get("process") or {})
    process["args"] = list(argv)
    process["terminal"] = False
    process.pop("consoleSize", None)
    merged = {}
    for item in process.get("env") or []:
        key, dummy, value = item.partition("=")
        merged[key] = value
    for key, value in (env or {}).items():
        if not key or "=" in key:
            raise ContainerError("env name %r is not valid" % key)
        merged[key] = "" if value is None else str(value)
    process["env"] = ["%s=%s" % kv for kv in merged.items()]
    if user:
        resolved = resolve_user(paths.rootfs, user)
        process["user"] = {"uid": resolved.uid, "gid": resolved.gid}
        if resolved.additional_gids:
            process["user"]["additionalGids"] = resolved.additional_gids
    if working_dir:
        if not working_dir.startswith("/"):
            raise ContainerError("working_dir %r is not an absolute path" % working_dir)
        process["cwd"] = working_dir
    return process


def exec_in_container(containers: Containers, name: str, argv: List[str], env: Optional[Dict[str, Any]] = None,
                      user: Optional[str] = None, working_dir: Optional[str] = None, stdin: Optional[bytes] = None,
                      timeout: Optional[float] = None) -> ExecResult:
    """Run ``argv`` in the running container ``name``; its exit code and output."""
    if timeout is not None and timeout <= 0:
        raise ContainerError("timeout must be a positive number of seconds, not %r" % timeout)
    record = running_container(containers, name)
    process = exec_process(containers, name, argv, env, user, working_dir)
    runtime = containers.runtime(record["desired"]["runtime"])
    paths = containers.paths(name)
    makedirs_private(paths.run)
    with tempfile.TemporaryDirectory(prefix="exec-", dir=paths.run) as work:
        process_file = os.path.join(work, "process.json")
        pid_file = os.path.join(work, "exec.pid")
        with open(process_file, "w") as handle:
            json.dump(process, handle)
        command = [runtime.binary, "--root", runtime.root, "exec", "--process", process_file, "--pid-file", pid_file,
                   name]
        proc = subprocess.Popen(command, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True, cwd="/")
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_exec(pid_file)
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=KILL_WAIT)
            raise ContainerError("the command %s in container %s did not finish within %s s: killed it"
                                 % (argv[0], name, timeout)) from None
        started = os.path.exists(pid_file)
    if proc.returncode != 0 and not started and _runtime_failed(err):
        raise ContainerError("%s exec in container %s failed: %s" % (runtime.name, name,
                                                                     err.decode("utf-8", "replace").strip()))
    return ExecResult(rc=proc.returncode, stdout=out, stderr=err)


def _runtime_failed(stderr: bytes) -> bool:
    """Whether runc (or crun) itself failed before the process ran, in its own words."""
    text = stderr.decode("utf-8", "replace")
    return "level=error" in text or "exec failed" in text or text.startswith(("crun:", "runc:"))


def _kill_exec(pid_file: str) -> None:
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip() or "0")
    except (OSError, ValueError):
        return
    if pid > 0:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
