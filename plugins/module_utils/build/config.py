# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``config`` step: image-config fields by their docker names in snake case, applied to
the image config's ``config`` object the way docker's instructions apply them.

``cmd`` / ``entrypoint``: a list is the exec form, a string the shell form (``/bin/sh -c``);
setting ``entrypoint`` without ``cmd`` in the same step clears ``Cmd`` (docker's rule).
``env``, ``labels`` and ``annotations`` are merged (a null value removes a key);
``exposed_ports`` (``80``, ``80/tcp``, ``53/udp``) and ``volumes`` are added; ``healthcheck``
is docker's (``test`` as a list such as ``[CMD, curl, -f, URL]`` or a string for
``CMD-SHELL``, ``NONE`` to disable; durations such as ``30s``).
"""

from __future__ import annotations

import re

from ..common.errors import UndockError
from ..runtime.options import signal_name
from .dockerfile.units import parse_duration
from .errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

FIELDS = ("cmd", "entrypoint", "env", "user", "working_dir", "labels", "exposed_ports", "volumes", "stop_signal",
          "healthcheck", "annotations")
HEALTH_KEYS = ("test", "interval", "timeout", "start_period", "start_interval", "retries")
_PORT = re.compile(r"(\d{1,5})(?:/(tcp|udp|sctp))?")


def _argv(value: Any, field: str) -> List[str]:
    if isinstance(value, str):
        return ["/bin/sh", "-c", value]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise BuildError("config %s must be a command string or a list of strings, not %r" % (field, value))


def _mapping(value: Any, field: str) -> Dict[str, Optional[str]]:
    if not isinstance(value, dict):
        raise BuildError("config %s must be a mapping, not %r" % (field, value))
    return {str(k): (None if v is None else str(v)) for k, v in value.items()}


def _paths(value: Any, field: str) -> List[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, (str, int)) for v in items):
        raise BuildError("config %s must be a list, not %r" % (field, value))
    return [str(v) for v in items]


def _duration(value: Any, field: str) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1000000000)
    try:
        return parse_duration(str(value))
    except ValueError as err:
        raise BuildError("config healthcheck %s: %s" % (field, err))


def healthcheck(value: Any) -> Dict[str, Any]:
    """Docker's ``Healthcheck`` object from the step's snake-case form."""
    if not isinstance(value, dict):
        raise BuildError("config healthcheck must be a mapping with test, interval, timeout, start_period, retries")
    unknown = sorted(set(value) - set(HEALTH_KEYS))
    if unknown:
        raise BuildError("config healthcheck: unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(HEALTH_KEYS)))
    test = value.get("test")
    if isinstance(test, str):
        test = ["NONE"] if test.upper() == "NONE" else ["CMD-SHELL", test]
    elif isinstance(test, list) and test and all(isinstance(t, str) for t in test):
        if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            test = ["CMD"] + list(test)
    else:
        raise BuildError("config healthcheck test must be a command string or list, not %r" % (test,))
    result: Dict[str, Any] = {"Test": list(test)}
    for key, name in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                      ("start_interval", "StartInterval")):
        if value.get(key) is not None:
            result[name] = _duration(value[key], key)
    if value.get("retries") is not None:
        try:
            result["Retries"] = int(value["retries"])
        except (TypeError, ValueError):
            raise BuildError("config healthcheck retries must be a number, not %r" % (value["retries"],))
    return result


def _env_list(current: List[str], changes: Dict[str, Optional[str]]) -> List[str]:
    pairs = [item.split("=", 1) for item in current]
    env = {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}
    for key, val in changes.items():
        if not key or "=" in key:
            raise BuildError("config env: %r is not a variable name" % key)
        if val is None:
            env.pop(key, None)
        else:
            env[key] = val
    return ["%s=%s" % (k, v) for k, v in env.items()]


def check_config_step(value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise BuildError("a config step must be a mapping of fields (%s)" % ", ".join(FIELDS))
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise BuildError("config: unknown fields %s (known: %s)" % (", ".join(unknown), ", ".join(FIELDS)))
    return value


def apply_config(image_config: Dict[str, Any], annotations: Dict[str, str], step: Dict[str, Any]) -> None:
    """Apply one ``config`` step to ``image_config`` (the whole config document) and the
    manifest ``annotations``, in place."""
    check_config_step(step)
    config = image_config.setdefault("config", {})
    if "entrypoint" in step:
        config["Entrypoint"] = _argv(step["entrypoint"], "entrypoint") if step["entrypoint"] is not None else None
        if "cmd" not in step:
            config.pop("Cmd", None)
    if "cmd" in step:
        config["Cmd"] = _argv(step["cmd"], "cmd") if step["cmd"] is not None else None
    if "env" in step:
        config["Env"] = _env_list(config.get("Env") or [], _mapping(step["env"], "env"))
    if "user" in step:
        config["User"] = "" if step["user"] is None else str(step["user"])
    if "working_dir" in step:
        path = str(step["working_dir"] or "")
        if path and not path.startswith("/"):
            path = "/" + "/".join(p for p in [str(config.get("WorkingDir") or "").strip("/"), path] if p)
        config["WorkingDir"] = path
    if "labels" in step:
        labels = dict(config.get("Labels") or {})
        for key, val in _mapping(step["labels"], "labels").items():
            if val is None:
                labels.pop(key, None)
            else:
                labels[key] = val
        config["Labels"] = labels
    if "exposed_ports" in step:
        ports = dict(config.get("ExposedPorts") or {})
        for item in _paths(step["exposed_ports"], "exposed_ports"):
            match = _PORT.fullmatch(item.strip().lower())
            if not match or not 0 < int(match.group(1)) < 65536:
                raise BuildError("config exposed_ports: %r is not PORT[/tcp|udp|sctp]" % item)
            ports["%d/%s" % (int(match.group(1)), match.group(2) or "tcp")] = {}
        config["ExposedPorts"] = ports
    if "volumes" in step:
        volumes = dict(config.get("Volumes") or {})
        for item in _paths(step["volumes"], "volumes"):
            if not item.startswith("/"):
                raise BuildError("config volumes: %r is not an absolute path" % item)
            volumes[item] = {}
        config["Volumes"] = volumes
    if "stop_signal" in step:
        try:
            config["StopSignal"] = signal_name(step["stop_signal"])
        except UndockError as err:
            raise BuildError("config stop_signal: %s" % err)
    if "healthcheck" in step:
        config["Healthcheck"] = healthcheck(step["healthcheck"])
    if "annotations" in step:
        for key, val in _mapping(step["annotations"], "annotations").items():
            if val is None:
                annotations.pop(key, None)
            else:
                annotations[key] = val
    for key in [k for k, v in config.items() if v is None]:
        del config[key]
