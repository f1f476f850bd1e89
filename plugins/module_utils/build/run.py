# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commands of a build: ``run`` in the working container through the OCI runtime, ``host``
on the host with the working container's rootfs in ``$ROOTFS``.

``run`` reuses the container runtime's parts: the desired process normalised as for
oci_container (runtime.options), the user resolved from the rootfs (runtime.users), the
config.json (runtime.spec) with every mount destination resolved inside the rootfs
(runtime.destinations), the network attached and detached by runtime.network, and runc run
in the foreground. The mount points runc makes for its own mounts (/proc, /dev, /etc/hosts...
when the image has none) are removed from the upper directory afterwards, so they never
reach a layer. Output (stdout and stderr together) goes to a file; a failure quotes its tail.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile

from ..common.errors import UndockError
from ..common.fileutil import atomic_write, makedirs_private
from ..runtime.destinations import check_path, contain_mounts
from ..runtime.network import lifecycle
from ..runtime.network.plan import plan_network
from ..runtime.options import normalize
from ..runtime.runc import OCIRuntime
from ..runtime.spec import base_mounts, build_spec
from ..runtime.users import resolve_user
from ..storage.trees import remove_tree
from .errors import BuildError
from .working import WorkingContainer

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

NETWORKS = ("none", "host", "bridge")
TAIL = 4000


class CommandResult:
    __slots__ = ("rc", "output")

    def __init__(self, rc: int, output: str):
        self.rc = rc
        self.output = output


def _wait(argv: List[str], what: str, timeout: Optional[float], env: Optional[Dict[str, str]] = None,
          cwd: Optional[str] = None, on_timeout: Any = None) -> CommandResult:
    """Run ``argv`` to its end with its output in a temporary file; BuildError on a non-zero
    exit or a timeout, quoting the end of the output."""
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=cwd)
        except OSError as err:
            raise BuildError("%s: cannot start %s: %s" % (what, argv[0], err.strerror or err))
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if on_timeout is not None:
                on_timeout()
            proc.kill()
            proc.wait()
            rc = None
        out.seek(0, os.SEEK_END)
        size = out.tell()
        out.seek(max(0, size - TAIL))
        tail = ("..." if size > TAIL else "") + out.read().decode("utf-8", "replace")
        out.seek(0)
        output = out.read(1024 * 1024).decode("utf-8", "replace")
    if rc is None:
        raise BuildError("%s did not finish within %s s; the end of its output:\n%s" % (what, timeout, tail))
    if rc != 0:
        raise BuildError("%s failed with exit code %d; the end of its output:\n%s" % (what, rc, tail))
    return CommandResult(rc=rc, output=output)


def _missing(rootfs: str, path: str) -> Optional[str]:
    """The first component of ``path`` (relative, resolved) that does not exist in the rootfs."""
    done = ""
    for part in [p for p in path.split("/") if p]:
        done = os.path.join(done, part)
        if not os.path.lexists(os.path.join(rootfs, done)):
            return done
    return None


def _remove_stub(upper: str, rel: str) -> None:
    """Remove what runc made at ``rel`` for a mount point: empty files and directories (nested
    ones too: a bind at /a/b/c leaves a/, a/b/, a/b/c/) only."""
    path = os.path.join(upper, rel)
    if os.path.islink(path) or not os.path.lexists(path):
        return
    if os.path.isfile(path):
        if os.path.getsize(path) == 0:
            os.unlink(path)
        return
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or (name in filenames and os.path.getsize(full)):
                return  # something real was written there: keep it
    remove_tree(path)  # only empty directories and files: the stubs of nested mount points


@contextlib.contextmanager
def _runc_command(container: WorkingContainer, argv: Sequence[str], image_config: Dict[str, Any], *,
                  env: Optional[Dict[str, str]], user: Optional[str], working_dir: Optional[str], network: str,
                  volumes: Sequence[str], runtime: str, mounts: Sequence[Dict[str, Any]] = (),
                  stubs_through_mount: bool = False) -> Iterator[Tuple[List[str], OCIRuntime, str]]:
    """The ``runc run`` command line of ``argv`` in the working container, its bundle and
    network ready; afterwards the container is deleted, the network detached and the mount
    points runc made for its mounts removed from the upper directory (or, with
    ``stubs_through_mount``, through the mounted rootfs, which stays mounted and in use:
    they exist in no lower layer, so overlay removes them from the upper directory and
    leaves no whiteout, and its cache does not keep them alive)."""
    if network not in NETWORKS:
        raise BuildError("run: network must be one of %s, not %r" % (", ".join(NETWORKS), network))
    for volume in volumes:
        if not str(volume).startswith("/"):
            raise BuildError("run: volume %r must be HOST_PATH:CONTAINER_PATH[:ro] with an absolute host path "
                             "(builds have no named volumes)" % (volume,))
    rootfs = container.mount()
    name = "build-%s" % container.id
    try:
        desired = normalize({"name": name, "env": env or {}, "user": user, "working_dir": working_dir,
                             "volumes": list(volumes), "mounts": list(mounts), "network": network,
                             "command": list(argv), "entrypoint": []},
                            image_config, container.label, "")
    except UndockError as err:
        raise BuildError("run: %s" % err)
    desired["args"] = list(argv)
    desired["image_volumes"] = []
    check_path(rootfs, "working_dir", desired["working_dir"])
    process_user = resolve_user(rootfs, desired["user"])
    state_dir = os.path.join(container.run_root, "builds", container.id, "network")
    bundle = os.path.join(container.run_root, "builds", container.id, "bundle")
    makedirs_private(bundle)
    runc = OCIRuntime(runtime, os.path.join(container.run_root, "runtime", runtime))
    plan = plan_network(network)
    attached = False
    try:
        state = lifecycle.attach(name, plan, state_dir, container.run_root, hostname=desired["hostname"])
        attached = True
        hostname_file = os.path.join(bundle, "hostname")
        atomic_write(hostname_file, (desired["hostname"] + "\n").encode(), 0o644)
        etc_files = dict(state.etc_files, **{"/etc/hostname": hostname_file})
        spec = build_spec(desired, process_user, {}, etc_files, rootfs=rootfs,
                          cgroups_path="/undock/%s" % name, network_namespace=state.spec_namespace())
        spec["mounts"] = contain_mounts(rootfs, spec["mounts"], [m["destination"] for m in base_mounts(False)])
        stubs = {m for m in (_missing(rootfs, mount["destination"]) for mount in spec["mounts"]) if m}
        if not os.path.lexists(os.path.join(rootfs, desired["working_dir"].lstrip("/"))):
            stubs.discard(_missing(rootfs, desired["working_dir"]))  # runc makes it; docker keeps it too
        atomic_write(os.path.join(bundle, "config.json"), json.dumps(spec, sort_keys=True).encode(), 0o600)
        try:
            yield [runc.binary, "--root", runc.root, "run", "--bundle", bundle, name], runc, name
        finally:
            runc.delete(name)
            for stub in sorted(stubs, reverse=True):
                _remove_stub(rootfs if stubs_through_mount else container.upper, stub)
    finally:
        if attached or os.path.isdir(state_dir):
            lifecycle.detach(name, state_dir, container.run_root)
        remove_tree(bundle)


def run_in_container(container: WorkingContainer, argv: Sequence[str], image_config: Dict[str, Any], *,
                     env: Optional[Dict[str, str]] = None, user: Optional[str] = None,
                     working_dir: Optional[str] = None, network: str = "host", volumes: Sequence[str] = (),
                     timeout: Optional[float] = None, runtime: str = "runc",
                     mounts: Sequence[Dict[str, Any]] = ()) -> CommandResult:
    """Run ``argv`` in the working container, as a RUN step of the image with ``image_config``.
    ``mounts``: runtime ``mounts`` entries (bind/tmpfs dicts), a Dockerfile's ``RUN --mount``."""
    with _runc_command(container, argv, image_config, env=env, user=user, working_dir=working_dir, network=network,
                       volumes=volumes, runtime=runtime, mounts=mounts) as (command, runc, name):
        return _wait(command, "run %s" % " ".join(argv), timeout, on_timeout=lambda: runc.kill(name, "SIGKILL"))


def exec_in_working(container: WorkingContainer, argv: Sequence[str], image_config: Dict[str, Any], *,
                    env: Optional[Dict[str, str]] = None, user: Optional[str] = None, volumes: Sequence[str] = (),
                    stdin: Optional[bytes] = None, timeout: Optional[float] = None,
                    runtime: str = "runc") -> Tuple[int, bytes, bytes]:
    """Run ``argv`` in the working container as a connection does: ``stdin`` fed to it, its
    exit code, stdout and stderr returned whatever the exit code (host network)."""
    with _runc_command(container, argv, image_config, env=env, user=user, working_dir=None, network="host",
                       volumes=volumes, runtime=runtime, stubs_through_mount=True) as (command, runc, name):
        try:
            proc = subprocess.run(command, input=stdin or b"", capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            runc.kill(name, "SIGKILL")
            raise BuildError("%s did not finish within %s s" % (" ".join(argv), timeout))
        except OSError as err:
            raise BuildError("cannot start %s: %s" % (command[0], err.strerror or err))
        return proc.returncode, proc.stdout, proc.stderr


def run_on_host(container: WorkingContainer, argv: Sequence[str], env: Optional[Dict[str, str]] = None,
                timeout: Optional[float] = None, cwd: Optional[str] = None) -> CommandResult:
    """Run ``argv`` on the host with ``ROOTFS`` set to the mounted rootfs (``dnf --installroot=$ROOTFS``)."""
    rootfs = container.mount()
    environment = dict(os.environ)
    environment.update(env or {})
    environment["ROOTFS"] = rootfs
    return _wait(list(argv), "host %s" % " ".join(argv), timeout, env=environment, cwd=cwd)
