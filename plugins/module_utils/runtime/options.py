# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired container, normalised: what is compared with what was created.

``normalize(params, image_config, image_name, image_digest)`` turns module options into a
record in which equal intentions are equal values: the image's defaults merged (a
``command`` equal to the image's Cmd is no change), order-insensitive lists sorted,
``memory: 64m`` is ``67108864``, ``cap_drop: [net_raw]`` is ``CAP_NET_RAW``, env values are
strings. Every key of the record is a field ``--diff`` can name. Nothing here touches the
host: check mode computes the same record.
"""

from __future__ import annotations

import _signal
import posixpath
import re

from .errors import ContainerError
from .names import NAME_RE, check_name
from .network.errors import NetworkError
from .network.plan import plan_network

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

VOLUME_NAME_RE = NAME_RE

#: Docker's default capability set (docs: "Runtime privilege and Linux capabilities").
DEFAULT_CAPABILITIES = (
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
    "CAP_SYS_CHROOT",
)
#: capabilities(7), in bit order: bit N of /proc/self/status CapBnd is ALL_CAPABILITIES[N].
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
RLIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack")
UNLIMITED = 2 ** 64 - 1
RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(value: Any, field: str) -> Optional[int]:
    """Bytes of ``64m``, ``1.5g``, ``512MiB``, ``67108864`` (binary units, as docker)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ContainerError("%s: %r is not a size" % (field, value))
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE_RE.fullmatch(str(value))
        if not match:
            raise ContainerError("%s: %r is not a size (a number with an optional unit k, m, g, t)" % (field, value))
        size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ContainerError("%s must be positive, not %r" % (field, value))
    return size


def capability(name: Any, field: str) -> str:
    """``net_raw``, ``NET_RAW``, ``cap_net_raw`` -> ``CAP_NET_RAW`` (``ALL`` stays ``ALL``)."""
    text = str(name).strip().upper()
    if text == "ALL":
        return text
    if not text.startswith("CAP_"):
        text = "CAP_" + text
    if text not in ALL_CAPABILITIES:
        raise ContainerError("%s: %r is not a Linux capability" % (field, name))
    return text


def host_bounding_set() -> List[str]:
    """The capabilities this host lets a container have (CapBnd of this process)."""
    try:
        with open("/proc/self/status", "r") as handle:
            for line in handle:
                if line.startswith("CapBnd:"):
                    mask = int(line.split()[1], 16)
                    return [c for bit, c in enumerate(ALL_CAPABILITIES) if mask >> bit & 1]
    except OSError:
        pass
    return list(ALL_CAPABILITIES)


def capabilities(cap_add: Sequence[Any], cap_drop: Sequence[Any], privileged: bool,
                 bounding: Optional[Sequence[str]] = None) -> List[str]:
    """The sorted capability set: docker's default, minus ``cap_drop``, plus ``cap_add``;
    everything the host allows when ``privileged``."""
    allowed = list(bounding if bounding is not None else host_bounding_set())
    if privileged:
        return sorted(allowed)
    add = {capability(c, "cap_add") for c in cap_add or []}
    drop = {capability(c, "cap_drop") for c in cap_drop or []}
    caps = set() if "ALL" in drop else set(DEFAULT_CAPABILITIES) - drop
    caps |= set(allowed) if "ALL" in add else add
    missing = sorted(c for c in add - {"ALL"} if c not in allowed)
    if missing:
        raise ContainerError("cap_add: %s not in this host's capability bounding set, so no container can have %s"
                             % (", ".join(missing), "it" if len(missing) == 1 else "them"))
    return sorted(c for c in caps if c in allowed)


_REALTIME_RE = re.compile(r"(?:SIG)?RTM(IN|AX)([+-]\d+)?")


def _signal_table() -> Tuple[Dict[str, int], Dict[int, str]]:
    """signal.Signals without importing signal, whose enum, made at import, costs a start ~1.5 ms:
    its members (Lib/signal.py: the SIG* names of _signal, not SIG_*) with their numbers, and
    each number's name, which among aliases is the first in (number, name) order, as enum's
    _convert_ sorts them (SIGABRT, not SIGIOT)."""
    numbers = {name: value for name, value in vars(_signal).items()
               if name.isupper() and name.startswith("SIG") and not name.startswith("SIG_")}
    names: Dict[int, str] = {}
    for name, number in sorted(numbers.items(), key=lambda item: (item[1], item[0])):
        names.setdefault(number, name)
    return numbers, names


_SIGNAL_NUMBERS, _SIGNAL_NAMES = _signal_table()


def _realtime_name(number: int) -> str:
    """``SIGRTMIN+N`` (docker's and systemd's spelling; SIGRTMIN+3 halts systemd)."""
    offset = number - _signal.SIGRTMIN
    return "SIGRTMIN+%d" % offset if offset else "SIGRTMIN"


def signal_name(value: Any) -> str:
    """``TERM``, ``sigterm``, ``15`` -> ``SIGTERM``; real-time signals as ``SIGRTMIN+N``."""
    text = str(value).strip().upper().replace(" ", "")
    try:
        if text.isdigit():
            number = int(text)
            if _signal.SIGRTMIN <= number <= _signal.SIGRTMAX:
                return _realtime_name(number)
            return _SIGNAL_NAMES[number]
        realtime = _REALTIME_RE.fullmatch(text)
        if realtime:
            base = _signal.SIGRTMIN if realtime.group(1) == "IN" else _signal.SIGRTMAX
            number = base + int(realtime.group(2) or 0)
            if not _signal.SIGRTMIN <= number <= _signal.SIGRTMAX:
                raise ValueError(text)
            return _realtime_name(number)
        return _SIGNAL_NAMES[_SIGNAL_NUMBERS[text if text.startswith("SIG") else "SIG" + text]]
    except (ValueError, KeyError):
        raise ContainerError("stop_signal: %r is not a signal" % (value,)) from None


def signal_number(name: str) -> int:
    """The number of a name that signal_name() made."""
    if name.startswith("SIGRTMIN"):
        return _signal.SIGRTMIN + int(name[len("SIGRTMIN"):] or 0)
    return _SIGNAL_NUMBERS[name]


def restart_policy(value: Any) -> str:
    """``no``, ``on-failure``, ``on-failure:N`` (N > 0), ``always``, ``unless-stopped``."""
    text = str(value if value is not None else "no").strip().lower()
    if text in ("false", "none", ""):
        text = "no"
    policy, sep, count = text.partition(":")
    if policy not in RESTART_POLICIES or (sep and policy != "on-failure"):
        raise ContainerError("restart_policy: %r is not one of no, on-failure[:N], always, unless-stopped" % value)
    if sep:
        if not count.isdigit():
            raise ContainerError("restart_policy: the retry count in %r is not a number" % value)
        return "on-failure" if int(count) == 0 else "on-failure:%d" % int(count)
    return policy


def _container_path(path: Any, field: str) -> str:
    text = str(path or "")
    if not text.startswith("/"):
        raise ContainerError("%s: %r is not an absolute path in the container" % (field, path))
    clean = posixpath.normpath(text)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    if any(part == ".." for part in text.split("/")):
        raise ContainerError("%s: %r contains '..'" % (field, path))
    return clean


def _source(source: Any, field: str) -> Tuple[str, str]:
    """(``bind``, absolute host path) or (``volume``, name)."""
    text = str(source or "")
    if text.startswith("/"):
        return "bind", posixpath.normpath(text)
    if not VOLUME_NAME_RE.fullmatch(text):
        raise ContainerError("%s: %r is neither an absolute host path nor a volume name" % (field, source))
    return "volume", text


def _bind_options(text: str, field: str) -> bool:
    read_only = False
    for option in filter(None, text.split(",")):
        if option == "ro":
            read_only = True
        elif option == "rw":
            read_only = False
        else:
            raise ContainerError("%s: unknown option %r (ro or rw)" % (field, option))
    return read_only


def volumes(items: Sequence[Any]) -> List[Dict[str, Any]]:
    """``host:ctr[:ro|rw]`` or ``name:ctr[:ro|rw]`` -> mount records, sorted by target."""
    result = []
    for item in items or []:
        parts = str(item).split(":")
        if len(parts) not in (2, 3):
            raise ContainerError("volumes: %r is not SOURCE:TARGET[:ro|rw]" % (item,))
        kind, source = _source(parts[0], "volumes: %s" % item)
        result.append({"type": kind, "source": source, "target": _container_path(parts[1], "volumes: %s" % item),
                       "read_only": _bind_options(parts[2] if len(parts) == 3 else "", "volumes: %s" % item)})
    return sorted(result, key=lambda m: m["target"])


def _tmpfs_options(options: Any, field: str) -> List[str]:
    if options is None or options == "":
        return []
    items = options if isinstance(options, list) else str(options).split(",")
    result = []
    for option in items:
        option = str(option).strip()
        key, sep, value = option.partition("=")
        if key == "size" and sep:
            option = "size=%d" % parse_size(value, field)
        elif key == "mode" and sep:
            if not re.fullmatch(r"[0-7]{3,4}", value):
                raise ContainerError("%s: mode %r is not octal" % (field, value))
            option = "mode=%04o" % int(value, 8)
        elif key not in ("ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev", "nr_inodes", "uid", "gid"):
            raise ContainerError("%s: unknown tmpfs option %r" % (field, option))
        result.append(option)
    return sorted(set(result))


def tmpfs(items: Any) -> List[Dict[str, Any]]:
    """``/path[:opts]`` items, or a dict path -> opts."""
    pairs: List[Tuple[Any, Any]] = []
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        for item in items or []:
            path, dummy, opts = str(item).partition(":")
            pairs.append((path, opts))
    result = [{"type": "tmpfs", "target": _container_path(p, "tmpfs"), "options": _tmpfs_options(o, "tmpfs: %s" % p)}
              for p, o in pairs]
    return sorted(result, key=lambda m: m["target"])


def mounts(items: Sequence[Any]) -> List[Dict[str, Any]]:
    """``mounts`` entries: dicts with ``type`` bind|volume|tmpfs, ``source``, ``target``, ``read_only``,
    ``options`` (tmpfs)."""
    result = []
    for item in items or []:
        if not isinstance(item, dict):
            raise ContainerError("mounts: %r is not a dictionary" % (item,))
        kind = str(item.get("type") or "bind")
        target = _container_path(item.get("target") or item.get("destination"), "mounts: target")
        field = "mounts: %s" % target
        unknown = set(item) - {"type", "source", "target", "destination", "read_only", "options"}
        if unknown:
            raise ContainerError("%s: unknown keys %s" % (field, ", ".join(sorted(unknown))))
        if kind == "tmpfs":
            if item.get("source"):
                raise ContainerError("%s: a tmpfs mount takes no source" % field)
            options = _tmpfs_options(item.get("options"), field)
            if item.get("read_only"):
                options = sorted(set(options) | {"ro"})
            result.append({"type": "tmpfs", "target": target, "options": options})
            continue
        if kind not in ("bind", "volume"):
            raise ContainerError("%s: type must be bind, volume or tmpfs, not %r" % (field, kind))
        found, source = _source(item.get("source"), field)
        if found != kind:
            raise ContainerError("%s: a %s mount needs %s as source, not %r" % (
                field, kind, "an absolute host path" if kind == "bind" else "a volume name", item.get("source")))
        if item.get("options"):
            raise ContainerError("%s: options are for tmpfs mounts; use read_only" % field)
        result.append({"type": kind, "source": source, "target": target, "read_only": bool(item.get("read_only"))})
    return sorted(result, key=lambda m: m["target"])


def ulimits(value: Any) -> Dict[str, List[int]]:
    """``nofile=1024:2048`` items, or a dict name -> ``soft[:hard]`` / int -> {"nofile": [1024, 2048]}."""
    pairs: List[Tuple[Any, Any]] = []
    if isinstance(value, dict):
        pairs = list(value.items())
    else:
        for item in value or []:
            name, sep, limits = str(item).partition("=")
            if not sep:
                raise ContainerError("ulimits: %r is not NAME=SOFT[:HARD]" % (item,))
            pairs.append((name, limits))
    result = {}
    for name, limits in pairs:
        key = str(name).strip().lower()
        key = key[len("rlimit_"):] if key.startswith("rlimit_") else key
        if key not in RLIMITS:
            raise ContainerError("ulimits: %r is not a resource limit (%s)" % (name, ", ".join(RLIMITS)))
        text = str(limits).strip()
        parts = text.split(":")
        if len(parts) > 2:
            raise ContainerError("ulimits: %s=%s is not SOFT[:HARD]" % (name, limits))
        numbers = []
        for part in parts:
            part = part.strip().lower()
            if part in ("-1", "unlimited", "infinity"):
                numbers.append(UNLIMITED)
            elif part.isdigit():
                numbers.append(int(part))
            else:
                raise ContainerError("ulimits: %s=%s: %r is not a number" % (name, limits, part))
        soft, hard = numbers[0], numbers[-1]
        if soft > hard:
            raise ContainerError("ulimits: %s: the soft limit %d is above the hard limit %d" % (name, soft, hard))
        result[key] = [soft, hard]
    return dict(sorted(result.items()))


def string_map(value: Any, field: str) -> Dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ContainerError("%s must be a dictionary" % field)
    result = {}
    for key, item in value.items():
        if item is None:
            raise ContainerError("%s: %s has no value" % (field, key))
        if isinstance(item, bool):
            item = "true" if item else "false"
        result[str(key)] = str(item)
    return dict(sorted(result.items()))


def parse_env(items: Sequence[Any]) -> Dict[str, str]:
    """The image's ``Env`` (``K=V`` strings) as an ordered dict."""
    result: Dict[str, str] = {}
    for item in items or []:
        key, dummy, value = str(item).partition("=")
        if key:
            result[key] = value
    return result


def _argv(value: Any, field: str) -> Optional[List[str]]:
    """A list stays a list; a string is split like a shell would split words (no expansion)."""
    if value is None:
        return None
    if isinstance(value, str):
        import shlex
        try:
            return shlex.split(value)
        except ValueError as err:
            raise ContainerError("%s: %s" % (field, err)) from None
    if not isinstance(value, list):
        raise ContainerError("%s must be a string or a list" % field)
    return [str(v) for v in value]


def process_args(command: Any, entrypoint: Any, image: Dict[str, Any]) -> List[str]:
    """docker's rules: the entrypoint (option, else the image's) followed by the command
    (option, else the image's Cmd, unless the entrypoint was overridden: a new entrypoint
    clears the image's Cmd)."""
    cmd = _argv(command, "command")
    entry = _argv(entrypoint, "entrypoint")
    if entry is None:
        entry = list(image.get("Entrypoint") or [])
        if cmd is None:
            cmd = list(image.get("Cmd") or [])
    elif cmd is None:
        cmd = []
    args = entry + cmd
    if not args:
        raise ContainerError("the container has nothing to run: the image has no Entrypoint or Cmd, "
                             "and neither command nor entrypoint is set")
    return args


def network(value: Any, ports: Any, dns: Any) -> Dict[str, Any]:
    """``network``, ``ports`` and ``dns`` as compared: NetworkPlan.normalized() (bridge by default)."""
    try:
        return plan_network(value if value not in (None, "") else "bridge", ports or [], dns or []).normalized()
    except NetworkError as err:
        raise ContainerError(str(err)) from None


def normalize(params: Dict[str, Any], image_config: Dict[str, Any], image_name: str,
              image_digest: str) -> Dict[str, Any]:
    """The desired container as a comparable record (see the module docstring)."""
    config = dict(image_config.get("config") or {})
    name = check_name(params["name"])
    env = parse_env(config.get("Env") or [])
    env.update(string_map(params.get("env"), "env"))
    env.setdefault("PATH", DEFAULT_PATH)
    user = params.get("user")
    user = str(user) if user not in (None, "") else str(config.get("User") or "0")
    working_dir = params.get("working_dir") or config.get("WorkingDir") or "/"
    working_dir = _container_path(working_dir, "working_dir")
    binds = volumes(params.get("volumes") or [])
    extra = mounts(params.get("mounts") or [])
    tmp = tmpfs(params.get("tmpfs") or [])
    targets: Dict[str, str] = {}
    for field, items in (("volumes", binds), ("mounts", extra), ("tmpfs", tmp)):
        for item in items:
            if item["target"] in targets:
                raise ContainerError("%s: %s is also mounted by %s" % (field, item["target"], targets[item["target"]]))
            targets[item["target"]] = field
    image_volumes = sorted(_container_path(v, "the image's Volumes") for v in (config.get("Volumes") or {}))
    cpus = params.get("cpus")
    if cpus is not None:
        cpus = float(cpus)
        if cpus <= 0:
            raise ContainerError("cpus must be positive, not %s" % cpus)
        cpus = round(cpus, 3)
    pids = params.get("pids_limit")
    if pids is not None and int(pids) <= 0:
        pids = None
    stop_timeout = params.get("stop_timeout")
    stop_timeout = 10 if stop_timeout is None else int(stop_timeout)
    if stop_timeout < 0:
        raise ContainerError("stop_timeout must not be negative")
    hostname = params.get("hostname") or name[:63]
    privileged = bool(params.get("privileged"))
    record = {
        "name": name,
        "image": image_name,
        "image_digest": image_digest,
        "args": process_args(params.get("command"), params.get("entrypoint"), config),
        "env": dict(sorted(env.items())),
        "user": user,
        "working_dir": working_dir,
        "hostname": str(hostname),
        "volumes": binds,
        "mounts": extra,
        "tmpfs": tmp,
        "image_volumes": [v for v in image_volumes if v not in targets],
        "read_only": bool(params.get("read_only")),
        "capabilities": capabilities(params.get("cap_add") or [], params.get("cap_drop") or [], privileged),
        "privileged": privileged,
        "no_new_privileges": bool(params.get("no_new_privileges")),
        "memory": parse_size(params.get("memory"), "memory"),
        "cpus": cpus,
        "pids_limit": int(pids) if pids is not None else None,
        "ulimits": ulimits(params.get("ulimits")),
        "sysctls": string_map(params.get("sysctls"), "sysctls"),
        "labels": string_map(params.get("labels"), "labels"),
        "annotations": string_map(params.get("annotations"), "annotations"),
        "stop_signal": signal_name(params.get("stop_signal") or config.get("StopSignal") or "SIGTERM"),
        "stop_timeout": stop_timeout,
        "restart_policy": restart_policy(params.get("restart_policy")),
        "runtime": str(params.get("runtime") or "runc"),
    }
    record.update(network(params.get("network"), params.get("ports"), params.get("dns")))
    return record


def differences(current: Dict[str, Any], desired: Dict[str, Any]) -> List[str]:
    """The fields whose values differ, sorted."""
    return sorted(k for k in set(current) | set(desired) if current.get(k) != desired.get(k))
