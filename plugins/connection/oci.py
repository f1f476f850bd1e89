# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: oci
short_description: Run tasks in containers of this collection, through runc exec
version_added: 0.2.0
description:
  - Runs Ansible tasks inside a running container made by M(undock.oci.oci_container), as the
    C(containers.podman.podman) and C(community.docker.docker) connections do for theirs. The container is the
    inventory host name, or O(remote_addr) when set.
  - Commands run through C(runc exec) (or C(crun exec), whichever the container runs with), with the container's
    capabilities, limits and namespaces, under O(executable) C(-c).
  - Files are copied through the container's root as the container sees it (its overlay rootfs and the volumes
    mounted in it, reached through its init process), one path component at a time, never following a symlink
    out of it, whatever the image holds. Files put in are owned by O(remote_user) when it is set (by root otherwise), with mode C(0644)
    unless Ansible changes it afterwards.
  - The containers must run on the machine that runs Ansible, which is the managed host here; this connection is
    local only. Use it with C(ansible_connection=undock.oci.oci) for containers that this collection's modules
    started on the controller.
  - The container's rootfs needs a Python for modules; M(ansible.builtin.raw) works without one.
  - With O(working_container), the host is a working container of M(undock.oci.oci_build) (V(state=started)), not a
    running container. Each command then runs in it with C(runc run), as a build's V(run) step, with the host's
    Python lent to it read-only under C(/.undock/host) and Ansible's temporary directory C(/.undock/tmp) bound
    from the host, and files are put into its mounted rootfs. Nothing under C(/.undock) reaches a layer. The
    module's RV(undock.oci.oci_build#module:container) return value holds the host variables to set.
  - When that working container was started with O(undock.oci.oci_build#module:layer_per_task=true), the connection
    commits what a task changed in it as a layer of its own when the task ends (unless the task is tagged
    C(stop-layering)). A commit that fails is a warning, and the changes stay for the next commit.
options:
  remote_addr:
    description:
      - The name of the container.
    type: str
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_oci_host
  remote_user:
    description:
      - The user (and group) commands run as in the container, C(NAME|UID[:GROUP|GID]), resolved from the image's
        C(/etc/passwd) and C(/etc/group). Defaults to the container's own user.
    type: str
    vars:
      - name: ansible_user
      - name: ansible_oci_user
    keyword:
      - name: remote_user
  storage_root:
    description:
      - Root of the local content store the container was created in (the modules' O(undock.oci.oci_container#module:storage_root)).
    type: path
    default: /var/lib/undock
    vars:
      - name: ansible_oci_storage_root
    env:
      - name: ANSIBLE_OCI_STORAGE_ROOT
  run_root:
    description:
      - Runtime directory of that store (the modules' O(undock.oci.oci_container#module:run_root)).
    type: path
    default: /run/undock
    vars:
      - name: ansible_oci_run_root
    env:
      - name: ANSIBLE_OCI_RUN_ROOT
  working_container:
    description:
      - Whether the host is a working container of M(undock.oci.oci_build) rather than a container of
        M(undock.oci.oci_container).
    type: bool
    default: false
    vars:
      - name: ansible_oci_working_container
  executable:
    description:
      - The shell in the container that runs Ansible's commands.
    type: str
    default: /bin/sh
    vars:
      - name: ansible_oci_executable
author:
  - undock.oci developers (@undock-oci)
"""

import contextlib
import errno
import os
import stat

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.connection import ConnectionBase

try:
    from ansible_collections.undock.oci.plugins.module_utils.build.hostpython import TMP_DIR
    from ansible_collections.undock.oci.plugins.module_utils.build.kept import KeptContainers
    from ansible_collections.undock.oci.plugins.module_utils.common.errors import UndockError
    from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers
    from ansible_collections.undock.oci.plugins.module_utils.runtime.exec import exec_in_container, running_container
    from ansible_collections.undock.oci.plugins.module_utils.runtime.users import resolve_user
    from ansible_collections.undock.oci.plugins.module_utils.storage.rootfs import open_in_root
    from ansible_collections.undock.oci.plugins.module_utils.storage.store import Store
    ENGINE_ERROR = None
except ImportError as err:  # the collection's engine, or a library it needs, is missing
    ENGINE_ERROR = err

CHUNK = 1024 * 1024
STOP_LAYERING = "stop-layering"


def current_task():
    """(name, tags) of the task this worker runs: the history comment of its layer. Known
    through ansible-core's task context (2.19); a generic name where there is none."""
    try:
        from ansible._internal._task import TaskContext  # pylint: disable=import-outside-toplevel
        task = TaskContext.current().task
        return str(task.get_name()), [str(t) for t in (task.tags or [])]
    except (ImportError, ReferenceError, AttributeError, TypeError):
        return "task", []


class Connection(ConnectionBase):
    """Local connection into a container of the undock.oci store."""

    transport = "undock.oci.oci"
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._containers = None
        self._kept = None
        self._wrote = False  # a working container's rootfs was reached by this task (see close)

    def _working(self) -> bool:
        return bool(self.get_option("working_container"))

    def _name(self) -> str:
        return self.get_option("remote_addr")

    def _connect(self):
        if ENGINE_ERROR is not None:
            raise AnsibleError("the undock.oci connection cannot load its engine: %s" % ENGINE_ERROR)
        if not self._connected:
            run_root = self.get_option("run_root")
            try:
                store = Store.open(self.get_option("storage_root"), run_root, create=False)
                if self._working():
                    self._kept = KeptContainers(store, run_root)
                    if not self._kept.exists(self._name()):
                        raise AnsibleConnectionFailure("working container %s does not exist in the store %s: start it "
                                                       "with undock.oci.oci_build state=started" % (self._name(), store.root))
                else:
                    self._containers = Containers(store, run_root)
                    running_container(self._containers, self._name())
            except UndockError as err:
                raise AnsibleConnectionFailure(str(err)) from None
            self._display.vvv("ESTABLISH OCI CONNECTION TO %s" % self._name(), host=self._name())
            self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        argv = [self.get_option("executable"), "-c", to_text(cmd, errors="surrogate_or_strict")]
        self._display.vvv("EXEC %s" % argv, host=self._name())
        stdin = to_bytes(in_data) if in_data is not None else None
        if self._working():
            self._wrote = True
            try:
                with self._kept.open(self._name()) as kept:
                    return kept.exec(argv, stdin=stdin, user=self.get_option("remote_user"))
            except UndockError as err:
                raise AnsibleConnectionFailure(str(err)) from None
        try:
            result = exec_in_container(self._containers, self._name(), argv, user=self.get_option("remote_user"),
                                       stdin=stdin)
        except UndockError as err:
            raise AnsibleConnectionFailure(str(err)) from None
        return result.rc, result.stdout, result.stderr

    # -- files -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _root(self, path: str):
        """A descriptor of the directory ``path`` is in, and ``path`` relative to it: the
        container's root as its processes see it (volumes included); for a working container,
        its mounted rootfs, or the host directory bound at /.undock/tmp."""
        if not self._working():
            fd = self._root_fd()
            try:
                yield fd, path
            finally:
                os.close(fd)
            return
        try:
            with self._kept.open(self._name()) as kept:
                normal = os.path.normpath("/" + path.lstrip("/"))
                if normal == TMP_DIR or normal.startswith(TMP_DIR + "/"):
                    top, path = kept.tmp_dir, normal[len(TMP_DIR):] or "/"
                else:
                    top = kept.container.rootfs
                fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    yield fd, path
                finally:
                    os.close(fd)
        except UndockError as err:
            raise AnsibleConnectionFailure(str(err)) from None

    def _root_fd(self) -> int:
        """A descriptor of the container's root as its processes see it (volumes included)."""
        try:
            record = running_container(self._containers, self._name())
            return os.open("/proc/%d/root" % record["pid"], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except UndockError as err:
            raise AnsibleConnectionFailure(str(err)) from None
        except OSError as err:
            raise AnsibleConnectionFailure("cannot reach the root of container %s: %s" % (self._name(), err)) from None

    def _owner(self):
        user = self.get_option("remote_user")
        if user:
            try:
                if self._working():
                    with self._kept.open(self._name()) as kept:
                        resolved = resolve_user(kept.container.rootfs, user)
                else:
                    resolved = resolve_user(self._containers.paths(self._name()).rootfs, user)
            except UndockError as err:
                raise AnsibleConnectionFailure(str(err)) from None
            return resolved.uid, resolved.gid
        return None

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        self._connect()
        self._display.vvv("PUT %s TO %s" % (in_path, out_path), host=self._name())
        if not os.path.isfile(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound("file or module does not exist: %s" % in_path)
        owner = self._owner()
        if self._working():
            self._wrote = True
        with self._root(out_path) as (root, path):
            try:
                created = True
                try:
                    fd = open_in_root(root, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    created = False
                    fd = open_in_root(root, path, os.O_WRONLY | os.O_NONBLOCK)
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        os.close(fd)
                        raise OSError(errno.EINVAL, "not a regular file", out_path)
                    os.ftruncate(fd, 0)
                try:
                    if created:
                        os.fchmod(fd, 0o644)  # whatever the umask
                    if owner is not None:
                        os.fchown(fd, owner[0], owner[1])
                    with open(in_path, "rb") as source:
                        while True:
                            chunk = source.read(CHUNK)
                            if not chunk:
                                break
                            view = memoryview(chunk)
                            while view:
                                view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
            except OSError as err:
                raise AnsibleError("cannot put %s into container %s at %s: %s" % (in_path, self._name(), out_path,
                                                                                  err.strerror or err)) from None

    def _end_task(self):
        name, tags = current_task()
        try:
            with self._kept.open(self._name()) as kept:
                digest = kept.end_task(name, stop_layering=STOP_LAYERING in tags)
        except UndockError as err:
            self._display.warning("working container %s: the changes of task %r were not committed as a layer (they "
                                  "stay for the next commit): %s" % (self._name(), name, err))
            return
        if digest:
            self._display.vv("COMMITTED LAYER %s FOR TASK %s" % (digest, name), host=self._name())

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        self._connect()
        self._display.vvv("FETCH %s TO %s" % (in_path, out_path), host=self._name())
        with self._root(in_path) as (root, path):
            try:
                fd = open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        raise OSError(errno.EINVAL, "not a regular file", in_path)
                    with open(out_path, "wb") as target:
                        while True:
                            chunk = os.read(fd, CHUNK)
                            if not chunk:
                                break
                            target.write(chunk)
                finally:
                    os.close(fd)
            except FileNotFoundError:
                raise AnsibleFileNotFound("file not found in container %s: %s" % (self._name(), in_path)) from None
            except OSError as err:
                raise AnsibleError("cannot fetch %s from container %s: %s"
                                   % (in_path, self._name(), err.strerror or err)) from None

    def close(self):
        # Ansible closes a task's connection when the task ends (TaskExecutor.run): the end of a
        # task for layers per task
        if self._wrote and self._kept is not None:
            self._end_task()
        self._wrote = False
        self._connected = False
        self._containers = None
        self._kept = None
