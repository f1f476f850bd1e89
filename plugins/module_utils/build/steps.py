# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build steps (oci_build's ``steps``): checked and normalised, and what identifies them.

Each step is a one-key mapping: ``from`` (first, once: an image or ``scratch``), ``run``,
``host`` (a command string, run by ``/bin/sh -c``, or an argv list; or a mapping with
``command`` and options), ``copy`` / ``add`` (``src``, ``dest``, ``chown``, ``chmod``; ``add``
also ``checksum`` for URLs), ``config`` (build.config) and ``commit`` (ends a layer; an
optional ``message`` goes into the history).

The identity of a build's inputs (``fingerprint``): the normalised steps, the base image's
digest, the content of every local file that is copied or added (names, types, modes, link
targets and bytes; never mtimes or the host's owners), the build args, and the options that
shape the image. Two builds with the same fingerprint make the same image.
"""

from __future__ import annotations

import os

from .config import check_config_step
from .context.digest import path_digest
from .errors import BuildError
from .files import check_source, parse_chmod
from .run import NETWORKS

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

KINDS = ("from", "run", "host", "copy", "add", "config", "commit")
RUN_KEYS = ("command", "env", "user", "working_dir", "network", "volumes", "timeout")
HOST_KEYS = ("command", "env", "timeout", "chdir")
FILE_KEYS = ("src", "dest", "chown", "chmod", "checksum")


def _command(value: Any, where: str) -> List[str]:
    if isinstance(value, str) and value.strip():
        return ["/bin/sh", "-c", value]
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                 for v in value):
        return [str(v) for v in value]
    raise BuildError("%s: the command must be a non-empty string or argv list, not %r" % (where, value))


def _options(value: Any, keys: tuple, where: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        value = {"command": value}
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise BuildError("%s: unknown options %s (known: %s)" % (where, ", ".join(unknown), ", ".join(keys)))
    return dict(value)


def _is_url(text: str) -> bool:
    return text.startswith("http://") or text.startswith("https://")


def normalize_steps(steps: Any, context: Optional[str] = None) -> List[Dict[str, Any]]:
    """The steps checked and in one form: ``{"kind": KIND, ...}``; BuildError names the bad step."""
    if not isinstance(steps, list) or not steps:
        raise BuildError("steps must be a non-empty list of one-key mappings (from, run, host, copy, add, config, commit)")
    result: List[Dict[str, Any]] = []
    for number, step in enumerate(steps, 1):
        where = "step %d" % number
        if not isinstance(step, dict) or len(step) != 1:
            raise BuildError("%s must be a mapping with exactly one of %s, not %r" % (where, ", ".join(KINDS), step))
        kind, value = next(iter(step.items()))
        where = "step %d (%s)" % (number, kind)
        if kind not in KINDS:
            raise BuildError("%s: unknown step; steps are %s" % (where, ", ".join(KINDS)))
        if kind == "from":
            if number != 1:
                raise BuildError("%s: from must be the first step, and only once" % where)
            if not isinstance(value, str) or not value.strip():
                raise BuildError("%s: from takes an image name or scratch" % where)
            result.append({"kind": kind, "image": value.strip()})
        elif number == 1:
            raise BuildError("step 1 must be from (an image or scratch), not %s" % kind)
        elif kind == "run":
            item = _options(value, RUN_KEYS, where)
            item["command"] = _command(item.get("command"), where)
            item["network"] = str(item.get("network") or "host")
            if item["network"] not in NETWORKS:
                raise BuildError("%s: network must be one of %s" % (where, ", ".join(NETWORKS)))
            item["env"] = {str(k): str(v) for k, v in (item.get("env") or {}).items()}
            item["volumes"] = [str(v) for v in item.get("volumes") or []]
            result.append(dict(item, kind=kind))
        elif kind == "host":
            item = _options(value, HOST_KEYS, where)
            item["command"] = _command(item.get("command"), where)
            item["env"] = {str(k): str(v) for k, v in (item.get("env") or {}).items()}
            result.append(dict(item, kind=kind))
        elif kind in ("copy", "add"):
            if not isinstance(value, dict):
                raise BuildError("%s: takes a mapping with src and dest" % where)
            unknown = sorted(set(value) - set(FILE_KEYS))
            if unknown:
                raise BuildError("%s: unknown options %s (known: %s)" % (where, ", ".join(unknown), ", ".join(FILE_KEYS)))
            sources = value.get("src")
            sources = [sources] if isinstance(sources, str) else sources
            if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s for s in sources):
                raise BuildError("%s: src must be a path (or a list of paths)" % where)
            if not isinstance(value.get("dest"), str) or not value["dest"]:
                raise BuildError("%s: dest must be a path in the image" % where)
            if value.get("checksum") and kind != "add":
                raise BuildError("%s: checksum is for add from a URL" % where)
            resolved = []
            for source in sources:
                if kind == "add" and _is_url(source):
                    resolved.append(source)
                    continue
                if not os.path.isabs(source):
                    if not context:
                        raise BuildError("%s: src %s is relative and no context directory is set" % (where, source))
                    source = os.path.join(context, source)
                resolved.append(check_source(source))
            item = {"kind": kind, "src": resolved, "dest": value["dest"], "chown": value.get("chown"),
                    "chmod": parse_chmod(value.get("chmod")), "checksum": value.get("checksum")}
            result.append(item)
        elif kind == "config":
            result.append({"kind": kind, "config": check_config_step(value)})
        else:
            message = value.get("message") if isinstance(value, dict) else value
            if message is not None and not isinstance(message, (str, bool)):
                raise BuildError("%s: commit takes nothing, or a mapping with message" % where)
            result.append({"kind": kind, "message": message if isinstance(message, str) else None})
    return result


def step_sources(steps: List[Dict[str, Any]]) -> Dict[str, str]:
    """Local source path -> content digest, for every copy and add."""
    sources: Dict[str, str] = {}
    for step in steps:
        if step["kind"] in ("copy", "add"):
            for source in step["src"]:
                if not _is_url(source) and source not in sources:
                    sources[source] = path_digest(source, follow=True)
    return sources
