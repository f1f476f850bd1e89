# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Instruction nodes to typed instructions: argument counts, flags and forms checked.

Where buildkit silently ignores input (flags on ARG or STOPSIGNAL, options before
HEALTHCHECK NONE) this refuses it instead: a flag that does nothing is a mistake.
"""

from __future__ import annotations

import re

from .errors import DockerfileError
from .flags import FlagSpec, Flags, parse_flags
from .heredoc import chomp, parse_heredoc
from .instructions import (Add, Arg, ArgDefinition, Cmd, Copy, Entrypoint, Env, Expose, From, Healthcheck,
                           Instruction, KeyValue, Label, Maintainer, Onbuild, Run, Shell, SourceContent,
                           StopSignal, User, Volume, Workdir)
from .mounts import parse_mount
from .node import Node
from .units import parse_duration

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Callable, Dict, List

NO_FLAGS = FlagSpec()
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\v\f\r ]*ONBUILD[\t\n\v\f\r ]*", re.IGNORECASE)
NETWORK_MODES = ("default", "none", "host")
SECURITY_MODES = ("sandbox", "insecure")


def _base(node: Node) -> Dict[str, object]:
    return dict(name=node.value.upper(), line=node.line, end_line=node.end_line, original=node.original)


def _flags(node: Node, spec: FlagSpec) -> Flags:
    return parse_flags(node.value.upper(), node.flags, spec)


def _exactly_one(node: Node) -> str:
    args = node.arg_values()
    if len(args) != 1:
        raise ValueError("%s requires exactly one argument" % node.value.upper())
    _flags(node, NO_FLAGS)
    return args[0]


def _at_least_one(node: Node) -> List[str]:
    args = node.arg_values()
    if not args:
        raise ValueError("%s requires at least one argument" % node.value.upper())
    return args


def _command_line(node: Node, args: List[str]) -> List[str]:
    # exec form: the array; shell form: the one string of the whole line
    if node.json:
        return list(args)
    return [" ".join(args)] if args else []


def _pairs(node: Node) -> List[KeyValue]:
    args = _at_least_one(node)
    if len(args) % 3:
        raise ValueError("Bad input to %s, too many arguments" % node.value.upper())
    pairs = []
    for index in range(0, len(args), 3):
        key, value, separator = args[index:index + 3]
        if not key:
            raise ValueError("%s names can not be blank" % node.value.upper())
        pairs.append(KeyValue(key, value, legacy=separator == ""))
    return pairs


def _from(node: Node) -> From:
    args = node.arg_values()
    stage = ""
    if len(args) == 3 and args[1].lower() == "as":
        stage = args[2].lower()
        if not _STAGE_NAME.fullmatch(stage):
            raise ValueError("invalid name for build stage: %s, name can't start with a number or contain symbols"
                             % _go_q(args[2]))
    elif len(args) != 1:
        raise ValueError("FROM requires either one or three arguments")
    flags = _flags(node, FlagSpec(strings=("platform",)))
    return From(base=args[0], stage_name=stage, platform=flags.value("platform", "") or "", **_base(node))


def _go_q(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def _arg(node: Node) -> Arg:
    args = _at_least_one(node)
    _flags(node, NO_FLAGS)
    definitions = []
    for arg in args:
        if "=" in arg:
            key, value = arg.split("=", 1)
            if not key:
                raise ValueError("ARG names can not be blank")
            definitions.append(ArgDefinition(key, value))
        else:
            definitions.append(ArgDefinition(arg))
    return Arg(args=definitions, **_base(node))


def _env(node: Node) -> Env:
    _flags(node, NO_FLAGS)
    return Env(pairs=_pairs(node), **_base(node))


def _label(node: Node) -> Label:
    _flags(node, NO_FLAGS)
    return Label(pairs=_pairs(node), **_base(node))


def _sources(node: Node, command: str):
    args = node.arg_values()
    if len(args) < 2:
        raise ValueError("%s requires at least two arguments, but only one was provided. "
                         "Destination could not be determined" % command)
    dest = args[-1]
    docs = {doc.name: doc for doc in node.heredocs}
    if not node.json and parse_heredoc(dest) is not None:
        raise ValueError("%s cannot accept a heredoc as a destination" % command)
    paths, contents = [], []
    for src in args[:-1]:
        doc = parse_heredoc(src) if not node.json else None
        if doc is not None and doc.name in docs:
            body = docs[doc.name].content
            contents.append(SourceContent(path=doc.name, data=chomp(body) if doc.chomp else body, expand=doc.expand))
        else:
            paths.append(src)
    return paths, contents, dest


def _copy(node: Node) -> Copy:
    flags = _flags(node, FlagSpec(booleans=("link", "parents"), strings=("chown", "from", "chmod"),
                                  repeated=("exclude",)))
    paths, contents, dest = _sources(node, "COPY")
    return Copy(sources=paths, contents=contents, dest=dest, from_=flags.value("from", "") or "",
                chown=flags.value("chown", "") or "", chmod=flags.value("chmod", "") or "",
                link=flags.is_true("link"), parents=flags.is_true("parents"), excludes=flags.values("exclude"),
                **_base(node))


def _add(node: Node) -> Add:
    flags = _flags(node, FlagSpec(booleans=("link", "keep-git-dir", "unpack"), strings=("chown", "chmod", "checksum"),
                                  repeated=("exclude",)))
    paths, contents, dest = _sources(node, "ADD")
    return Add(sources=paths, contents=contents, dest=dest, chown=flags.value("chown", "") or "",
               chmod=flags.value("chmod", "") or "", link=flags.is_true("link"),
               checksum=flags.value("checksum", "") or "", keep_git_dir=flags.boolean("keep-git-dir"),
               unpack=flags.boolean("unpack"), excludes=flags.values("exclude"), **_base(node))


def _run(node: Node) -> Run:
    flags = _flags(node, FlagSpec(strings=("network", "security"), repeated=("mount",)))
    command = _command_line(node, node.arg_values())
    if not command:
        raise ValueError("RUN requires at least one argument")
    network = flags.value("network", "default") or ""
    if network not in NETWORK_MODES:
        raise ValueError('invalid network mode "%s" (one of %s)' % (network, ", ".join(NETWORK_MODES)))
    security = flags.value("security", "sandbox") or ""
    if security not in SECURITY_MODES:
        raise ValueError('security "%s" is not valid (one of %s)' % (security, ", ".join(SECURITY_MODES)))
    specs = flags.values("mount")
    return Run(command=command, shell_form=not node.json, heredocs=list(node.heredocs), mount_specs=specs,
               mounts=[parse_mount(spec) for spec in specs], network=network, security=security, **_base(node))


def _cmd(node: Node) -> Cmd:
    _flags(node, NO_FLAGS)
    return Cmd(command=_command_line(node, node.arg_values()), shell_form=not node.json,
               heredocs=list(node.heredocs), **_base(node))


def _entrypoint(node: Node) -> Entrypoint:
    _flags(node, NO_FLAGS)
    command = _command_line(node, node.arg_values())
    return Entrypoint(command=command or None, shell_form=not node.json, heredocs=list(node.heredocs),
                      **_base(node))


def _shell(node: Node) -> Shell:
    _flags(node, NO_FLAGS)
    args = _command_line(node, node.arg_values())
    if not args:
        raise ValueError("SHELL requires at least one argument")
    if not node.json:
        raise ValueError("SHELL requires the arguments to be in JSON form")
    return Shell(shell=args, **_base(node))


def _interval(flags: Flags, name: str) -> int:
    text = flags.value(name, "") or ""
    if not text:
        return 0
    try:
        value = parse_duration(text)
    except ValueError as err:
        raise ValueError("--%s: %s" % (name, err)) from None
    if value != 0 and value < 10 ** 6:
        raise ValueError("Interval %s cannot be less than 1ms" % _go_q(name))
    return value


def _healthcheck(node: Node) -> Healthcheck:
    args = _at_least_one(node)
    kind = args[0].upper()
    if kind == "NONE":
        if len(args) != 1:
            raise ValueError("HEALTHCHECK NONE takes no arguments")
        _flags(node, NO_FLAGS)
        return Healthcheck(test=["NONE"], **_base(node))
    flags = _flags(node, FlagSpec(strings=("interval", "timeout", "start-period", "start-interval", "retries")))
    if kind != "CMD":
        raise ValueError("Unknown type %s in HEALTHCHECK (try CMD)" % _go_q(kind))
    command = _command_line(node, args[1:])
    if not command:
        raise ValueError("Missing command after HEALTHCHECK CMD")
    retries = 0
    text = flags.value("retries", "") or ""
    if text:
        try:
            retries = int(text, 10)
        except ValueError:
            raise ValueError("--retries: not an integer: %s" % text) from None
        if retries < 0:
            raise ValueError("--retries cannot be negative (%d)" % retries)
        if retries >= 1 << 31:
            raise ValueError("--retries: value out of range: %s" % text)
    return Healthcheck(test=["CMD" if node.json else "CMD-SHELL"] + command,
                       interval=_interval(flags, "interval"), timeout=_interval(flags, "timeout"),
                       start_period=_interval(flags, "start-period"),
                       start_interval=_interval(flags, "start-interval"), retries=retries, **_base(node))


def _expose(node: Node) -> Expose:
    ports = _at_least_one(node)
    _flags(node, NO_FLAGS)
    return Expose(ports=sorted(ports), **_base(node))


def _volume(node: Node) -> Volume:
    args = _at_least_one(node)
    _flags(node, NO_FLAGS)
    volumes = [arg.strip() for arg in args]
    if any(not volume for volume in volumes):
        raise ValueError("VOLUME specified can not be an empty string")
    return Volume(volumes=volumes, **_base(node))


def _onbuild(node: Node) -> Onbuild:
    if not node.args or node.args[0].child is None:
        raise ValueError("ONBUILD requires at least one argument")
    _flags(node, NO_FLAGS)
    trigger = node.args[0].child.value.upper()
    if trigger == "ONBUILD":
        raise ValueError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise ValueError("%s isn't allowed as an ONBUILD trigger" % trigger)
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    return Onbuild(expression=expression, trigger=trigger, **_base(node))


CONVERTERS: Dict[str, Callable[[Node], Instruction]] = {
    "add": _add,
    "arg": _arg,
    "cmd": _cmd,
    "copy": _copy,
    "entrypoint": _entrypoint,
    "env": _env,
    "expose": _expose,
    "from": _from,
    "healthcheck": _healthcheck,
    "label": _label,
    "maintainer": lambda node: Maintainer(maintainer=_exactly_one(node), **_base(node)),
    "onbuild": _onbuild,
    "run": _run,
    "shell": _shell,
    "stopsignal": lambda node: StopSignal(signal=_exactly_one(node), **_base(node)),
    "user": lambda node: User(user=_exactly_one(node), **_base(node)),
    "volume": _volume,
    "workdir": lambda node: Workdir(path=_exactly_one(node), **_base(node)),
}


def to_instruction(node: Node) -> Instruction:
    """The typed instruction of one node; DockerfileError names its line and the problem."""
    convert = CONVERTERS.get(node.command)
    if convert is None:
        raise DockerfileError("unknown instruction: %s" % node.value, node.line, node.end_line)
    try:
        return convert(node)
    except ValueError as err:
        raise DockerfileError(str(err), node.line, node.end_line) from None
