# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dockerfile text to instruction nodes, with buildkit's line rules.

- Parser directives (``# escape=``, ``# syntax=``) only in the first comment lines.
- A line ending in the escape character continues on the next; comment lines and
  blank lines inside a continuation are skipped (the blank ones with a warning).
- Whole-line comments only: a ``#`` inside an instruction is text.
- ``<<NAME`` words of RUN, COPY and ADD (shell form) take the following lines up to
  ``NAME`` as heredoc bodies.

Errors are DockerfileError with the 1-based line numbers of the instruction.
"""

from __future__ import annotations

from .directives import ESCAPE_TOKENS, DirectiveScanner, continuation_regex
from .errors import DockerfileError, ExpansionError
from .gotext import trim_left_space, trim_space
from .heredoc import HEREDOC_COMMANDS, heredocs_in_line
from .line_parsers import DISPATCH
from .node import Node, dump
from .words import split_command

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple, Union

_BOM = "\ufeff"


class ParseWarning:
    """A problem buildkit accepts for now (an empty continuation line)."""

    __slots__ = ("message", "line")

    def __init__(self, message: str, line: int):
        self.message = message
        self.line = line


class ParseResult:
    """The instructions in order, the escape character in force and the directives read."""

    __slots__ = ("instructions", "escape", "directives", "warnings")

    def __init__(self, instructions: List[Node], escape: str = "\\", directives: Optional[Dict[str, str]] = None,
                 warnings: Optional[List[ParseWarning]] = None):
        self.instructions = instructions
        self.escape = escape
        self.directives = {} if directives is None else directives
        self.warnings = [] if warnings is None else warnings

    def dump(self) -> str:
        """buildkit's dump of the parsed form (its parser tests' ``result`` files)."""
        return dump(self.instructions)


def _split_lines(text: str) -> List[str]:
    # Lines keep their "\n"; only "\n" ends a line ("\r" is trimmed with it).
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _is_comment(line: str) -> bool:
    return trim_left_space(line).startswith("#")


class _Parser:
    def __init__(self, text: str):
        self.lines = _split_lines(text)
        self.index = 0  # next line to read
        self.line_no = 0  # lines read so far: the number of the last one read
        self.directives = DirectiveScanner()
        self.escape = "\\"
        self.continuation = continuation_regex(self.escape)
        self.warnings: List[ParseWarning] = []

    def read(self) -> str:
        line = self.lines[self.index]
        self.index += 1
        self.line_no += 1
        return line

    def more(self) -> bool:
        return self.index < len(self.lines)

    def process(self, raw: str, strip_left: bool) -> Tuple[str, bool]:
        """The line without newline and comment, and whether it was a parser directive."""
        text = raw.rstrip("\r\n")
        if strip_left:
            text = trim_left_space(text)
        try:
            directive = self.directives.line(text)
        except ValueError as err:
            raise DockerfileError(str(err), self.line_no) from None
        if directive is not None and directive[0] == "escape":
            if directive[1] not in ESCAPE_TOKENS:
                raise DockerfileError("invalid escape token '%s' does not match ` or \\" % directive[1], self.line_no)
            self.escape = directive[1]
            self.continuation = continuation_regex(self.escape)
        return ("" if _is_comment(text) else text), directive is not None

    def trim_continuation(self, text: str) -> Tuple[str, bool]:
        """The line without its continuation character, and whether the instruction ends here."""
        if self.continuation.search(text):
            return self.continuation.sub(lambda m: m.group(1) or "", text), False
        return text, True

    def parse(self) -> ParseResult:
        nodes: List[Node] = []
        comments: List[str] = []
        while self.more():
            raw = self.read()
            if self.line_no == 1 and raw.startswith(_BOM):
                raw = raw[1:]
            if _is_comment(raw):
                comment = trim_space(raw[1:])
                comments = comments + [comment] if comment else []
            text, was_directive = self.process(raw, True)
            if was_directive:
                comments = comments[:-1]
            start = self.line_no
            text, ended = self.trim_continuation(text)
            if ended and not text:
                continue
            parts = [text]
            empty_continuation = False
            while not ended and self.more():
                raw = self.read()
                text, _directive = self.process(raw, False)
                if _is_comment(raw):
                    continue
                if not trim_left_space(text):
                    empty_continuation = True
                    continue
                text, ended = self.trim_continuation(text)
                parts.append(text)
            line = "".join(parts)
            if empty_continuation:
                self.warnings.append(ParseWarning("Empty continuation line found in: " + line, self.line_no))
            try:
                node = node_from_line(line, self.escape, comments)
            except ValueError as err:
                raise DockerfileError(str(err), start, self.line_no) from None
            if _can_contain_heredoc(node) and "<<" in line:
                self.read_heredocs(node, line, start)
            node.line, node.end_line = start, self.line_no
            nodes.append(node)
            comments = []
        if not nodes:
            raise DockerfileError("file with no instructions", self.line_no or None)
        return ParseResult(instructions=nodes, escape=self.escape, directives=dict(self.directives.seen),
                           warnings=self.warnings)

    def read_heredocs(self, node: Node, line: str, start: int) -> None:
        try:
            docs = heredocs_in_line(line)
        except ExpansionError as err:
            raise DockerfileError(str(err), start, self.line_no) from None
        for doc in docs:
            body: List[str] = []
            while self.more():
                raw = self.read()
                candidate = raw.rstrip("\r\n")
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    break
                body.append(raw)
            else:
                raise DockerfileError("unterminated heredoc %s" % doc.name, start, self.line_no)
            doc.content = "".join(body)
            node.heredocs.append(doc)


def _can_contain_heredoc(node: Node) -> bool:
    if node.command == "onbuild" and node.args and node.args[0].child is not None:
        node = node.args[0].child
    return node.command in HEREDOC_COMMANDS and not node.json


def node_from_line(line: str, escape: str, comments: List[str]) -> Node:
    """One logical line (continuations joined) as an instruction node; ValueError if malformed."""
    command, flags, rest = split_command(line, escape)
    name = command.lower()
    is_json = False
    if name == "onbuild":
        args = [Node(child=node_from_line(rest, escape, []))] if rest else []
    elif name in DISPATCH:
        args, is_json = DISPATCH[name](rest, escape)
    else:
        args = [Node()]  # unknown: refused with its line when instructions are built
    return Node(value=command, args=args, flags=flags, json=is_json, original=line, comments=list(comments))


def parse(source: Union[str, bytes]) -> ParseResult:
    """Parse a whole Dockerfile (bytes are read as UTF-8; bytes that are not stay as escapes)."""
    if isinstance(source, bytes):
        source = source.decode("utf-8", "surrogateescape")
    return _Parser(source).parse()
