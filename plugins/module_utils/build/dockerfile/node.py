# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parsed form of a Dockerfile: one node per instruction, its arguments as a list."""

from __future__ import annotations

from .gotext import go_quote

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional


class Heredoc:
    """The body of a ``<<NAME`` word: ``expand`` is false when the name was quoted."""

    __slots__ = ("name", "content", "expand", "chomp", "fd")

    def __init__(self, name: str, content: str = "", expand: bool = True, chomp: bool = False, fd: int = 0):
        self.name = name
        self.content = content
        self.expand = expand
        self.chomp = chomp
        self.fd = fd


class Node:
    """One instruction (``value`` as written, e.g. ``RUN``) or one argument of it.

    ``args`` are argument nodes; an argument node with a ``child`` is a sub-instruction
    (ONBUILD's trigger). ``json`` says the arguments were a JSON array (exec form).
    Lines are 1-based, ``end_line`` includes continuation lines and heredoc bodies.
    """

    __slots__ = ("value", "args", "child", "flags", "json", "heredocs", "original", "line", "end_line", "comments")

    def __init__(self, value: str = "", args: Optional[List[Node]] = None, child: Optional[Node] = None,
                 flags: Optional[List[str]] = None, json: bool = False, heredocs: Optional[List[Heredoc]] = None,
                 original: str = "", line: int = 0, end_line: int = 0, comments: Optional[List[str]] = None):
        self.value = value
        self.args = [] if args is None else args
        self.child = child
        self.flags = [] if flags is None else flags
        self.json = json
        self.heredocs = [] if heredocs is None else heredocs
        self.original = original
        self.line = line
        self.end_line = end_line
        self.comments = [] if comments is None else comments

    @property
    def command(self) -> str:
        return self.value.lower()

    def arg_values(self) -> List[str]:
        """The argument strings; a sub-instruction contributes its command and arguments."""
        out: List[str] = []
        for arg in self.args:
            if arg.child is None:
                out.append(arg.value)
            else:
                out.append(arg.child.value)
                out.extend(arg.child.arg_values())
        return out

    def dump(self) -> str:
        """buildkit's S-expression dump of one instruction, without the parentheses."""
        parts = [self.value.lower()]
        if self.flags:
            parts.append("[%s]" % " ".join(go_quote(flag) for flag in self.flags))
        for arg in self.args:
            parts.append("(%s)" % arg.child.dump() if arg.child is not None else go_quote(arg.value))
        return " ".join(parts).strip()


def dump(instructions: List[Node]) -> str:
    """The whole file as buildkit's parser tests write it: one ``(instruction ...)`` a line."""
    return "".join("(%s)\n" % node.dump() for node in instructions)
