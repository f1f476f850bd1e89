# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which stages a target needs, and the build arguments every stage starts with.

Global ARGs (before the first FROM) are expanded in order with ``build_args`` overriding
their defaults, and with the predefined platform arguments (``TARGETPLATFORM``, ``TARGETOS``,
``TARGETARCH``, ``TARGETVARIANT``, ``BUILDPLATFORM``, ``BUILDOS``, ``BUILDARCH``,
``BUILDVARIANT``), as buildkit does: those are usable in FROM without being declared, and
inside a stage only after an ``ARG NAME`` without a value.
"""

from __future__ import annotations

from ...model.platform import Platform, host_platform, normalize_platform
from ..dockerfile.document import Dockerfile, Stage
from ..dockerfile.errors import DockerfileError
from ..dockerfile.instructions import Copy, Run
from ..dockerfile.shell import Lex

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, List, Optional


def platform_args(target: Optional[str]) -> Dict[str, str]:
    """The predefined platform arguments, for ``target`` (``os/arch[/variant]``) or the host."""
    build = host_platform()
    wanted: Platform = normalize_platform(target) if target else build
    values = {}
    for prefix, item in (("TARGET", wanted), ("BUILD", build)):
        values[prefix + "PLATFORM"] = str(item)
        values[prefix + "OS"] = item.os
        values[prefix + "ARCH"] = item.architecture
        values[prefix + "VARIANT"] = item.variant or ""
    return values


def global_args(dockerfile: Dockerfile, build_args: Dict[str, str], predefined: Dict[str, str]) -> Dict[str, str]:
    """The global ARGs with their values (what FROM lines and ``ARG NAME`` in stages see)."""
    lex = Lex(dockerfile.escape)
    values: Dict[str, str] = {}
    for arg in dockerfile.meta_args:
        for definition in arg.args:
            if definition.key in build_args:
                values[definition.key] = build_args[definition.key]
            elif definition.default is not None:
                values[definition.key] = lex.process_word(definition.default, dict(predefined, **values))
            elif definition.key in predefined:
                values[definition.key] = predefined[definition.key]
    return values


def stage_index(dockerfile: Dockerfile, name: str, before: int) -> Optional[int]:
    """The index of the stage ``name`` (an AS name or a number) defined before ``before``."""
    for index, stage in enumerate(dockerfile.stages[:before]):
        if stage.name and stage.name == name.lower():
            return index
    if name.isascii() and name.isdigit() and int(name) < before:
        return int(name)
    return None


def stage_base(dockerfile: Dockerfile, index: int, args: Dict[str, str]) -> str:
    """FROM's image after expansion with the global args."""
    stage = dockerfile.stages[index]
    base = Lex(dockerfile.escape).process_word(stage.base, args)
    if not base:
        raise DockerfileError("FROM %s: the base image name is empty after expansion" % stage.base,
                              stage.source.line, stage.source.end_line)
    return base


def _references(stage: Stage) -> List[str]:
    found = []
    for instruction in stage.instructions:
        if isinstance(instruction, Copy) and instruction.from_:
            found.append(instruction.from_)
        if isinstance(instruction, Run):
            found.extend(m.from_ for m in instruction.mounts if m.from_)
    return found


def needed_stages(dockerfile: Dockerfile, target: Optional[str], args: Dict[str, str]) -> List[int]:
    """The indexes of the stages the target stage (default: the last) depends on, itself
    included, in Dockerfile order. A stage nothing needs is not built (buildkit's rule)."""
    if not dockerfile.stages:
        raise DockerfileError("the Dockerfile has no FROM: no build stage")
    last = dockerfile.stages.index(dockerfile.stage(target)) if target else len(dockerfile.stages) - 1
    todo: List[int] = [last]
    seen: set = set()
    while todo:
        index = todo.pop()
        if index in seen:
            continue
        seen.add(index)
        stage = dockerfile.stages[index]
        names = [stage_base(dockerfile, index, args)] + _references(stage)
        for name in names:
            found = stage_index(dockerfile, Lex(dockerfile.escape).process_word(name, args), index)
            if found is not None:
                todo.append(found)
    return sorted(seen)
