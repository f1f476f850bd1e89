# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oci_container: bring one container to a state (present, started, stopped, absent,
restarted), recreating it when its normalised configuration differs from what was
created, unless only limits differ that the runtime changes in place (limits.py): then
the container is updated without a restart, and recreated only if the runtime refuses.
Check mode reads the store but never writes, mounts or runs anything."""

from __future__ import annotations

from ..image.instore import present_in_store
from ..image.outcome import Outcome
from .errors import ContainerError, RuntimeCommandError
from .limits import in_place
from .options import check_name, differences, normalize
from .quick import CONTAINER_OPTIONS, FINGERPRINT, fingerprint
from .records import LOG_MAX, RUNNING

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:  # exec.py is loaded by the tasks that exec only; containers.py once a start is under way
    from typing import Any, Dict, List, Optional, Union
    from ..image.store_images import StoreImages
    from ..image.ops import ImageService
    from .containers import Containers
    from .exec import ExecResult
    from .monitoring import MonitorLaunch

STATES = ("present", "started", "stopped", "absent", "restarted")


def planned(desired: Dict[str, Any], state: str) -> Dict[str, Any]:
    """The ``container`` return value of a check-mode run: what would exist."""
    return {"name": desired["name"], "image": desired["image"], "image_digest": desired["image_digest"],
            "bundle": None, "log_path": None, "created_at": None, "config": desired,
            "state": {"started": "running", "restarted": "running", "stopped": "created",
                      "present": "created"}.get(state), "pid": None, "exit_code": None, "started_at": None,
            "finished_at": None, "restart_count": 0, "error": None, "supervised": False, "unit": None,
            "network": desired["network"],
            "ports": list(desired["ports"]), "ip_address": None, "logs": []}


class ContainerService:
    """``images``: an ImageService, or StoreImages (image/store_images.py), which makes one only
    for a pull or an unpack. ``network`` options of Containers (bridge, cni_path) pass through
    ``network``."""

    def __init__(self, images: Union[ImageService, StoreImages], log_max: int = LOG_MAX, **network: Any):
        self.images = images
        self.log_max = log_max
        self.network = network
        self.check_mode = images.check_mode

    def _containers(self, create: Optional[bool] = None) -> Optional[Containers]:
        """The store's containers; None when there is no store (and ``create`` is false:
        by default, it is made except in check mode)."""
        store = self.images.store(create=not self.check_mode if create is None else create)
        from .containers import Containers
        return Containers(store, self.images.run_root, self.log_max, **self.network) if store is not None else None

    def info(self, names: Optional[List[str]] = None, log_lines: int = 20) -> List[Dict[str, Any]]:
        """The records of ``names`` (every container when None) that exist, by name. Reads only."""
        containers = self._containers(create=False)
        if containers is None:
            return []
        wanted = containers.names() if names is None else [check_name(n) for n in names]
        found = (containers.info(name, log_lines) for name in wanted)
        return [record for record in found if record is not None]

    def exec(self, name: str, argv: List[str], **options: Any) -> ExecResult:
        """Run ``argv`` in the running container ``name`` (options: those of exec_in_container)."""
        containers = self._containers(create=False)
        if containers is None:
            raise ContainerError("no container %s: there is no store at %s" % (check_name(name), self.images.storage_root))
        from .exec import exec_in_container
        return exec_in_container(containers, name, argv, **options)

    def ensure(self, params: Dict[str, Any], log_lines: int = 20, early: Optional[MonitorLaunch] = None) -> Outcome:
        """Bring the container of ``params`` (oci_container's options) to its state. ``early``:
        a monitor that monitoring.early_monitor launched for these params before the engine was
        imported (launched here when not given); closed in the end, unused or not."""
        try:
            name = check_name(params["name"])
            state = params.get("state") or "started"
            if state not in STATES:
                raise ContainerError("state must be one of %s, not %r" % (", ".join(STATES), state))
            if early is None:
                from .monitoring import early_monitor
                early = early_monitor(self.images.storage_root, self.images.run_root, params, self.check_mode)
            containers = self._containers()
            if containers is None or self.check_mode:
                return self._ensure(containers, name, state, params, log_lines)
            with containers.lock(name):
                return self._ensure(containers, name, state, params, log_lines, early)
        finally:
            if early is not None:
                early.close()  # unused (no start after all), it leaves without a trace

    def _ensure(self, containers: Optional[Containers], name: str, state: str, params: Dict[str, Any],
                log_lines: int, early: Optional[MonitorLaunch] = None) -> Outcome:
        outcome = Outcome()
        check = self.check_mode
        if containers is not None and not check:
            outcome.actions.extend(containers.repair(name))
        record = containers.record(name) if containers is not None else None
        current_status = containers.status(name) if record is not None else {}
        status = current_status.get("state")
        current = dict(record["desired"], state=status) if record is not None else {}
        outcome.before = current
        if record is None and containers is not None and containers.damaged(name):
            return self._damaged(containers, name, state, outcome)

        if state == "absent":
            outcome.after = {}
            if record is not None:
                outcome.changed = True
                if check:
                    outcome.actions.append("would remove container %s" % name)
                else:
                    outcome.actions.extend(containers.remove(name))
            outcome.values["container"] = None
            return outcome

        desired = self._desired(params, record, outcome)
        fields = differences(record["desired"], desired) if record is not None else []
        update = record is not None and in_place(record["desired"], desired) and not params.get("recreate")
        recreate = record is None or (bool(fields) and not update) or bool(params.get("recreate"))
        verb = "would " if check else ""
        if update:
            outcome.changed = True
            if check:
                outcome.actions.append("would update container %s in place: %s" % (name, ", ".join(fields)))
            else:
                try:
                    outcome.actions.extend(containers.update(desired, self._made_from(containers, params, outcome)))
                except RuntimeCommandError as err:
                    # the runtime refused (a memory limit below what the container uses): made anew,
                    # the container runs with the limits asked for, as after any other change
                    outcome.warnings.append("container %s could not be updated in place, so it is recreated: %s"
                                            % (name, err))
                    recreate = True
        if record is not None and recreate:
            why = ("these fields changed: %s" % ", ".join(fields)) if fields else "recreate was asked for"
            outcome.actions.append("%srecreate container %s: %s" % (verb, name, why))
        # a monitor between an exit and a restart counts as running: it would restart it
        was_running = status in RUNNING or bool(current_status.get("supervised"))
        running = was_running and not recreate
        if recreate:
            outcome.changed = True
            if check:
                outcome.actions.append("would create container %s from %s" % (name, desired["image"]))
            else:
                if record is not None:
                    outcome.actions.extend(containers.remove(name))
                outcome.actions.extend(containers.create(desired, self._made_from(containers, params, outcome)))
        start = stop = False
        if state == "started":
            start = not running
            if running and params.get("force_restart"):
                stop = start = True
        elif state == "restarted":
            stop, start = running, True
        elif state == "stopped":
            # a container that exited by itself still holds its network until it is stopped
            stop = running or (containers is not None and not recreate and containers.attached(name))
        elif state == "present":
            start = recreate and was_running
        if stop or start:
            outcome.changed = True
        if check:
            for flag, word in ((stop, "stop"), (start, "start")):
                if flag:
                    outcome.actions.append("would %s container %s" % (word, name))
        else:
            if stop:
                outcome.actions.extend(containers.stop(name))
            if start:
                outcome.actions.extend(containers.start(name, early))
        info = None
        if containers is not None and not check:
            info = containers.info(name, log_lines)
        elif record is not None and not recreate:
            info = dict(containers.info(name, log_lines), config=desired)
            if start:
                info["state"] = "running"
            elif stop:
                info["state"] = "stopped"
        else:
            info = planned(desired, state)
        outcome.after = dict(desired, state=info["state"] if info else None)
        outcome.values["container"] = info
        return outcome

    def _damaged(self, containers: Containers, name: str, state: str, outcome: Outcome) -> Outcome:
        """A container whose record cannot be read: ``absent`` removes it, anything else says how."""
        record = containers.paths(name).record
        if state != "absent":
            raise ContainerError("container %s cannot be brought to %s: its record %s cannot be read; remove it "
                                 "(state: absent) and create it again" % (name, state, record))
        outcome.changed = True
        outcome.before, outcome.after = {"name": name, "state": "damaged"}, {}
        if self.check_mode:
            outcome.actions.append("would remove container %s, whose record %s cannot be read" % (name, record))
        else:
            outcome.actions.extend(containers.remove_damaged(name))
        outcome.values["container"] = None
        return outcome

    @staticmethod
    def _made_from(containers: Containers, params: Dict[str, Any], outcome: Outcome) -> Dict[str, Any]:
        """What the record keeps of the task that made or updated it (quick.py)."""
        return {FINGERPRINT: fingerprint(containers.store.root, params, outcome.image)}

    def _desired(self, params: Dict[str, Any], record: Optional[Dict[str, Any]], outcome: Outcome) -> Dict[str, Any]:
        if not params.get("image"):
            if record is None:
                raise ContainerError("container %s does not exist: image is needed to create it" % params["name"])
            return dict(record["desired"])
        pull = params.get("pull") or "missing"
        # an image the store holds as asked is read from its files: the image service (image.ops
        # and the registry configuration, which a module compiles on every run) only pulls or unpacks
        pulled = present_in_store(self.images.storage_root, params["image"], pull)
        if pulled is None:
            pulled = self.images.present(params["image"], pull=pull)
        outcome.actions.extend(pulled.actions)
        outcome.warnings.extend(pulled.warnings)
        outcome.image = pulled.image
        if pulled.changed:
            outcome.changed = True
        image = pulled.resolved
        return normalize(params, image.config, pulled.image["name"], pulled.after["digest"])


def container_options(params: Dict[str, Any]) -> Dict[str, Any]:
    """The module's options that describe the container (what normalize() reads)."""
    return {k: params.get(k) for k in CONTAINER_OPTIONS}
