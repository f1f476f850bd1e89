# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A whole Dockerfile: the global ARGs before the first FROM, then its stages."""

from __future__ import annotations

from .convert import to_instruction
from .errors import DockerfileError
from .instructions import Arg, From, Instruction
from .parser import ParseWarning, parse

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional, Union


class Stage:
    """One FROM and the instructions up to the next; ``name`` is its AS name, lower case."""

    __slots__ = ("source", "instructions")

    def __init__(self, source: From, instructions: Optional[List[Instruction]] = None):
        self.source = source
        self.instructions = [] if instructions is None else instructions

    @property
    def name(self) -> str:
        return self.source.stage_name

    @property
    def base(self) -> str:
        return self.source.base


class Dockerfile:
    __slots__ = ("meta_args", "stages", "escape", "syntax", "warnings")

    def __init__(self, meta_args: List[Arg], stages: List[Stage], escape: str = "\\", syntax: Optional[str] = None,
                 warnings: Optional[List[ParseWarning]] = None):
        self.meta_args = meta_args
        self.stages = stages
        self.escape = escape
        self.syntax = syntax
        self.warnings = [] if warnings is None else warnings

    def stage(self, target: str) -> Stage:
        """The stage named ``target`` (case-insensitive), or by its index; DockerfileError if none."""
        for stage in self.stages:
            if stage.name and stage.name == target.lower():
                return stage
        if target.isascii() and target.isdigit() and int(target) < len(self.stages):
            return self.stages[int(target)]
        names = [stage.name for stage in self.stages if stage.name]
        raise DockerfileError("target stage %s could not be found (stages: %s)" % (target, ", ".join(names) or "none"))


def parse_dockerfile(source: Union[str, bytes]) -> Dockerfile:
    """Parse and check a Dockerfile; every error is a DockerfileError naming the line."""
    result = parse(source)
    meta_args: List[Arg] = []
    stages: List[Stage] = []
    for node in result.instructions:
        instruction = to_instruction(node)
        if isinstance(instruction, From):
            stages.append(Stage(source=instruction))
        elif not stages and isinstance(instruction, Arg):
            meta_args.append(instruction)
        elif not stages:
            raise DockerfileError("%s before the first FROM: no build stage in current context" % instruction.name,
                                  instruction.line, instruction.end_line)
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(meta_args=meta_args, stages=stages, escape=result.escape,
                      syntax=result.directives.get("syntax"), warnings=result.warnings)
