# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instructions that change only the image config, as docker applies them.

ENTRYPOINT clears a CMD that the stage did not set itself (inherited from the base), as
buildkit does; CMD and ENTRYPOINT in shell form become the SHELL plus the command; exec form
is taken as written (no expansion, as docker). History entries say what buildah writes:
``/bin/sh -c #(nop) `` and the instruction as written (before expansion), marked ``empty_layer``.
"""

from __future__ import annotations

import json

from ..builder import Build
from ..dockerfile.errors import DockerfileError
from ..dockerfile.instructions import (Cmd, CommandLine, Entrypoint, Env, Expose, Healthcheck, Instruction, Label,
                                       Maintainer, Onbuild, Shell, StopSignal, User, Volume)
from ..dockerfile.shell import Lex
from ..errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List

NOP = "/bin/sh -c #(nop) "


def command_argv(instruction: CommandLine, shell: List[str]) -> List[str]:
    if instruction.command is None:
        return []
    if instruction.shell_form:
        return list(shell) + [instruction.command[0] if isinstance(instruction.command, list) else instruction.command]
    return list(instruction.command)


def _form(instruction: CommandLine, argv: List[str]) -> str:
    return json.dumps(argv) if argv else "[]"


def apply_config_instruction(build: Build, instruction: Instruction, lex: Lex, env: Dict[str, str],
                             stage: Dict[str, Any], image_format: str) -> str:
    """Apply one config instruction to ``build``; returns its expanded text (for the cache key)."""
    config = build.config.setdefault("config", {})

    def word(text: str) -> str:
        return lex.process_word(text, env)

    written = NOP + instruction.original.strip()

    def done(text: str) -> str:
        build.note(written)
        return text

    try:
        if isinstance(instruction, Env):
            pairs = [(word(p.key), word(p.value)) for p in instruction.pairs]
            build.configure({"env": dict(pairs)}, created_by=written)
            return "ENV " + json.dumps(pairs)
        if isinstance(instruction, Label):
            pairs = [(word(p.key), word(p.value)) for p in instruction.pairs]
            build.configure({"labels": dict(pairs)}, created_by=written)
            return "LABEL " + json.dumps(pairs)
        if isinstance(instruction, User):
            user = word(instruction.user)
            build.configure({"user": user}, created_by=written)
            return "USER " + user
        if isinstance(instruction, Expose):
            ports = [p for item in instruction.ports for p in lex.process_words(item, env)]
            build.configure({"exposed_ports": ports}, created_by=written)
            return "EXPOSE " + json.dumps(ports)
        if isinstance(instruction, Volume):
            volumes = [word(v) for v in instruction.volumes if word(v)]
            build.configure({"volumes": volumes}, created_by=written)
            return "VOLUME " + json.dumps(volumes)
        if isinstance(instruction, StopSignal):
            signal = word(instruction.signal)
            build.configure({"stop_signal": signal}, created_by=written)
            return "STOPSIGNAL " + signal
        if isinstance(instruction, Maintainer):
            build.config["author"] = instruction.maintainer
            return done("MAINTAINER " + instruction.maintainer)
        if isinstance(instruction, Shell):
            stage["shell"] = list(instruction.shell)
            if image_format == "docker":
                config["Shell"] = list(instruction.shell)
            return done("SHELL " + json.dumps(instruction.shell))
        if isinstance(instruction, Cmd):
            argv = command_argv(instruction, stage["shell"])
            config["Cmd"] = argv
            stage["cmd_set"] = True
            return done("CMD " + _form(instruction, argv))
        if isinstance(instruction, Entrypoint):
            argv = command_argv(instruction, stage["shell"])
            if argv:
                config["Entrypoint"] = argv
            else:
                config.pop("Entrypoint", None)
            if not stage.get("cmd_set"):
                config.pop("Cmd", None)
            return done("ENTRYPOINT " + _form(instruction, argv))
        if isinstance(instruction, Healthcheck):
            check: Dict[str, Any] = {"Test": list(instruction.test)}
            for key, value in (("Interval", instruction.interval), ("Timeout", instruction.timeout),
                               ("StartPeriod", instruction.start_period),
                               ("StartInterval", instruction.start_interval), ("Retries", instruction.retries)):
                if value:
                    check[key] = value
            config["Healthcheck"] = check
            return done("HEALTHCHECK " + json.dumps(check, sort_keys=True))
        if isinstance(instruction, Onbuild):
            config["OnBuild"] = list(config.get("OnBuild") or []) + [instruction.expression]
            return done("ONBUILD " + instruction.expression)
    except BuildError as err:
        if isinstance(err, DockerfileError):
            raise
        raise DockerfileError("%s: %s" % (instruction.name, err), instruction.line, instruction.end_line) from None
    raise DockerfileError("%s is not a config instruction" % instruction.name, instruction.line, instruction.end_line)
