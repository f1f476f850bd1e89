# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ``system_container`` module asks, mapped onto SystemContainers: the states
present/started/stopped/absent and ``rollback`` onto install, set_running, rollback and
uninstall; contradictory options refused before anything is done; and the ``--diff`` of a
deployment as one text per file, so that a unit's change reads as a unified diff."""

from __future__ import annotations

import json

from ..image.outcome import Outcome
from .errors import SystemContainerError
from .names import check_name
from .service import SystemContainers
from .units import INSTALL_OPTIONS, UNIT_OPTIONS

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

STATES = ("present", "started", "stopped", "absent")
#: the options that say what is deployed: rollback and absent take none of them
DEPLOYMENT_OPTIONS = ("image", "values", "listen", "network") + UNIT_OPTIONS + INSTALL_OPTIONS
RECORD_KEYS = ("image", "digest", "values")


def _given(params: Dict[str, Any], key: str) -> bool:
    value = params.get(key)
    return value is not None and value != [] and value != {}


def check_request(params: Dict[str, Any]) -> None:
    """Contradictory options are an error that names them, before anything is read or done."""
    check_name(params.get("name"))
    state = params.get("state") or "started"
    if state not in STATES:
        raise SystemContainerError("state must be one of %s, not %r" % (", ".join(STATES), state))
    given = [key for key in DEPLOYMENT_OPTIONS if _given(params, key)]
    if params.get("rollback"):
        if state == "absent":
            raise SystemContainerError("rollback and state=absent contradict each other: rollback keeps the system "
                                       "container (on its previous deployment), absent removes it")
        if given:
            raise SystemContainerError("rollback returns to the previous deployment as it was installed (its image, "
                                       "values and units); it takes no %s" % ", ".join(given))
    elif state == "absent" and given:
        raise SystemContainerError("state=absent removes the system container; %s describe%s what to deploy and "
                                   "cannot go with it" % (", ".join(given), "s" if len(given) == 1 else ""))


def ensure(engine: SystemContainers, params: Dict[str, Any]) -> Outcome:
    """Bring system container ``params["name"]`` to what ``params`` (the module's options) ask."""
    check_request(params)
    name = params["name"]
    state = params.get("state") or "started"
    enabled = params.get("enabled")
    running = {"started": True, "stopped": False}.get(state)
    if state == "absent":
        outcome = engine.uninstall(name)
    elif params.get("rollback"):
        outcome = engine.rollback(name)
        outcome.merge(engine.set_running(name, running, enabled))
    elif params.get("image"):
        outcome = engine.install(params, start=running is True, enabled=enabled, pull=params.get("pull") or "missing")
        if running is False and engine.info([name]):  # in check mode, one that would be installed is not yet
            outcome.merge(engine.set_running(name, False))
    else:
        if not engine.info([name]):
            raise SystemContainerError("system container %s is not installed: give image to install it" % name)
        outcome = engine.set_running(name, running, enabled)
    found = engine.info([name])
    outcome.values["system_container"] = found[0] if found else None
    return outcome


def _record_text(view: Dict[str, Any]) -> str:
    if not view:
        return ""
    lines = ["%s: %s" % (key, view.get(key)) for key in RECORD_KEYS[:2]]
    lines.append("values:")
    lines.extend("  %s: %s" % (key, json.dumps(value) if not isinstance(value, str) else value)
                 for key, value in sorted((view.get("values") or {}).items()))
    return "\n".join(lines) + "\n"


def diff_list(name: str, before: Dict[str, Any], after: Dict[str, Any]) -> List[Dict[str, str]]:
    """The Outcome's before/after as Ansible diffs: the image, digest and values as one text,
    then each rendered file (units, config.json, tmpfiles entries) as a text of its own."""
    diffs = [{"before_header": "system container %s" % name, "after_header": "system container %s" % name,
              "before": _record_text(before), "after": _record_text(after)}]
    files = sorted(k for k in set(before) | set(after) if k not in RECORD_KEYS)
    for filename in files:
        old: Optional[str] = before.get(filename)
        new: Optional[str] = after.get(filename)
        if old == new:
            continue
        diffs.append({"before_header": filename if old is not None else "%s (none)" % filename,
                      "after_header": filename if new is not None else "%s (none)" % filename,
                      "before": old or "", "after": new or ""})
    return diffs
