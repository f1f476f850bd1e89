# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kept working containers: a build that lives between processes, so that Ansible tasks run in
it one after another (the ``undock.oci.oci`` connection) and a later task commits it (the
``buildah from`` ... ``buildah commit`` pattern; ansible-bender's working container).

A kept container is an ordinary WorkingContainer (build.working) with the id ``w.NAME``,
whose mount is not transient (it outlives the module that made it) and whose state, the
container's layers and the Build's config and history, is saved in
``<store>/builds/w.NAME/kept.json`` after each change; ``clean_stale_builds`` leaves such
directories alone. Every operation holds the container's lock file for its duration.

``<run_root>/builds/w.NAME/tmp`` is bound at ``/.undock/tmp`` in each command: Ansible's
remote temporary directory, so the module files it copies never touch the rootfs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re

from ..common.errors import UndockError
from ..common.fileutil import atomic_write, makedirs_private
from ..common.locks import FileLock
from ..storage.store import Store
from .builder import Build, BuildSettings
from .errors import BuildError
from .hostpython import BIN_DIR, INTERPRETER, LEND_ROOT, TMP_DIR, wrapper
from .run import exec_in_working
from .working import BUILDS_DIR, KEPT_FILE, BaseImage, WorkingContainer

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Tuple

NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}")
LOCK_TIMEOUT = 600


def kept_id(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BuildError("container: %r is not a valid working container name (letters, digits, '_', '.', '-', "
                         "at most 64, starting with a letter or digit)" % (name,))
    return "w." + name


class Kept:
    """One kept working container, loaded under its lock (see ``KeptContainers.open``)."""

    def __init__(self, container: WorkingContainer, build: Build, state: Dict[str, Any]):
        self.container = container
        self.build = build
        self.state = state

    @property
    def tmp_dir(self) -> str:
        return os.path.join(self.container.run_root, BUILDS_DIR, self.container.id, "tmp")

    @property
    def bin_dir(self) -> str:
        return os.path.join(self.container.run_root, BUILDS_DIR, self.container.id, "bin")

    def binds(self) -> List[str]:
        """The volumes of each command: the lent Python and its script read-only, the temporary directory."""
        makedirs_private(self.tmp_dir)
        python = self.state.get("python") or {}
        volumes = ["%s:%s:ro" % (src, dest) for src, dest in python.get("binds", [])]
        if python.get("command"):
            script = os.path.join(self.bin_dir, os.path.basename(INTERPRETER))
            if not os.path.isfile(script):
                os.makedirs(self.bin_dir, 0o755, exist_ok=True)
                atomic_write(script, wrapper(python["command"]), 0o755)
            volumes.append("%s:%s:ro" % (self.bin_dir, BIN_DIR))
        return volumes + ["%s:%s" % (self.tmp_dir, TMP_DIR)]

    def save(self) -> None:
        build = self.build
        self.state.update(container=self.container.to_state(), config=build.config, history=build.history,
                          annotations=build.annotations, pending=build.pending)
        atomic_write(os.path.join(self.container.dir, KEPT_FILE), json.dumps(self.state, sort_keys=True).encode(),
                     0o600)

    def end_task(self, task: str, stop_layering: bool = False) -> Optional[str]:
        """After an Ansible task (the connection's ``close``), with ``layer_per_task``: what the
        task changed becomes a layer of its own, whose history comment is the task's name; the
        digest of that layer, or None. A task that changed nothing (only directories copied up by
        overlay) makes none. ``stop_layering`` (the task's tag ``stop-layering``, as
        ansible-bender has it) ends layers per task from this task on: the rest goes into the
        next commit task's layer."""
        if stop_layering:
            self.state["layer_per_task"] = False
        if not self.state.get("layer_per_task") or self.container.only_copied_up():
            return None
        self.build.note_change("ANSIBLE %s" % task)
        return self.build.commit(task)

    def exec(self, argv: List[str], stdin: Optional[bytes] = None, user: Optional[str] = None,
             timeout: Optional[float] = None) -> Tuple[int, bytes, bytes]:
        """Run a command in the container, as the connection does."""
        return exec_in_working(self.container, argv, self.build.config, user=user, volumes=self.binds(),
                               stdin=stdin, timeout=timeout, runtime=self.build.settings.runtime)


class KeptContainers:
    """The kept working containers of a store."""

    def __init__(self, store: Store, run_root: str):
        self.store = store
        self.run_root = os.path.abspath(run_root)

    def _dir(self, name: str) -> str:
        return os.path.join(self.store.root, BUILDS_DIR, kept_id(name))

    def exists(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self._dir(name), KEPT_FILE))

    def _lock(self, name: str) -> FileLock:
        return FileLock(os.path.join(self.store.locks, "build-%s.lock" % kept_id(name)))

    def read_state(self, name: str) -> Optional[Dict[str, Any]]:
        try:
            with open(os.path.join(self._dir(name), KEPT_FILE), "rb") as handle:
                return json.loads(handle.read(64 * 1024 * 1024))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise BuildError("the state of working container %s cannot be read: %s" % (name, err))

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[Kept]:
        """The container ``name``, locked, mounted; its state is saved on the way out."""
        with self._lock(name).acquire(timeout=LOCK_TIMEOUT):
            state = self.read_state(name)
            if state is None:
                raise BuildError("working container %s does not exist in the store %s: start it with oci_build "
                                 "state=started" % (name, self.store.root))
            container = WorkingContainer.from_state(self.store, self.run_root, state["container"])
            settings = BuildSettings(**state["settings"])
            build = Build(self.store, container, settings)
            build.config, build.history = state["config"], state["history"]
            build.annotations, build.pending = state["annotations"], state["pending"]
            build.skip_copied_up = True
            kept = Kept(container, build, state)
            container.mount()
            try:
                yield kept
            finally:
                kept.save()

    def create(self, name: str, base: BaseImage, settings: BuildSettings, python: Dict[str, Any],
               image: str, layer_per_task: bool = False) -> None:
        """Make the container ``name`` from ``base`` (not mounted yet)."""
        with self._lock(name).acquire(timeout=LOCK_TIMEOUT):
            if self.exists(name):
                raise BuildError("working container %s exists already" % name)
            container = WorkingContainer(self.store, self.run_root, base, "build:%s" % image,
                                         container_id=kept_id(name))
            if os.path.lexists(container.dir):  # what a killed start left
                container.remove_dirs()
            container.create_dirs()
            build = Build(self.store, container, settings)
            state = {"name": name, "image": image, "settings": {key: getattr(settings, key) for key in BuildSettings.__slots__}, "python": python,
                     "layer_per_task": bool(layer_per_task)}
            try:
                rootfs = container.mount()
                if os.path.lexists(os.path.join(rootfs, LEND_ROOT.lstrip("/"))):
                    raise BuildError("the image %s has %s, where the host's Python is lent to Ansible: it cannot be a "
                                     "working container for Ansible" % (base.name, LEND_ROOT))
                Kept(container, build, state).save()
            except BaseException:
                container.unmount()
                container.remove_dirs()
                raise

    def remove(self, name: str) -> bool:
        """Unmount and delete ``name``; whether it existed (its committed layers stay in the store)."""
        with self._lock(name).acquire(timeout=LOCK_TIMEOUT):
            state = self.read_state(name)
            path = self._dir(name)
            if state is None and not os.path.lexists(path):
                return False
            if state is not None:
                try:
                    container = WorkingContainer.from_state(self.store, self.run_root, state["container"])
                    container.unmount()
                except (KeyError, TypeError, UndockError):
                    pass
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(path, KEPT_FILE))  # no longer kept: a crash from here is a stale build
            container = WorkingContainer(self.store, self.run_root, BaseImage(), "", container_id=kept_id(name))
            container.mounts.unmount(container.rootfs, lazy=True)
            container.remove_dirs()
            return True
