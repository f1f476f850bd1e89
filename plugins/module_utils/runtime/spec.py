# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OCI runtime ``config.json`` of a container (runtime-spec 1.0: config.md, config-linux.md).

Input: the normalised container (options.normalize), the process user resolved from the
image, and the host directories of its volumes and per-container files (hosts,
resolv.conf, hostname). The defaults follow ``runc spec`` (its mounts, masked and
read-only paths, deny-all device rule) with docker's capability set; ``privileged``
lifts the masks, mounts /sys and cgroups read-write and allows every device.
"""

from __future__ import annotations

from .options import UNLIMITED
from .users import ProcessUser

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

OCI_VERSION = "1.0.2"
CPU_PERIOD = 100000
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
#: files written per container and bind-mounted at these paths
ETC_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def base_mounts(privileged: bool) -> List[Dict[str, Any]]:
    sys_ro = [] if privileged else ["ro"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755",
                                                                                "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev"] + sys_ro},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime"] + sys_ro},
    ]


def _bind(source: str, target: str, read_only: bool) -> Dict[str, Any]:
    return {"destination": target, "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "ro" if read_only else "rw"]}


def container_mounts(desired: Dict[str, Any], volume_dirs: Dict[str, str],
                     etc_files: Dict[str, str]) -> List[Dict[str, Any]]:
    """Every mount: the runtime's base set, the per-container /etc files, then the user's
    (shortest target first, so that a mount inside another one lands on top of it)."""
    result = base_mounts(desired["privileged"])
    for target in ETC_FILES:
        if target in etc_files:
            result.append(_bind(etc_files[target], target, False))
    user = []
    for item in desired["volumes"] + desired["mounts"]:
        if item["type"] != "tmpfs":
            source = item["source"] if item["type"] == "bind" else volume_dirs[item["target"]]
            user.append(_bind(source, item["target"], item["read_only"]))
    for item in desired["tmpfs"] + [m for m in desired["mounts"] if m["type"] == "tmpfs"]:
        options = ["nosuid", "nodev"] + [o for o in item["options"] if o not in ("nosuid", "nodev")]
        user.append({"destination": item["target"], "type": "tmpfs", "source": "tmpfs", "options": options})
    for target in desired["image_volumes"]:
        user.append(_bind(volume_dirs[target], target, False))
    user.sort(key=lambda m: (m["destination"].count("/"), m["destination"]))
    taken = {m["destination"] for m in user}
    return [m for m in result if m["destination"] not in taken] + user


def cpu_quota(cpus: float) -> int:
    """The CFS quota (in microseconds per CPU_PERIOD) of ``cpus`` CPUs."""
    return int(round(cpus * CPU_PERIOD))


def linux_resources(desired: Dict[str, Any]) -> Dict[str, Any]:
    resources: Dict[str, Any] = {}
    if desired["privileged"]:
        resources["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        resources["devices"] = [{"allow": False, "access": "rwm"}]
    if desired["memory"] is not None:
        resources["memory"] = {"limit": desired["memory"]}
    if desired["cpus"] is not None:
        resources["cpu"] = {"quota": cpu_quota(desired["cpus"]), "period": CPU_PERIOD}
    if desired["pids_limit"] is not None:
        resources["pids"] = {"limit": desired["pids_limit"]}
    return resources


def build_spec(desired: Dict[str, Any], user: ProcessUser, volume_dirs: Dict[str, str],
               etc_files: Dict[str, str], rootfs: str = "rootfs", cgroups_path: str = "",
               network_namespace: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The config.json document of ``desired`` (see the module docstring); ``cgroups_path``
    defaults to ``/undock/NAME``. ``network_namespace`` is the ``linux.namespaces`` entry of
    the network (NetworkState.spec_namespace(): None shares the host's)."""
    env = dict(desired["env"])
    env.setdefault("HOME", user.home)
    env.setdefault("HOSTNAME", desired["hostname"])
    caps = list(desired["capabilities"])
    process: Dict[str, Any] = {
        "terminal": False,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": list(desired["args"]),
        "env": ["%s=%s" % (k, v) for k, v in sorted(env.items())],
        "cwd": desired["working_dir"],
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": desired["no_new_privileges"],
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = list(user.additional_gids)
    if desired["ulimits"]:
        process["rlimits"] = [{"type": "RLIMIT_" + name.upper(), "soft": min(soft, UNLIMITED),
                               "hard": min(hard, UNLIMITED)} for name, (soft, hard) in desired["ulimits"].items()]
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if network_namespace is not None:
        namespaces.append(dict(network_namespace))
    linux: Dict[str, Any] = {
        "namespaces": namespaces,
        "resources": linux_resources(desired),
        "cgroupsPath": cgroups_path or "/undock/%s" % desired["name"],
    }
    if not desired["privileged"]:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    if desired["sysctls"]:
        linux["sysctl"] = dict(desired["sysctls"])
    spec: Dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": desired["read_only"]},
        "hostname": desired["hostname"],
        "mounts": container_mounts(desired, volume_dirs, etc_files),
        "linux": linux,
    }
    annotations = dict(desired["annotations"])
    if annotations:
        spec["annotations"] = annotations
    return spec


def apply_network(spec: Dict[str, Any], network_namespace: Optional[Dict[str, str]],
                  etc_files: Dict[str, str], planned: Dict[str, str]) -> Dict[str, Any]:
    """``spec`` with the network namespace and /etc files that attach made, in place of the
    ``planned`` ones it was built with (a copy; a mount the user put over one of those files
    has another source and is left alone)."""
    result = dict(spec, linux=dict(spec["linux"]))
    namespaces = [n for n in spec["linux"]["namespaces"] if n.get("type") != "network"]
    if network_namespace is not None:
        namespaces.append(dict(network_namespace))
    result["linux"]["namespaces"] = namespaces
    made = {source: etc_files[target] for target, source in planned.items() if target in etc_files}
    mounts = []
    for mount in spec["mounts"]:
        # by source: the destination may have been resolved in the rootfs (destinations.py)
        if mount.get("type") == "bind" and mount["source"] in made:
            mount = dict(mount, source=made[mount["source"]])
        mounts.append(mount)
    result["mounts"] = mounts
    return result


def with_resources(spec: Dict[str, Any], desired: Dict[str, Any]) -> Dict[str, Any]:
    """``spec`` (a copy) with the ``linux.resources`` of ``desired``: what a container whose
    limits were updated in place (limits.py) is started with next time."""
    return dict(spec, linux=dict(spec["linux"], resources=linux_resources(desired)))
