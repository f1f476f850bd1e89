# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instructions of a Dockerfile, typed, with their flags read and checked.

Arguments are as written: quotes and ``$VAR`` are still in them, because expansion needs
the environment of the build step (ARG and ENV values so far). Commands keep the
distinction between exec form (a JSON array: ``shell_form`` false) and shell form (one
string, run through the SHELL).
"""

from __future__ import annotations

from .mounts import Mount
from .node import Heredoc

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional


class Instruction:
    """What every instruction has: its name as written in upper case, and where it is."""

    __slots__ = ("name", "line", "end_line", "original")

    def __init__(self, name: str, line: int, end_line: int, original: str):
        self.name = name
        self.line = line
        self.end_line = end_line
        self.original = original


class KeyValue:
    __slots__ = ("key", "value", "legacy")

    def __init__(self, key: str, value: str, legacy: bool = False):
        self.key = key
        self.value = value
        self.legacy = legacy  # written "KEY value", not "KEY=value"


class ArgDefinition:
    __slots__ = ("key", "default")

    def __init__(self, key: str, default: Optional[str] = None):
        self.key = key
        self.default = default  # None: ARG without "=" (no default)


class From(Instruction):
    __slots__ = ("base", "stage_name", "platform")

    def __init__(self, name: str, line: int, end_line: int, original: str, base: str = "", stage_name: str = "",
                 platform: str = ""):
        super().__init__(name, line, end_line, original)
        self.base = base
        self.stage_name = stage_name  # lower case, "" if no AS
        self.platform = platform


class Arg(Instruction):
    __slots__ = ("args",)

    def __init__(self, name: str, line: int, end_line: int, original: str, args: Optional[List[ArgDefinition]] = None):
        super().__init__(name, line, end_line, original)
        self.args = [] if args is None else args


class Env(Instruction):
    __slots__ = ("pairs",)

    def __init__(self, name: str, line: int, end_line: int, original: str, pairs: Optional[List[KeyValue]] = None):
        super().__init__(name, line, end_line, original)
        self.pairs = [] if pairs is None else pairs


class Label(Instruction):
    __slots__ = ("pairs",)

    def __init__(self, name: str, line: int, end_line: int, original: str, pairs: Optional[List[KeyValue]] = None):
        super().__init__(name, line, end_line, original)
        self.pairs = [] if pairs is None else pairs


class Maintainer(Instruction):
    __slots__ = ("maintainer",)

    def __init__(self, name: str, line: int, end_line: int, original: str, maintainer: str = ""):
        super().__init__(name, line, end_line, original)
        self.maintainer = maintainer


class CommandLine(Instruction):
    """RUN, CMD, ENTRYPOINT: ``command`` is the argv (exec form) or one shell string."""

    __slots__ = ("command", "shell_form", "heredocs")

    def __init__(self, name: str, line: int, end_line: int, original: str, command: Optional[List[str]] = None,
                 shell_form: bool = True, heredocs: Optional[List[Heredoc]] = None):
        super().__init__(name, line, end_line, original)
        self.command = command
        self.shell_form = shell_form
        self.heredocs = [] if heredocs is None else heredocs


class Run(CommandLine):
    __slots__ = ("mount_specs", "mounts", "network", "security")

    def __init__(self, name: str, line: int, end_line: int, original: str, command: Optional[List[str]] = None,
                 shell_form: bool = True, heredocs: Optional[List[Heredoc]] = None,
                 mount_specs: Optional[List[str]] = None, mounts: Optional[List[Mount]] = None,
                 network: str = "default", security: str = "sandbox"):
        super().__init__(name, line, end_line, original, command, shell_form, heredocs)
        self.mount_specs = [] if mount_specs is None else mount_specs  # as written, for expansion at build time
        self.mounts = [] if mounts is None else mounts  # as checked now (values with $ left as written)
        self.network = network  # default | none | host
        self.security = security  # sandbox | insecure


class Cmd(CommandLine):
    __slots__ = ()


class Entrypoint(CommandLine):
    __slots__ = ()  # command None: "ENTRYPOINT []", which clears it


class Shell(Instruction):
    __slots__ = ("shell",)

    def __init__(self, name: str, line: int, end_line: int, original: str, shell: Optional[List[str]] = None):
        super().__init__(name, line, end_line, original)
        self.shell = [] if shell is None else shell


class SourceContent:
    """A COPY/ADD source given inline as a heredoc: ``path`` is its name in the destination."""

    __slots__ = ("path", "data", "expand")

    def __init__(self, path: str, data: str, expand: bool):
        self.path = path
        self.data = data
        self.expand = expand


class Copy(Instruction):
    __slots__ = ("sources", "contents", "dest", "from_", "chown", "chmod", "link", "parents", "excludes")

    def __init__(self, name: str, line: int, end_line: int, original: str, sources: Optional[List[str]] = None,
                 contents: Optional[List[SourceContent]] = None, dest: str = "", from_: str = "", chown: str = "",
                 chmod: str = "", link: bool = False, parents: bool = False, excludes: Optional[List[str]] = None):
        super().__init__(name, line, end_line, original)
        self.sources = [] if sources is None else sources
        self.contents = [] if contents is None else contents
        self.dest = dest
        self.from_ = from_
        self.chown = chown
        self.chmod = chmod
        self.link = link
        self.parents = parents
        self.excludes = [] if excludes is None else excludes


class Add(Instruction):
    __slots__ = ("sources", "contents", "dest", "chown", "chmod", "link", "checksum", "keep_git_dir", "unpack",
                 "excludes")

    def __init__(self, name: str, line: int, end_line: int, original: str, sources: Optional[List[str]] = None,
                 contents: Optional[List[SourceContent]] = None, dest: str = "", chown: str = "", chmod: str = "",
                 link: bool = False, checksum: str = "", keep_git_dir: Optional[bool] = None,
                 unpack: Optional[bool] = None, excludes: Optional[List[str]] = None):
        super().__init__(name, line, end_line, original)
        self.sources = [] if sources is None else sources
        self.contents = [] if contents is None else contents
        self.dest = dest
        self.chown = chown
        self.chmod = chmod
        self.link = link
        self.checksum = checksum
        self.keep_git_dir = keep_git_dir
        self.unpack = unpack
        self.excludes = [] if excludes is None else excludes


class Expose(Instruction):
    __slots__ = ("ports",)

    def __init__(self, name: str, line: int, end_line: int, original: str, ports: Optional[List[str]] = None):
        super().__init__(name, line, end_line, original)
        self.ports = [] if ports is None else ports


class Volume(Instruction):
    __slots__ = ("volumes",)

    def __init__(self, name: str, line: int, end_line: int, original: str, volumes: Optional[List[str]] = None):
        super().__init__(name, line, end_line, original)
        self.volumes = [] if volumes is None else volumes


class User(Instruction):
    __slots__ = ("user",)

    def __init__(self, name: str, line: int, end_line: int, original: str, user: str = ""):
        super().__init__(name, line, end_line, original)
        self.user = user


class Workdir(Instruction):
    __slots__ = ("path",)

    def __init__(self, name: str, line: int, end_line: int, original: str, path: str = ""):
        super().__init__(name, line, end_line, original)
        self.path = path


class StopSignal(Instruction):
    __slots__ = ("signal",)

    def __init__(self, name: str, line: int, end_line: int, original: str, signal: str = ""):
        super().__init__(name, line, end_line, original)
        self.signal = signal


class Healthcheck(Instruction):
    """The docker image-config form: ``test`` is ["NONE"], ["CMD", argv...] or ["CMD-SHELL", cmd].

    Durations are nanoseconds, 0 meaning "inherit the default".
    """

    __slots__ = ("test", "interval", "timeout", "start_period", "start_interval", "retries")

    def __init__(self, name: str, line: int, end_line: int, original: str, test: Optional[List[str]] = None,
                 interval: int = 0, timeout: int = 0, start_period: int = 0, start_interval: int = 0, retries: int = 0):
        super().__init__(name, line, end_line, original)
        self.test = [] if test is None else test
        self.interval = interval
        self.timeout = timeout
        self.start_period = start_period
        self.start_interval = start_interval
        self.retries = retries


class Onbuild(Instruction):
    """A trigger kept as text (with its heredoc bodies), run when a child image builds FROM this."""

    __slots__ = ("expression", "trigger")

    def __init__(self, name: str, line: int, end_line: int, original: str, expression: str = "", trigger: str = ""):
        super().__init__(name, line, end_line, original)
        self.expression = expression
        self.trigger = trigger  # the trigger's instruction name, upper case
