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

from dataclasses import dataclass, field
from typing import List, Optional

from .mounts import Mount
from .node import Heredoc


@dataclass
class Instruction:
    """What every instruction has: its name as written in upper case, and where it is."""

    name: str
    line: int
    end_line: int
    original: str


@dataclass
class KeyValue:
    key: str
    value: str
    legacy: bool = False  # written "KEY value", not "KEY=value"


@dataclass
class ArgDefinition:
    key: str
    default: Optional[str] = None  # None: ARG without "=" (no default)


@dataclass
class From(Instruction):
    base: str = ""
    stage_name: str = ""  # lower case, "" if no AS
    platform: str = ""


@dataclass
class Arg(Instruction):
    args: List[ArgDefinition] = field(default_factory=list)


@dataclass
class Env(Instruction):
    pairs: List[KeyValue] = field(default_factory=list)


@dataclass
class Label(Instruction):
    pairs: List[KeyValue] = field(default_factory=list)


@dataclass
class Maintainer(Instruction):
    maintainer: str = ""


@dataclass
class CommandLine(Instruction):
    """RUN, CMD, ENTRYPOINT: ``command`` is the argv (exec form) or one shell string."""

    command: Optional[List[str]] = None
    shell_form: bool = True
    heredocs: List[Heredoc] = field(default_factory=list)


@dataclass
class Run(CommandLine):
    mount_specs: List[str] = field(default_factory=list)  # as written, for expansion at build time
    mounts: List[Mount] = field(default_factory=list)  # as checked now (values with $ left as written)
    network: str = "default"  # default | none | host
    security: str = "sandbox"  # sandbox | insecure


@dataclass
class Cmd(CommandLine):
    pass


@dataclass
class Entrypoint(CommandLine):
    pass  # command None: "ENTRYPOINT []", which clears it


@dataclass
class Shell(Instruction):
    shell: List[str] = field(default_factory=list)


@dataclass
class SourceContent:
    """A COPY/ADD source given inline as a heredoc: ``path`` is its name in the destination."""

    path: str
    data: str
    expand: bool


@dataclass
class Copy(Instruction):
    sources: List[str] = field(default_factory=list)
    contents: List[SourceContent] = field(default_factory=list)
    dest: str = ""
    from_: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    parents: bool = False
    excludes: List[str] = field(default_factory=list)


@dataclass
class Add(Instruction):
    sources: List[str] = field(default_factory=list)
    contents: List[SourceContent] = field(default_factory=list)
    dest: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    checksum: str = ""
    keep_git_dir: Optional[bool] = None
    unpack: Optional[bool] = None
    excludes: List[str] = field(default_factory=list)


@dataclass
class Expose(Instruction):
    ports: List[str] = field(default_factory=list)


@dataclass
class Volume(Instruction):
    volumes: List[str] = field(default_factory=list)


@dataclass
class User(Instruction):
    user: str = ""


@dataclass
class Workdir(Instruction):
    path: str = ""


@dataclass
class StopSignal(Instruction):
    signal: str = ""


@dataclass
class Healthcheck(Instruction):
    """The docker image-config form: ``test`` is ["NONE"], ["CMD", argv...] or ["CMD-SHELL", cmd].

    Durations are nanoseconds, 0 meaning "inherit the default".
    """

    test: List[str] = field(default_factory=list)
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass
class Onbuild(Instruction):
    """A trigger kept as text (with its heredoc bodies), run when a child image builds FROM this."""

    expression: str = ""
    trigger: str = ""  # the trigger's instruction name, upper case
