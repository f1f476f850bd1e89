# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd unit files of a system container: the default service, the socket, the
dependency options, and a reader of the unit syntax to check what was rendered.

The default service runs the OCI runtime in the foreground (``runc run --bundle DESTDIR
NAME``), so the service's main process is runc, which forwards systemd's signals to the
container's init and exits with its status; a container ended by SIGTERM reads as 143,
declared in ``SuccessExitStatus`` so a clean stop is not a failure (added to an image's own
service template too when it says nothing of it). ``ExecStopPost`` deletes what runc keeps
of the container, whatever ended it.

Socket activation needs nothing more from the service: when runc runs with ``LISTEN_FDS``
set and ``LISTEN_PID`` its own pid (systemd's ``ExecStart`` execs runc directly), it takes
those descriptors itself and gives them to the container's init as fds 3.. with
``LISTEN_FDS=N`` and ``LISTEN_PID=1`` in its environment (runc's utils_linux.go; crun does
the same). ``--preserve-fds`` is for other descriptors: given as well, it would pass the
descriptors after the sockets, which systemd never opened. The service only gets
``Requires=`` and ``After=`` its socket, and is enabled through the socket, so that it
starts on the first connection and not at boot.
"""

from __future__ import annotations

from .errors import SystemContainerError
from .listen import Listener
from .names import unit_names

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

DEFAULT_SERVICE_TEMPLATE = """\
[Unit]
Description=System container $NAME ($IMAGE_NAME)

[Service]
ExecStartPre=$EXEC_STARTPRE
ExecStart=$EXEC_START
ExecStop=$EXEC_STOP
ExecStopPost=$EXEC_STOPPOST
SuccessExitStatus=143 SIGTERM
Restart=on-failure
WorkingDirectory=$DESTDIR

[Install]
WantedBy=multi-user.target
"""

DEFAULT_SOCKET_TEMPLATE = """\
[Unit]
Description=Socket of system container $NAME

[Socket]

[Install]
WantedBy=sockets.target
"""

UNIT_OPTIONS = ("after", "requires", "wants")
INSTALL_OPTIONS = ("wanted_by", "required_by")
DIRECTIVES = {"after": "After", "requires": "Requires", "wants": "Wants", "wanted_by": "WantedBy",
              "required_by": "RequiredBy"}
MAX_UNIT = 1024 * 1024


class Dependencies:
    __slots__ = UNIT_OPTIONS + INSTALL_OPTIONS

    def __init__(self, after: Optional[List[str]] = None, requires: Optional[List[str]] = None,
                 wants: Optional[List[str]] = None, wanted_by: Optional[List[str]] = None,
                 required_by: Optional[List[str]] = None):
        self.after = [] if after is None else after
        self.requires = [] if requires is None else requires
        self.wants = [] if wants is None else wants
        self.wanted_by = [] if wanted_by is None else wanted_by
        self.required_by = [] if required_by is None else required_by

    @classmethod
    def from_options(cls, options: Dict[str, Any]) -> "Dependencies":
        return cls(**{key: unit_names(options.get(key), key) for key in UNIT_OPTIONS + INSTALL_OPTIONS})

    def as_dict(self) -> Dict[str, List[str]]:
        return {key: list(getattr(self, key)) for key in UNIT_OPTIONS + INSTALL_OPTIONS}


if TYPE_CHECKING:
    Entry = Tuple[str, str, str, int]  # section, key, value, line number


def parse_unit(text: str, filename: str) -> List[Entry]:
    """The ``(section, key, value, line)`` assignments of a unit file (systemd.syntax(7):
    ``#`` and ``;`` comments, a trailing backslash continues a line). What systemd would
    only warn about (a line outside a section, a line with no ``=``) is an error here,
    naming the file and the line."""
    entries: List[Entry] = []
    section = None
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index].strip()
        index += 1
        while line.endswith("\\") and index < len(lines):
            nxt = lines[index].strip()
            index += 1
            if nxt.startswith(("#", ";")):
                continue
            line = line[:-1] + " " + nxt
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise SystemContainerError("%s, line %d: %r is not a section header" % (filename, number, line))
            section = line[1:-1]
            continue
        if section is None:
            raise SystemContainerError("%s, line %d: %r is outside any [Section]" % (filename, number, line))
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SystemContainerError("%s, line %d: %r is not KEY=VALUE" % (filename, number, line))
        entries.append((section, key.strip(), value.strip(), number))
    return entries


def values_of(entries: List[Entry], section: str, key: str) -> List[str]:
    """The values of ``key`` in ``section``, an empty assignment resetting the list, as systemd reads it."""
    result: List[str] = []
    for sec, k, value, dummy in entries:
        if sec == section and k == key:
            if value:
                result.append(value)
            else:
                result = []
    return result


def _section_bounds(lines: List[str], section: str) -> Optional[Tuple[int, int]]:
    """(index of the header, index after the section's last non-blank line) of the last ``[section]``."""
    found = None
    for number, line in enumerate(lines):
        if line.strip() == "[%s]" % section:
            found = number
    if found is None:
        return None
    end = found + 1
    for number in range(found + 1, len(lines)):
        stripped = lines[number].strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            break
        if stripped:
            end = number + 1
    return found, end


def add_lines(text: str, section: str, new: List[str]) -> str:
    """``text`` with ``new`` lines at the end of ``section`` (added at the end of the file if
    there is no such section)."""
    if not new:
        return text
    lines = text.splitlines()
    bounds = _section_bounds(lines, section)
    if bounds is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ([""] if lines else []) + ["[%s]" % section] + new
    else:
        lines[bounds[1]:bounds[1]] = new
    return "\n".join(lines) + "\n"


def drop_lines(text: str, section: str, drop: Callable[[str], bool]) -> str:
    """``text`` without the assignments of ``section`` whose key ``drop`` accepts."""
    lines = text.splitlines()
    current = None
    kept = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
        elif current == section and "=" in stripped and not stripped.startswith(("#", ";")):
            if drop(stripped.partition("=")[0].strip()):
                continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def merge_dependencies(text: str, deps: Dependencies) -> str:
    """The unit with the dependency options added to its [Unit] and [Install] sections."""
    unit = ["%s=%s" % (DIRECTIVES[key], " ".join(getattr(deps, key))) for key in UNIT_OPTIONS if getattr(deps, key)]
    install = ["%s=%s" % (DIRECTIVES[key], " ".join(getattr(deps, key))) for key in INSTALL_OPTIONS
               if getattr(deps, key)]
    return add_lines(add_lines(text, "Unit", unit), "Install", install)


def finish_service(text: str, name: str, filename: str, socket: bool) -> str:
    """A rendered service made fit to supervise runc: 143 a success unless the unit says
    otherwise, and its socket required when it has one."""
    entries = parse_unit(text, filename)
    if not any(sec == "Service" for sec, dummy, dummy2, dummy3 in entries):
        raise SystemContainerError("%s has no [Service] section" % filename)
    if not values_of(entries, "Service", "SuccessExitStatus"):
        text = add_lines(text, "Service", ["SuccessExitStatus=143 SIGTERM"])
    if socket:
        unit = "%s.socket" % name
        extra = ["%s=%s" % (key, unit) for key in ("Requires", "After")
                 if unit not in " ".join(values_of(entries, "Unit", key)).split()]
        text = add_lines(text, "Unit", extra)
    return text


def socket_text(template: Optional[str], listeners: List[Listener]) -> str:
    """The socket unit: the image's rendered socket template, or ours; ``listeners``, when
    given, replace the template's own Listen* lines."""
    text = template if template is not None else DEFAULT_SOCKET_TEMPLATE
    if listeners:
        text = drop_lines(text, "Socket", lambda key: key.startswith("Listen"))
        text = add_lines(text, "Socket", [item.line() for item in listeners])
    return text


def check_socket(text: str, filename: str) -> None:
    entries = parse_unit(text, filename)
    if not any(sec == "Socket" and key.startswith("Listen") and value for sec, key, value, dummy in entries):
        raise SystemContainerError("%s listens on nothing: give listen, or a socket template with Listen* lines"
                                   % filename)
