# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The limits an OCI runtime changes in a running container (``runc update``, ``crun update``).

Of the fields of the normalised container (options.normalize), three are cgroup limits that
the runtime's ``update`` writes to the container's cgroups without a restart:

============  =========================================  ==============================
field         config.json ``linux.resources``            ``update`` flags
============  =========================================  ==============================
memory        ``memory.limit``                           ``--memory`` (-1: no limit)
cpus          ``cpu.quota`` / ``cpu.period``             ``--cpu-quota`` (-1: no limit),
                                                         ``--cpu-period``
pids_limit    ``pids.limit``                             ``--pids-limit`` (-1: no limit)
============  =========================================  ==============================

Every other field (ulimits among them: rlimits belong to the process, not the cgroup) is
fixed when the container is created, so a change to it recreates the container; so does
lifting a cpus or pids_limit of a crun container (CRUN_CANNOT_LIFT). Nothing here touches
the host."""

from __future__ import annotations

import os

from .options import differences
from .spec import CPU_PERIOD, cpu_quota

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List

#: the fields of the normalised container that ``update`` changes in place
IN_PLACE = ("cpus", "memory", "pids_limit")
NO_LIMIT = "-1"
#: limits that crun 1.8's ``update`` cannot lift: it writes -1 to pids.max as is (EINVAL), and
#: cgroup v1's cpu.cfs_quota_us refuses its -1 (ERANGE); runc writes ``max`` and -1
CRUN_CANNOT_LIFT = ("cpus", "pids_limit")


def in_place(current: Dict[str, Any], desired: Dict[str, Any]) -> bool:
    """Whether the container ``current`` (its recorded normalised container) is brought to
    ``desired`` without recreating it: some fields differ, each is a limit of IN_PLACE, and
    the runtime can set each new value (a limit crun cannot lift recreates)."""
    fields = differences(current, desired)
    if not fields or any(field not in IN_PLACE for field in fields):
        return False
    if os.path.basename(str(desired.get("runtime"))) == "crun":
        return not any(desired[field] is None for field in fields if field in CRUN_CANNOT_LIFT)
    return True


def update_arguments(current: Dict[str, Any], desired: Dict[str, Any]) -> List[str]:
    """The runtime's ``update`` flags that set each limit of IN_PLACE that differs between
    ``current`` and ``desired`` (one that is no longer set is lifted: -1); the others are
    left as they are."""
    fields = differences(current, desired)
    arguments: List[str] = []
    if "memory" in fields:
        memory = desired["memory"]
        arguments += ["--memory", str(memory) if memory is not None else NO_LIMIT]
    if "cpus" in fields:
        cpus = desired["cpus"]
        arguments += ["--cpu-period", str(CPU_PERIOD), "--cpu-quota",
                      str(cpu_quota(cpus)) if cpus is not None else NO_LIMIT]
    if "pids_limit" in fields:
        pids = desired["pids_limit"]
        arguments += ["--pids-limit", str(pids) if pids is not None else NO_LIMIT]
    return arguments
