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
fixed when the container is created, so a change to it recreates the container. Nothing
here touches the host."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

from .spec import CPU_PERIOD, cpu_quota

#: the fields of the normalised container that ``update`` changes in place
IN_PLACE = ("cpus", "memory", "pids_limit")
NO_LIMIT = "-1"


def in_place(fields: Sequence[str]) -> bool:
    """Whether a container whose ``fields`` differ is brought up to date without recreating it:
    some fields differ, and each is a limit of IN_PLACE."""
    return bool(fields) and all(field in IN_PLACE for field in fields)


def update_arguments(desired: Dict[str, Any]) -> List[str]:
    """The runtime's ``update`` flags that set every IN_PLACE limit of ``desired``, a limit
    that is not set included (lifted: -1), so the result does not depend on what was there."""
    memory, cpus, pids = desired["memory"], desired["cpus"], desired["pids_limit"]
    return ["--memory", str(memory) if memory is not None else NO_LIMIT,
            "--cpu-period", str(CPU_PERIOD),
            "--cpu-quota", str(cpu_quota(cpus)) if cpus is not None else NO_LIMIT,
            "--pids-limit", str(pids) if pids is not None else NO_LIMIT]
