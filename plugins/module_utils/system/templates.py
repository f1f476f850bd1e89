# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Template variables of the atomic system-container convention, and their substitution.

atomic substitutes with Python's ``string.Template.substitute``: ``$NAME`` and ``${NAME}``
are replaced, ``$$`` is a literal ``$``, and a variable without a value is an error (so is
a ``$`` followed by something that is not a name). The same here, with the error naming
the variable (or the position) and the template file.

Where values come from, lowest first (atomic's ``_amend_values``):

1. defaults of the overridable variables (``RUN_DIRECTORY=/run``, ``STATE_DIRECTORY=/var/lib``,
   ``CONF_DIRECTORY=/etc``, ``PIDFILE=$RUN_DIRECTORY/container-NAME.pid``, a new ``UUID``
   (kept across updates), ``ALL_PROCESS_CAPABILITIES``, ``RUNTIME``);
2. the image's ``manifest.json`` ``defaultValues``;
3. the user's ``values`` (atomic ``--set``);
4. what the installer sets, whatever the others say: ``NAME``, ``DESTDIR``, ``EXEC_START``,
   ``EXEC_STOP``, ``EXEC_STARTPRE``, ``EXEC_STOPPOST``, ``HOST_UID``, ``HOST_GID``,
   ``IMAGE_ID``, ``IMAGE_NAME``.

One difference from atomic: atomic filled the overridable defaults before the manifest's,
so a ``defaultValues`` entry for ``RUN_DIRECTORY`` (say) was ignored; here the image's
default wins over the installer's default, and the user's value over both.
"""

from __future__ import annotations

import re
import string
import uuid
from collections.abc import Mapping  # for isinstance (typing.Mapping is an alias of it)

from .errors import SystemContainerError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Tuple

INSTALLER_VARIABLES = ("NAME", "EXEC_START", "EXEC_STOP", "EXEC_STARTPRE", "EXEC_STOPPOST", "DESTDIR", "HOST_UID",
                       "HOST_GID", "IMAGE_ID", "IMAGE_NAME")
OVERRIDABLE_VARIABLES = ("RUN_DIRECTORY", "STATE_DIRECTORY", "CONF_DIRECTORY", "UUID", "PIDFILE",
                         "ALL_PROCESS_CAPABILITIES", "RUNTIME")
VARIABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def value_text(value: Any, where: str) -> str:
    """A value as the templates get it: strings as they are, numbers and booleans as JSON
    would write them (``true``, ``8080``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise SystemContainerError("%s: %r is not a string, number or boolean" % (where, value))


def check_values(values: Optional[Mapping[str, Any]], where: str) -> Dict[str, str]:
    """``values`` with names checked and every value a string."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise SystemContainerError("%s must be a dictionary of NAME: value, not %r" % (where, values))
    result = {}
    for key, value in values.items():
        if not isinstance(key, str) or not VARIABLE_RE.fullmatch(key):
            raise SystemContainerError("%s: %r is not a variable name (letters, digits and '_', not starting "
                                       "with a digit)" % (where, key))
        result[key] = value_text(value, "%s: %s" % (where, key))
    return result


def all_capabilities_text(capabilities: Iterable[str]) -> str:
    """``ALL_PROCESS_CAPABILITIES`` as atomic writes it: JSON strings, one a line, for a
    template to put inside a ``"bounding": [...]`` list."""
    return ",\n".join('"%s"' % c for c in capabilities) + "\n"


def exec_directives(runtime: str, name: str, destdir: str) -> Dict[str, str]:
    """``EXEC_START`` and friends: the runtime in the foreground (systemd supervises it, and
    runc hands the container systemd's sockets itself: see units.py), its stop, and the
    removal of what a stop or a crash leaves in the runtime's state."""
    return {
        "EXEC_START": "%s run --bundle %s %s" % (runtime, destdir, name),
        "EXEC_STOP": "%s kill %s" % (runtime, name),
        "EXEC_STARTPRE": "",
        "EXEC_STOPPOST": "%s delete -f %s" % (runtime, name),
    }


def merge_values(name: str, *, defaults: Mapping[str, str], manifest_defaults: Mapping[str, str],
                 user: Mapping[str, str], installer: Mapping[str, str],
                 previous: Optional[Mapping[str, str]] = None) -> Tuple[Dict[str, str], List[str]]:
    """The values of one deployment, lowest precedence first (see the module docstring),
    and warnings for user values the installer overrides. ``previous`` (the values of the
    installed deployment) keeps the ``UUID`` stable across updates."""
    values: Dict[str, str] = dict(defaults)
    values.update(manifest_defaults)
    values.update(user)
    if "UUID" not in user and "UUID" not in manifest_defaults:
        values["UUID"] = (previous or {}).get("UUID") or values.get("UUID") or str(uuid.uuid4())
    if "PIDFILE" not in user and "PIDFILE" not in manifest_defaults:
        values["PIDFILE"] = "%s/container-%s.pid" % (values["RUN_DIRECTORY"], name)
    warnings = ["values: %s is set by the installer (%r); the value given (%r) is not used" % (k, installer[k], user[k])
                for k in sorted(set(user) & set(installer)) if user[k] != installer[k]]
    values.update(installer)
    return values, warnings


def default_values(runtime: str, capabilities: Iterable[str]) -> Dict[str, str]:
    return {"RUN_DIRECTORY": "/run", "STATE_DIRECTORY": "/var/lib", "CONF_DIRECTORY": "/etc",
            "ALL_PROCESS_CAPABILITIES": all_capabilities_text(capabilities), "RUNTIME": runtime}


def substitute(text: str, values: Mapping[str, str], filename: str) -> str:
    """``text`` with its variables replaced, as atomic's ``write_template`` does."""
    try:
        return string.Template(text).substitute(values)
    except KeyError as err:
        raise SystemContainerError("%s: the variable $%s has no value (set it in values, or give the image a "
                                   "defaultValues entry for it)" % (filename, err.args[0])) from None
    except ValueError:
        line, column = _bad_placeholder(text)
        raise SystemContainerError("%s: line %d, column %d: '$' is not followed by a variable name; write $$ for "
                                   "a literal '$'" % (filename, line, column)) from None


def _bad_placeholder(text: str) -> Tuple[int, int]:
    match = string.Template.pattern.search(text)
    while match is not None and match.group("invalid") is None:
        match = string.Template.pattern.search(text, match.end())
    offset = match.start("invalid") - 1 if match is not None else 0  # the "$" itself
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def variables_of(text: str) -> List[str]:
    """The variables a template uses, in order of first use."""
    found: List[str] = []
    for match in string.Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name and name not in found:
            found.append(name)
    return found
