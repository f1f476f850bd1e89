# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""System containers: install, update, rollback, uninstall and info, as ``atomic install
--system`` did, for the ``system_container`` module to call.

An install or update checks the image out into a free slot, renders its files there, copies
its host files, writes ``info``, puts the units and tmpfiles entries on the host, flips the
``NAME`` link, then asks systemd (through ``Systemd``, the one seam) to reload, create the
tmpfiles entries, enable and start; a unit that was running is restarted, one that was not
is left alone. Nothing changed (same digest, same rendered files and values) means no
change. Check mode renders into a temporary checkout, removed before returning, and asks
systemd only whether units are active. Each slot holds its image in the store
(storage/holds.py, owner ``system:NAME.N``) while it exists.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from ..common.fileutil import atomic_write, makedirs_private
from ..image.outcome import Outcome
from ..storage.layers import LayerStore
from ..storage.mounts import MountManager
from ..storage.trees import remove_tree
from .deployments import ROOTFS, SLOTS, Deployments, default_system_root
from .errors import SystemContainerError
from .exports import read_exports
from .hostfiles import install_host_files, remove_host_files
from .listen import parse_listen
from .names import check_name
from .render import CONFIG, ImageFacts, Options, Rendered, render, service_file, socket_file, tmpfiles_file
from .systemd import Systemd
from .units import Dependencies

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

UNIT_DIR = "etc/systemd/system"
TMPFILES_DIR = "etc/tmpfiles.d"
PULL_POLICIES = ("missing", "newer", "always", "never")


def owner_of(name: str, slot: int) -> str:
    return "system:%s.%d" % (name, slot)


def options_from(params: Dict[str, Any]) -> Options:
    """Module options -> checked Options."""
    name = check_name(params.get("name"))
    image = params.get("image")
    if image is not None and not isinstance(image, str):
        raise SystemContainerError("image must be an image reference, not %r" % (image,))
    values = params.get("values") or {}
    if not isinstance(values, dict):
        raise SystemContainerError("values must be a dictionary of NAME: value, not %r" % (values,))
    network = params.get("network") or "host"
    return Options(name=name, image=image or "", values=dict(values), deps=Dependencies.from_options(params),
                   listen=parse_listen(params.get("listen")), network=network)


class SystemContainers:
    def __init__(self, images: Any, system_root: Optional[str] = None, host_root: str = "/",
                 systemd: Optional[Systemd] = None, runtime: str = "runc"):
        self.images = images
        self.check_mode = bool(images.check_mode)
        self.deployments = Deployments(system_root or default_system_root(images.storage_root))
        self.host_root = os.path.abspath(host_root)
        self.systemd = systemd or Systemd()
        self.runtime = runtime

    # -- paths on the host ---------------------------------------------------------------
    def unit_path(self, unit: str) -> str:
        return os.path.join(self.host_root, UNIT_DIR, unit)

    def tmpfiles_path(self, name: str) -> str:
        return os.path.join(self.host_root, TMPFILES_DIR, "%s.conf" % name)

    def _runtime_path(self) -> str:
        if os.path.isabs(self.runtime):
            return self.runtime
        found = (shutil.which(self.runtime)
                 or shutil.which(self.runtime, path="/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"))
        if not found:
            raise SystemContainerError("the OCI runtime %s is not installed (Debian package runc)" % self.runtime)
        return found

    # -- the image --------------------------------------------------------------------
    def _mounts(self) -> MountManager:
        store = self.images.store(create=not self.check_mode)
        if store is None:
            raise SystemContainerError("there is no store at %s" % self.images.storage_root)
        return MountManager(store, self.images.run_root)

    def _image(self, options: Options, pull: str, source: Optional[str], outcome: Outcome) -> Optional[ImageFacts]:
        if pull not in PULL_POLICIES:
            raise SystemContainerError("pull must be one of %s, not %r" % (", ".join(PULL_POLICIES), pull))
        pulled = self.images.present(options.image, pull=pull, source=source)
        outcome.actions.extend(pulled.actions)
        outcome.warnings.extend(pulled.warnings)
        outcome.image = pulled.image
        if self.check_mode and pulled.changed:
            return None  # not in the store yet: nothing to check out and render
        return ImageFacts(name=pulled.image["name"], digest=pulled.after["digest"], image_id=pulled.image["id"],
                          config=pulled.resolved.config)

    def _layer_dirs(self, mounts: MountManager, image: ImageFacts) -> List[str]:
        dummy, dummy2, diff_ids = mounts.image_layers(image.name)
        layers = LayerStore(mounts.store)
        return [layers.diff_dir(d) for d in diff_ids]

    # -- state ------------------------------------------------------------------------
    def _current(self, name: str) -> Tuple[Optional[int], Optional[Dict[str, Any]]]:
        active = self.deployments.active(name)
        return active, self.deployments.info(name, active) if active is not None else None

    def _slot_files(self, name: str, slot: int, info: Dict[str, Any]) -> Dict[str, str]:
        files = {}
        for filename in info.get("files", []):
            text = self.deployments.read_file(name, slot, filename)
            if text is not None:
                files[filename] = text
        return files

    @staticmethod
    def _view(info: Optional[Dict[str, Any]], files: Dict[str, str]) -> Dict[str, Any]:
        """The --diff view of a deployment."""
        if info is None:
            return {}
        view = {"image": info.get("image"), "digest": info.get("digest"), "values": info.get("values", {})}
        view.update(files)
        return view

    def _is_running(self, units: List[str]) -> bool:
        return any(self.systemd.is_active(unit) for unit in units)

    def _require_systemd(self) -> List[str]:
        """Outside check mode, fail before anything is done unless systemd is the init system; in
        check mode, the warnings that say what the plan then assumed."""
        if self.systemd.booted():
            return []
        if not self.check_mode:
            self.systemd.require_booted()
        return ["systemd is not the init system here: every unit reads as inactive and disabled in this plan, "
                "and a run outside check mode would fail"]

    # -- install / update ---------------------------------------------------------------
    def install(self, params: Dict[str, Any], start: bool = False, enabled: Optional[bool] = True,
                pull: str = "missing", source: Optional[str] = None) -> Outcome:
        """Install ``params`` (name, image, values, dependency options, listen, network), or
        update the installed one to them; then start (``start``) and enable or disable
        (``enabled``; None leaves it)."""
        options = options_from(params)
        if not options.image:
            raise SystemContainerError("image is needed to install system container %s" % options.name)
        warnings = self._require_systemd()
        if self.check_mode:
            outcome = self._install(options, start, enabled, pull, source)
        else:
            # the store first: it is made only in an empty directory, and the default system_root is in it
            self.images.store(create=True)
            with self.deployments.lock(options.name):
                outcome = self._install(options, start, enabled, pull, source)
        outcome.warnings[:0] = warnings
        return outcome

    def _install(self, options: Options, start: bool, enabled: Optional[bool], pull: str,
                 source: Optional[str]) -> Outcome:
        name = options.name
        outcome = Outcome()
        active, info = self._current(name)
        outcome.before = self._view(info, self._slot_files(name, active, info) if info else {})
        image = self._image(options, pull, source, outcome)
        if image is None:
            outcome.changed = True
            outcome.actions.append("would %s system container %s from %s" % ("update" if info else "install", name,
                                                                             options.image))
            outcome.after = {"image": options.image, "digest": None}
            return outcome
        mounts = self._mounts()
        runtime = self._runtime_path()
        previous = (info or {}).get("values")
        if info is not None and info.get("digest") == image.digest:
            # same image: render for the active slot, compare with what it holds
            slot_dir = self.deployments.slot_dir(name, active)
            same = render(options, image, os.path.join(slot_dir, ROOTFS), slot_dir, runtime, previous)
            if self._unchanged(info, same, name, active):
                outcome.after = dict(outcome.before)
                outcome.warnings.extend(same.warnings)
                self._converge(same.main_unit(name), start, enabled, outcome)
                outcome.values["system_container"] = self._describe(name)
                return outcome
        slot = 0 if active is None else 1 - active
        outcome.changed = True
        verb = "update" if info is not None else "install"
        if self.check_mode:
            rendered = self._render_temporary(options, image, mounts, slot, runtime, previous)
            outcome.after = self._view(self._info(options, image, rendered, {}, []), rendered.files)
            outcome.warnings.extend(rendered.warnings)
            outcome.actions.append("would %s system container %s from %s (%s) in %s" % (
                verb, name, image.name, image.digest, self.deployments.slot_dir(name, slot)))
            main = rendered.main_unit(name)
            if main and enabled is not None and (info is None or self.systemd.is_enabled(main) != enabled):
                outcome.actions.append("would %s %s" % ("enable" if enabled else "disable", main))
            if main and start:
                outcome.actions.append("would start %s" % main)
            outcome.values["system_container"] = None
            return outcome
        rendered = self._deploy(options, image, mounts, slot, runtime, previous, info, outcome)
        outcome.after = self._view(self.deployments.info(name, slot), rendered.files)
        outcome.actions.append("%s system container %s from %s (%s) in %s" % (
            {"install": "installed", "update": "updated"}[verb], name, image.name, image.digest,
            self.deployments.slot_dir(name, slot)))
        self._converge(rendered.main_unit(name), start, enabled, outcome)
        outcome.values["system_container"] = self._describe(name)
        return outcome

    def _unchanged(self, info: Dict[str, Any], rendered: Rendered, name: str, slot: int) -> bool:
        """The options show in the rendered files and values: equal ones are no change."""
        return (info.get("values") == rendered.values and sorted(info.get("files", [])) == sorted(rendered.files)
                and self._slot_files(name, slot, info) == rendered.files)

    def _render_temporary(self, options: Options, image: ImageFacts, mounts: MountManager, slot: int, runtime: str,
                          previous: Optional[Dict[str, str]]) -> Rendered:
        """Check mode: render from a checkout in the store's temporary directory, removed after."""
        makedirs_private(mounts.store.tmp)
        temp = tempfile.mkdtemp(prefix=".tmp-system-", dir=mounts.store.tmp)
        try:
            rootfs = os.path.join(temp, ROOTFS)
            self.deployments.checkout(self._layer_dirs(mounts, image), rootfs)
            return render(options, image, rootfs, self.deployments.slot_dir(options.name, slot), runtime, previous)
        finally:
            remove_tree(temp)

    def _info(self, options: Options, image: ImageFacts, rendered: Rendered, host_files: Dict[str, str],
              host_dirs: List[str]) -> Dict[str, Any]:
        return {"name": options.name, "image": image.name, "digest": image.digest, "image_id": image.image_id,
                "values": rendered.values, "options": options.describe(), "files": sorted(rendered.files),
                "units": rendered.units(options.name), "has_container_service": rendered.has_service,
                "renames": rendered.renames, "host_files": host_files, "host_dirs": host_dirs,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def _deploy(self, options: Options, image: ImageFacts, mounts: MountManager, slot: int, runtime: str,
                previous: Optional[Dict[str, str]], info: Optional[Dict[str, Any]], outcome: Outcome) -> Rendered:
        name = options.name
        slot_dir = self.deployments.prepare_slot(name, slot)
        try:
            mounts.hold(image.name, owner_of(name, slot), slot_dir)
            self.deployments.checkout(self._layer_dirs(mounts, image), os.path.join(slot_dir, ROOTFS))
            rendered = render(options, image, os.path.join(slot_dir, ROOTFS), slot_dir, runtime, previous)
            for filename, text in rendered.files.items():
                atomic_write(os.path.join(slot_dir, filename), text.encode("utf-8"), 0o644)
        except BaseException:
            # nothing on the host or in systemd yet: the slot goes, the active one is untouched
            remove_tree(slot_dir)
            mounts.unhold(owner_of(name, slot))
            raise
        outcome.warnings.extend(rendered.warnings)
        was_running = info is not None and self._is_running(info.get("units", []))
        if info is not None:
            outcome.warnings.extend(remove_host_files(self.host_root, info.get("host_files", {}),
                                                      info.get("host_dirs", [])))
        host_files, host_dirs, skipped = install_host_files(os.path.join(slot_dir, ROOTFS), rendered.exports.hostfs,
                                                            rendered.renames, self.host_root)
        outcome.warnings.extend(skipped)
        self.deployments.write_info(name, slot, self._info(options, image, rendered, host_files, host_dirs))
        self._activate(name, slot, rendered.files, was_running, outcome, (info or {}).get("units", []))
        return rendered

    def _put_host_units(self, name: str, files: Dict[str, str]) -> None:
        """The slot's units and tmpfiles entries on the host; those it has not, removed."""
        for unit in (service_file(name), socket_file(name)):
            path = self.unit_path(unit)
            if unit in files:
                makedirs_private(os.path.dirname(path), 0o755)
                atomic_write(path, files[unit].encode("utf-8"), 0o644)
            elif os.path.lexists(path):
                os.unlink(path)
        path = self.tmpfiles_path(name)
        if tmpfiles_file(name) in files:
            makedirs_private(os.path.dirname(path), 0o755)
            atomic_write(path, files[tmpfiles_file(name)].encode("utf-8"), 0o644)
        elif os.path.lexists(path):
            os.unlink(path)

    def _retire_units(self, name: str, old_units: List[str], files: Dict[str, str], outcome: Outcome) -> Optional[str]:
        """Before a deployment with other units replaces one: a unit it no longer has is
        stopped and disabled while its file is still there; when the unit to enable moves
        (a socket added or dropped), the enablement moves with it: the unit to enable is returned."""
        new_units = [u for u in (service_file(name), socket_file(name)) if u in files]
        old_main = old_units[-1] if old_units else None
        new_main = new_units[-1] if new_units else None
        move = old_main is not None and old_main != new_main and self.systemd.is_enabled(old_main)
        for unit in reversed(old_units):
            if unit in new_units and unit != old_main:
                continue
            if unit not in new_units and self.systemd.is_active(unit):
                self.systemd.stop(unit)
                outcome.actions.append("stopped %s" % unit)
            if (unit == old_main and move) or (unit not in new_units and self.systemd.is_enabled(unit)):
                self.systemd.disable(unit)
                outcome.actions.append("disabled %s" % unit)
        return new_main if move else None

    def _activate(self, name: str, slot: int, files: Dict[str, str], was_running: bool, outcome: Outcome,
                  old_units: Optional[List[str]] = None) -> None:
        """Units on the host, the link flipped, systemd told; a unit that ran is restarted."""
        enable = self._retire_units(name, old_units or [], files, outcome)
        self._put_host_units(name, files)
        self.deployments.flip(name, slot)
        self.systemd.daemon_reload()
        if tmpfiles_file(name) in files:
            self.systemd.tmpfiles_create(self.tmpfiles_path(name))
        if enable is not None:
            self.systemd.enable(enable)
            outcome.actions.append("enabled %s" % enable)
        if was_running:
            for unit in (socket_file(name), service_file(name)):
                if unit in files:
                    self.systemd.restart(unit)
                    outcome.actions.append("restarted %s" % unit)

    def _converge(self, main: Optional[str], start: bool, enabled: Optional[bool], outcome: Outcome) -> None:
        if main is None:
            return
        verb = "would " if self.check_mode else ""
        if enabled is not None and self.systemd.is_enabled(main) != enabled:
            outcome.changed = True
            if not self.check_mode:
                (self.systemd.enable if enabled else self.systemd.disable)(main)
            outcome.actions.append("%s%s %s" % (verb, "enable" if enabled else "disable", main))
        if start and not self.systemd.is_active(main):
            outcome.changed = True
            if not self.check_mode:
                self.systemd.start(main)
            outcome.actions.append("%sstart %s" % (verb, main))

    # -- running -----------------------------------------------------------------------
    def set_running(self, name: str, running: Optional[bool], enabled: Optional[bool] = None) -> Outcome:
        """Start or stop (``running``; None leaves it) the installed system container's main unit
        (its socket, if it has one: stopping then stops the service too), and enable or disable
        it (``enabled``; None leaves it)."""
        name = check_name(name)
        outcome = Outcome()
        dummy, info = self._current(name)
        if info is None:
            raise SystemContainerError("system container %s is not installed" % name)
        outcome.warnings.extend(self._require_systemd())
        units = info.get("units", [])
        self._converge(units[-1] if units else None, bool(running), enabled, outcome)
        if running is not False:
            return outcome
        for unit in reversed(units):  # the socket first, or it would start the service again
            if self.systemd.is_active(unit):
                outcome.changed = True
                if not self.check_mode:
                    self.systemd.stop(unit)
                outcome.actions.append("%sstop %s" % ("would " if self.check_mode else "", unit))
        return outcome

    # -- rollback ---------------------------------------------------------------------
    def rollback(self, name: str) -> Outcome:
        name = check_name(name)
        if self.check_mode or self.deployments.active(name) is None:  # nothing to lock: _rollback says so
            return self._rollback(name)
        with self.deployments.lock(name):
            return self._rollback(name)

    def _rollback(self, name: str) -> Outcome:
        outcome = Outcome()
        active, info = self._current(name)
        if info is None:
            raise SystemContainerError("system container %s is not installed: nothing to roll back" % name)
        other = 1 - active
        target = self.deployments.info(name, other)
        if target is None:
            raise SystemContainerError("system container %s has no previous deployment to roll back to (%s holds "
                                       "none)" % (name, self.deployments.slot_dir(name, other)))
        outcome.before = self._view(info, self._slot_files(name, active, info))
        if info.get("rolled_back"):
            # rollback is a state: the previous deployment is active, until an install replaces it
            outcome.after = dict(outcome.before)
            outcome.values["system_container"] = self._describe(name)
            return outcome
        files = self._slot_files(name, other, target)
        outcome.after = self._view(target, files)
        outcome.warnings.extend(self._require_systemd())
        outcome.changed = True
        if self.check_mode:
            outcome.actions.append("would roll system container %s back to %s (%s)"
                                   % (name, target.get("image"), target.get("digest")))
            return outcome
        was_running = self._is_running(info.get("units", []))
        outcome.warnings.extend(remove_host_files(self.host_root, info.get("host_files", {}), info.get("host_dirs", [])))
        rootfs = os.path.join(self.deployments.slot_dir(name, other), ROOTFS)
        host_files, host_dirs, skipped = install_host_files(rootfs, read_exports(rootfs).hostfs,
                                                            target.get("renames", {}), self.host_root)
        outcome.warnings.extend(skipped)
        self.deployments.write_info(name, other, dict(target, host_files=host_files, host_dirs=host_dirs,
                                                      rolled_back=True))
        self._activate(name, other, files, was_running, outcome, info.get("units", []))
        outcome.actions.append("rolled system container %s back to %s (%s)"
                               % (name, target.get("image"), target.get("digest")))
        outcome.values["system_container"] = self._describe(name)
        return outcome

    # -- uninstall --------------------------------------------------------------------
    def uninstall(self, name: str) -> Outcome:
        name = check_name(name)
        if self.check_mode or not self._exists(name):  # nothing to lock (and no lock file made)
            return self._uninstall(name)
        with self.deployments.lock(name):
            return self._uninstall(name)

    def _exists(self, name: str) -> bool:
        """Whether anything of system container ``name`` is there: its link or a slot."""
        return os.path.lexists(self.deployments.link(name)) or any(
            os.path.lexists(self.deployments.slot_dir(name, s)) for s in SLOTS)

    def _uninstall(self, name: str) -> Outcome:
        outcome = Outcome()
        active, info = self._current(name)
        if info is None and not self._exists(name):
            return outcome
        outcome.changed = True
        outcome.before = self._view(info, self._slot_files(name, active, info) if info else {})
        outcome.warnings.extend(self._require_systemd())
        if self.check_mode:
            outcome.actions.append("would uninstall system container %s" % name)
            return outcome
        units = (info or {}).get("units", [])
        for unit in reversed(units):
            if self.systemd.is_active(unit):
                self.systemd.stop(unit)
                outcome.actions.append("stopped %s" % unit)
            if os.path.lexists(self.unit_path(unit)):
                self.systemd.disable(unit)
        tmpfiles = self.tmpfiles_path(name)
        if os.path.lexists(tmpfiles):
            self.systemd.tmpfiles_remove(tmpfiles)
            os.unlink(tmpfiles)
        for unit in (service_file(name), socket_file(name)):
            if os.path.lexists(self.unit_path(unit)):
                os.unlink(self.unit_path(unit))
        self.systemd.daemon_reload()
        if info is not None:
            outcome.warnings.extend(remove_host_files(self.host_root, info.get("host_files", {}),
                                                      info.get("host_dirs", [])))
        self.deployments.remove(name)
        mounts = self._mounts()
        for slot in SLOTS:
            mounts.unhold(owner_of(name, slot))
        outcome.actions.append("uninstalled system container %s" % name)
        return outcome

    # -- info -------------------------------------------------------------------------
    def _describe(self, name: str) -> Optional[Dict[str, Any]]:
        active, info = self._current(name)
        if info is None:
            return None
        deployments = []
        for slot in SLOTS:
            record = self.deployments.info(name, slot)
            if record is not None:
                deployments.append({"slot": slot, "image": record.get("image"), "digest": record.get("digest"),
                                    "created": record.get("created"), "active": slot == active})
        units = info.get("units", [])
        return {"name": name, "image": info.get("image"), "digest": info.get("digest"), "image_id": info.get("image_id"),
                "active_slot": active, "directory": self.deployments.slot_dir(name, active),
                "values": info.get("values", {}), "options": info.get("options", {}), "units": units,
                "host_files": sorted(info.get("host_files", {})), "deployments": deployments,
                "rolled_back": bool(info.get("rolled_back")),
                "active": {unit: self.systemd.is_active(unit) for unit in units},
                "enabled": {unit: self.systemd.is_enabled(unit) for unit in units}, "config": CONFIG}

    def info(self, names: Optional[List[str]] = None) -> List[Dict[str, Any]]:
        wanted = self.deployments.names() if names is None else [check_name(n) for n in names]
        found = (self._describe(name) for name in wanted)
        return [record for record in found if record is not None]
