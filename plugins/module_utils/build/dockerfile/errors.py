# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the Dockerfile parser and of shell-word expansion."""

from __future__ import annotations

from ..errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Optional


class DockerfileError(BuildError):
    """A malformed Dockerfile; the message names the line (1-based) and the problem."""

    def __init__(self, message: str, line: Optional[int] = None, end_line: Optional[int] = None):
        self.problem = message
        self.line = line
        self.end_line = end_line if end_line is not None else line
        if line is None:
            text = "Dockerfile: %s" % message
        elif self.end_line is not None and self.end_line > line:
            text = "Dockerfile lines %d-%d: %s" % (line, self.end_line, message)
        else:
            text = "Dockerfile line %d: %s" % (line, message)
        super().__init__(text)


class ExpansionError(BuildError):
    """A word could not be expanded: bad substitution, unterminated quote, ${VAR:?message}."""
