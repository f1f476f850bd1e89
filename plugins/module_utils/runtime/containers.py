# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containers of one store: their files, lifecycle and state.

Layout
------
Persistent, under the store (survives a reboot)::

    containers/NAME/container.json   the normalised desired container, written last: a
                                     directory without it is a create that was cut short
    containers/NAME/bundle/          config.json, rootfs/ (the overlay mount), etc files
    containers/NAME/overlay/         upper/ and work/ of the rootfs overlay
    containers/NAME/logs/            container.log (+ .1), written by the monitor
    volumes/VOLUME/_data             named volumes, and anonymous ones for image Volumes
    locks/container-NAME.lock        one lock per container name

Runtime, under run_root (tmpfs: empty after a reboot, when every container reads as
stopped and ``start`` mounts its rootfs again)::

    containers/NAME/state.json       written by the monitor (monitor.py)
    containers/NAME/stop             a stop was asked for: the monitor does not restart
    containers/NAME/events           the runs of a systemd unit (systemd.py, systemd_units.py)
    containers/NAME/network/         network.json and etc/ (hosts, resolv.conf) of network.lifecycle
    netns/NAME, cni/                 the container's network namespace, IPAM leases (network/)
    runc/                            the OCI runtime's own --root

A started container is held by this host's supervisor (supervisor.py): a monitor process, or
a systemd unit when systemd is PID 1; its record names which. The network is attached at
start: its namespace and /etc files before the supervisor runs the runtime (the config.json
names the namespace and bind-mounts the files), the bridge's CNI ADD while the runtime
creates the container and before it starts it, so that it survives the supervisor's restarts;
it is detached at stop and removal. After a reboot start attaches it again.

The rootfs is mounted through storage.mounts (owner ``container:NAME``), and the image is held
(storage.holds, persistent, while containers/NAME exists), so removing or pruning the image is
refused, naming the container, while the container exists, mounted or not (after a reboot).
"""

from __future__ import annotations

import contextlib
import json
import os
import time

from ..common.fileutil import atomic_write, makedirs_private
from ..common.locks import FileLock
from ..model.digest import name_digest
from ..storage.mounts import MountManager
from ..storage.rootfs import resolve_in_root
from ..storage.store import Store
from ..storage.trees import remove_tree
from .destinations import check_path, contain_mounts
from .errors import ContainerError
from .limits import update_arguments
from .network import lifecycle
from .network.netns import netns_dir
from .network.plan import DEFAULT_NETWORK, BridgeNetwork, NetworkPlan, plan_network
from .network.state import ETC_DIR, NetworkState
from .options import check_name, differences
from .monitoring import KILL_GRACE, MonitorLaunch, MonitorSupervisor, settle
from .records import LOG_MAX, RECORD, ContainerPaths, read_info, read_json, read_network_state, read_status
from .runc import OCIRuntime
from .spec import apply_network, base_mounts, build_spec, with_resources
from .supervisor import SYSTEMD, StartSteps, Supervisor, systemd_booted
from .users import resolve_user

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple


def supervisor_named(kind: str) -> Supervisor:
    if kind == SYSTEMD:
        from .systemd import SystemdSupervisor  # here: a host without systemd never needs it
        return SystemdSupervisor()
    if kind == MonitorSupervisor.kind:
        return MonitorSupervisor()
    raise ContainerError("unknown container supervisor %r" % kind)


def choose_supervisor() -> Supervisor:
    """systemd units when systemd is PID 1, else the per-container monitor (supervisor.py)."""
    return supervisor_named(SYSTEMD if systemd_booted() else MonitorSupervisor.kind)


def owner_of(name: str) -> str:
    return "container:%s" % name


def volume_name(container: str, target: str) -> str:
    return "%s-%s" % (container, name_digest(target.encode())[:12])


def check_in_rootfs(rootfs: str, desired: Dict[str, Any]) -> None:
    """Refuse a working directory or volume path that resolves (symlinks followed inside the
    rootfs) into /proc, /sys or /dev (destinations.check_path), before anything is seeded."""
    checks = [("working_dir", desired["working_dir"])]
    checks += [("volume", m["target"]) for m in desired["volumes"] + desired["mounts"] + desired["tmpfs"]]
    checks += [("image volume", t) for t in desired["image_volumes"]]
    for what, path in checks:
        check_path(rootfs, what, path)


class Containers:
    """The containers of ``store`` with runtime state under ``run_root``."""

    def __init__(self, store: Store, run_root: str, log_max: int = LOG_MAX, bridge: BridgeNetwork = DEFAULT_NETWORK,
                 cni_path: Sequence[str] = lifecycle.DEFAULT_CNI_PATH, supervisor: Optional[Supervisor] = None):
        self.store = store
        self.supervisor = supervisor or choose_supervisor()
        self.log_max = log_max
        self.bridge = bridge
        self.cni_path = tuple(cni_path)
        self.run_root = os.path.abspath(run_root)
        self.mounts = MountManager(store, self.run_root)
        self.volumes_root = os.path.join(store.root, "volumes")

    def cgroups_path(self, name: str) -> str:
        """``/undock/<store>-NAME``: containers of two stores may share a name, never a cgroup."""
        return "/undock/%s-%s" % (name_digest(self.store.root.encode())[:8], name)

    def cni_id(self, name: str) -> str:
        """The container's ID for CNI: ``NAME-<store>``, for the bridge's leases and rules are
        host-wide and two stores may both have a container NAME."""
        store = name_digest(self.store.root.encode())[:8]
        return "%s-%s" % (name, store) if len(name) <= 119 else name_digest((store + name).encode())

    def paths(self, name: str) -> ContainerPaths:
        return ContainerPaths(self.store.root, self.run_root, name)

    def runtime(self, name: str) -> OCIRuntime:
        return OCIRuntime(name, os.path.join(self.run_root, "runtime", os.path.basename(name)))

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        check_name(name)
        makedirs_private(self.store.locks)
        with FileLock(os.path.join(self.store.locks, "container-%s.lock" % name)):
            yield

    # -- reading ---------------------------------------------------------------------
    def record(self, name: str) -> Optional[Dict[str, Any]]:
        return read_json(self.paths(name).record)

    def damaged(self, name: str) -> bool:
        """Whether the container's record is there but cannot be read (a disk fault, a hand edit):
        the container may still run, and its name is taken until it is removed."""
        return self.record(name) is None and os.path.lexists(self.paths(name).record)

    def names(self) -> List[str]:
        try:
            found = os.listdir(os.path.join(self.store.root, "containers"))
        except FileNotFoundError:
            return []
        return sorted(n for n in found if os.path.exists(os.path.join(self.store.root, "containers", n, RECORD)))

    def status(self, name: str) -> Dict[str, Any]:
        """``state`` (created, running, restarting, stopped) with pid, exit code and times."""
        return read_status(self.paths(name), self.record(name))

    def info(self, name: str, log_lines: int = 20) -> Optional[Dict[str, Any]]:
        """The ``container`` return value (None when there is no such container)."""
        record = self.record(name)
        return read_info(self.paths(name), record, log_lines) if record is not None else None

    def attached(self, name: str) -> bool:
        """Whether anything of the container's network is left to detach."""
        return self.network_state(name) is not None or os.path.lexists(os.path.join(netns_dir(self.run_root), name))

    def network_state(self, name: str) -> Optional[NetworkState]:
        return read_network_state(self.paths(name))

    # -- repair ----------------------------------------------------------------------
    def repair(self, name: str) -> List[str]:
        """Clean a create that was cut short (kill -9): a directory without its record. A start
        cut short leaves a monitor deleting what it had created: waited for (monitoring.settle)."""
        paths = self.paths(name)
        settle(paths)
        if not os.path.isdir(paths.dir) or os.path.exists(paths.record):
            return []
        self._teardown(name, paths, anonymous=[])
        return ["removed the unfinished container %s (its creation was interrupted)" % name]

    # -- create ----------------------------------------------------------------------
    def create(self, desired: Dict[str, Any], made_from: Optional[Dict[str, Any]] = None) -> List[str]:
        """Make the bundle of ``desired`` (its rootfs mounted), not started; ``made_from`` is
        kept in the record (runtime/quick.py). The caller holds the lock."""
        name = desired["name"]
        paths = self.paths(name)
        actions = self.repair(name)
        if os.path.exists(paths.record):
            raise ContainerError("container %s exists already" % name)
        makedirs_private(paths.dir)
        for directory in (paths.bundle, paths.upper, paths.work, paths.logs):
            os.makedirs(directory, 0o700, exist_ok=True)
        os.chmod(paths.bundle, 0o711)
        os.chmod(paths.upper, 0o755)  # the rootfs's / takes the upper directory's mode
        anonymous: List[str] = []
        try:
            self._mount(desired, paths)
            check_in_rootfs(paths.rootfs, desired)
            user = resolve_user(paths.rootfs, desired["user"])
            volume_dirs, anonymous = self._volumes(desired, paths)
            namespace, network_files = self._planned_network(desired, paths)
            etc_files = dict(self._etc_files(desired, paths), **network_files)
            spec = build_spec(desired, user, volume_dirs, etc_files, cgroups_path=self.cgroups_path(name),
                              network_namespace=namespace)
            spec["mounts"] = contain_mounts(paths.rootfs, spec["mounts"],
                                            [m["destination"] for m in base_mounts(desired["privileged"])])
            atomic_write(paths.config, json.dumps(spec, sort_keys=True).encode(), 0o600)
            record = {"desired": desired, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "anonymous_volumes": anonymous, "started": False}
            record.update(made_from or {})
            atomic_write(paths.record, json.dumps(record, sort_keys=True).encode(), 0o600)
        except Exception:
            self._teardown(name, paths, anonymous)  # what a kill -9 would leave, repaired now
            raise
        actions.append("created container %s from %s" % (name, desired["image"]))
        return actions

    def _mount(self, desired: Dict[str, Any], paths: ContainerPaths) -> None:
        current = self.mounts.mounted(paths.rootfs)
        if current is not None and current.digest == desired["image_digest"]:
            return
        if current is not None:
            self.mounts.unmount(paths.rootfs, lazy=True)
        self.mounts.repair()
        # the mount record goes at boot; the hold keeps the image while the container's directory exists
        self.mounts.hold(desired["image"], owner_of(desired["name"]), paths.dir)
        self.mounts.mount_image(desired["image"], paths.rootfs, owner=owner_of(desired["name"]), read_only=False,
                                upper_dir=paths.upper, work_dir=paths.work, nodev_nosuid=False)

    def _volumes(self, desired: Dict[str, Any], paths: ContainerPaths):
        """Host directories of the named and anonymous volumes, made (and filled with what
        the image has at their path, as docker does) the first time."""
        dirs: Dict[str, str] = {}
        anonymous: List[str] = []
        wanted = [(m["source"], m["target"]) for m in desired["volumes"] + desired["mounts"] if m["type"] == "volume"]
        for target in desired["image_volumes"]:
            volume = volume_name(desired["name"], target)
            anonymous.append(volume)
            wanted.append((volume, target))
        for volume, target in wanted:
            data = os.path.join(self.volumes_root, volume, "_data")
            if not os.path.isdir(data):
                makedirs_private(os.path.dirname(data))
                temp = data + ".tmp"
                remove_tree(temp)
                os.mkdir(temp, 0o755)
                source = resolve_in_root(paths.rootfs, target)
                if os.path.isdir(source) and not os.path.islink(source):
                    import shutil  # here: only a new volume needs it, and the module costs every start
                    shutil.copytree(source, temp, symlinks=True, dirs_exist_ok=True)
                os.rename(temp, data)
            dirs[target] = data
        return dirs, anonymous

    def _etc_files(self, desired: Dict[str, Any], paths: ContainerPaths) -> Dict[str, str]:
        """/etc/hostname, in the bundle (/etc/hosts and resolv.conf come with the network)."""
        path = os.path.join(paths.bundle, "hostname")
        atomic_write(path, (desired["hostname"] + "\n").encode(), 0o644)
        return {"/etc/hostname": path}

    # -- network ---------------------------------------------------------------------
    def _plan(self, desired: Dict[str, Any]) -> NetworkPlan:
        plan = plan_network(desired["network"], desired.get("ports") or [], desired.get("dns") or [])
        return plan._replace(network=self.bridge) if plan.network is not None else plan

    def _planned_network(self, desired: Dict[str, Any],
                         paths: ContainerPaths) -> Tuple[Optional[Dict[str, str]], Dict[str, str]]:
        """The namespace entry and /etc files that attach will make (the config.json of a container
        that was created and not started names them already)."""
        plan = self._plan(desired)
        files = {target: os.path.join(paths.network, ETC_DIR, os.path.basename(target))
                 for target in ("/etc/hosts", "/etc/resolv.conf")}
        if plan.mode == "host":
            return None, files
        return {"type": "network", "path": os.path.join(netns_dir(self.run_root), plan.peer or desired["name"])}, files

    def prepare_network(self, desired: Dict[str, Any], paths: ContainerPaths,
                        spec: Dict[str, Any]) -> Tuple[NetworkPlan, NetworkState]:
        """Prepare the network (the caller holds the lock; lifecycle.prepare) and point the
        config.json, whose content is ``spec``, at what it made: (the plan, the state to complete)."""
        name = desired["name"]
        plan = self._plan(desired)
        self._check_plugins(name, plan)
        peer = self.paths(plan.peer).network if plan.peer else None
        state = lifecycle.prepare(name, plan, paths.network, self.run_root, hostname=desired["hostname"],
                                  peer_state_dir=peer, cni_path=self.cni_path, cni_id=self.cni_id(name))
        updated = apply_network(spec, state.spec_namespace(), state.etc_files, self._planned_network(desired, paths)[1])
        if updated != spec:
            atomic_write(paths.config, json.dumps(updated, sort_keys=True).encode(), 0o600)
        return plan, state

    def complete_network(self, desired: Dict[str, Any], paths: ContainerPaths, plan: NetworkPlan, state: NetworkState,
                         before: Optional[NetworkState]) -> List[str]:
        """The rest of prepare_network (lifecycle.complete); what it did, for the actions."""
        name = desired["name"]
        state = lifecycle.complete(state, plan, paths.network, self.run_root, hostname=desired["hostname"],
                                   cni_path=self.cni_path)
        if before is not None and before.phase == "attached" and before.options == state.options:
            return []
        where = " at %s" % state.ip_address if state.ip_address else ""
        return ["attached container %s to network %s%s" % (name, state.options["network"], where)]

    def _check_plugins(self, name: str, plan: NetworkPlan) -> None:
        """Every CNI plugin the plan runs is there, before anything is made: a host without them
        gets the package's name, and has nothing to tear down (DEL needs the plugins too)."""
        if not plan.own_netns:
            return
        if plan.network is None:  # lo is brought up without a plugin (netns.py)
            return
        from .network.cni import find_plugin  # here: a host network runs no plugin, and the module costs every start
        from .network.conflist import bridge_conflist  # here: see find_plugin
        plugins = [p["type"] for p in bridge_conflist(plan.network)["plugins"]]
        for plugin in plugins:
            find_plugin(plugin, self.cni_path, name, "ADD")

    def _detach(self, name: str, paths: ContainerPaths) -> List[str]:
        if lifecycle.detach(name, paths.network, self.run_root, cni_path=self.cni_path, network=self.bridge,
                            cni_id=self.cni_id(name)):
            return ["detached container %s from its network" % name]
        return []

    # -- update ----------------------------------------------------------------------
    def update(self, desired: Dict[str, Any], made_from: Optional[Dict[str, Any]] = None) -> List[str]:
        """Bring the container ``desired["name"]``, which differs from ``desired`` only in limits
        (limits.in_place), up to date without a restart. The caller holds the lock.

        config.json takes the new limits first, so that a restart by the monitor meanwhile, or
        any later start, runs with them; then, if the runtime has the container (created or
        running), its ``update`` writes them to the cgroups; the record comes last, so a refusal
        (RuntimeCommandError, e.g. a memory limit below what the container uses) leaves the old
        record, and the next run finds the difference again."""
        name = desired["name"]
        paths = self.paths(name)
        record = self.record(name)
        if record is None:
            raise ContainerError("container %s does not exist" % name)
        current = record["desired"]
        fields = ", ".join(differences(current, desired))
        with open(paths.config, "rb") as handle:
            spec = json.loads(handle.read())
        atomic_write(paths.config, json.dumps(with_resources(spec, desired), sort_keys=True).encode(), 0o600)
        runtime = self.runtime(desired["runtime"])
        live = (runtime.state(name) or {}).get("status") in ("created", "running", "paused")
        if live:
            runtime.update(name, update_arguments(current, desired))
        record = dict(record, desired=desired)
        record.update(made_from or {})
        atomic_write(paths.record, json.dumps(record, sort_keys=True).encode(), 0o600)
        if live:
            return ["updated container %s in place: %s" % (name, fields)]
        return ["updated container %s: %s (it is not running: they apply when it starts)" % (name, fields)]

    # -- start -----------------------------------------------------------------------
    def start(self, name: str, early: Optional[MonitorLaunch] = None) -> List[str]:
        """Start the container under this host's supervisor and wait until it runs (or has exited);
        ``early``, a monitor started ahead (service.py), holds it if this host's supervisor is the monitor."""
        paths = self.paths(name)
        record = self.record(name)
        if record is None:
            raise ContainerError("container %s does not exist" % name)
        desired = record["desired"]
        actions = []
        if self.mounts.mounted(paths.rootfs) is None:  # after a reboot
            self._mount(desired, paths)
            actions.append("mounted the rootfs of %s again" % name)
        with open(paths.config, "rb") as handle:
            spec = json.loads(handle.read())
        # the rootfs may have changed since create: check again
        contain_mounts(paths.rootfs, spec["mounts"], [m["destination"] for m in base_mounts(desired["privileged"])])
        makedirs_private(self.runtime(desired["runtime"]).root)
        makedirs_private(paths.run)
        supervisor = MonitorSupervisor(early) if early is not None and self.supervisor.kind == MonitorSupervisor.kind \
            else self.supervisor
        actions.extend(supervisor.launch(self, paths, desired, _Start(self, paths, record, spec)))
        actions.append("started container %s" % name)
        return actions

    # -- stop ------------------------------------------------------------------------
    def supervisor_of(self, record: Dict[str, Any]) -> Supervisor:
        """The supervisor that holds (or held) the container of ``record``."""
        kind = record.get("supervisor") or MonitorSupervisor.kind
        return self.supervisor if kind == self.supervisor.kind else supervisor_named(kind)

    def stop(self, name: str) -> List[str]:
        """Stop with the stop signal, SIGKILL after stop_timeout; its supervisor does not restart it."""
        paths = self.paths(name)
        record = self.record(name)
        if record is None:
            return []
        actions = self.supervisor_of(record).halt(self, paths, record["desired"], record)
        actions.extend(self._detach(name, paths))
        return actions

    # -- remove ----------------------------------------------------------------------
    def remove(self, name: str) -> List[str]:
        paths = self.paths(name)
        record = self.record(name)
        if record is None:
            return self.repair(name)
        actions = self.stop(name)
        self.supervisor_of(record).forget(paths, record)
        self._teardown(name, paths, record.get("anonymous_volumes") or [])
        actions.append("removed container %s" % name)
        return actions

    def remove_damaged(self, name: str) -> List[str]:
        """Remove a container whose record cannot be read (``damaged``): killed under this host's
        supervisor, by the runtime whose state holds it, then unmounted and removed with its network.
        Its anonymous volumes, which only the record names, are kept."""
        paths = self.paths(name)
        roots = os.path.dirname(self.runtime("runc").root)  # one root per runtime: which holds it
        held = sorted(r for r in (os.listdir(roots) if os.path.isdir(roots) else []) if os.path.isdir(os.path.join(roots, r, name)))
        stand_in = {"desired": {"name": name, "runtime": (held or ["runc"])[0], "stop_signal": "SIGKILL", "stop_timeout": KILL_GRACE}}
        actions = self.supervisor.halt(self, paths, stand_in["desired"], stand_in)
        self.supervisor.forget(paths, stand_in)
        self._teardown(name, paths, anonymous=[])
        actions.append("removed container %s, whose record %s could not be read" % (name, paths.record))
        return actions

    def _teardown(self, name: str, paths: ContainerPaths, anonymous: List[str]) -> None:
        self._detach(name, paths)
        if self.mounts.mounted(paths.rootfs) is not None:
            self.mounts.unmount(paths.rootfs, lazy=True)
        else:
            self.mounts.repair()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.record)  # first: a half-removed container reads as unfinished, not as intact
        for path in [paths.dir, paths.run] + [os.path.join(self.volumes_root, v) for v in anonymous]:
            if os.path.lexists(path):
                remove_tree(path)
        self.mounts.unhold(owner_of(name))


class _Start(StartSteps):
    """The engine's part of a start (supervisor.StartSteps): the network, then the record.

    The record says ``started`` (and names the supervisor) only once the network is attached,
    just before the container's process may run. A reader that meets a record without it while
    a monitor holds the container goes by the monitor's state (records.read_monitor_status);
    an engine that dies before it leaves a created container that its monitor deletes, and a
    network in phase ``attaching``, which the next start detaches first."""

    def __init__(self, containers: Containers, paths: ContainerPaths, record: Dict[str, Any], spec: Dict[str, Any]):
        self.containers = containers
        self.paths = paths
        self.record = record
        self.spec = spec
        self.before = containers.network_state(paths.name)
        self.network: Optional[Tuple[NetworkPlan, NetworkState]] = None

    def prepare(self) -> None:
        self.network = self.containers.prepare_network(self.record["desired"], self.paths, self.spec)

    def complete(self, fields: Dict[str, Any]) -> List[str]:
        if self.network is None:
            self.prepare()
        plan, state = self.network
        attached = self.containers.complete_network(self.record["desired"], self.paths, plan, state, self.before)
        self.record.update(fields, started=True)
        atomic_write(self.paths.record, json.dumps(self.record, sort_keys=True).encode(), 0o600)
        return attached
