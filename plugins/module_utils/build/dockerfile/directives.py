# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parser directives: ``# escape=`` and ``# syntax=`` (and ``# check=``) at the top of a Dockerfile.

They are recognised only in the comment lines before the first instruction, blank line or
other comment; after that, the same text is an ordinary comment.
"""

from __future__ import annotations

import re

from .gotext import trim_left_space

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, Optional, Tuple

DIRECTIVES = ("syntax", "escape", "check")
ESCAPE_TOKENS = ("\\", "`")

# Go's \s is [\t\n\f\r ]; a directive is "# name = value".
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*", re.DOTALL)


class DirectiveScanner:
    """Reads the directive lines, one line at a time, until the first line that is not one."""

    def __init__(self) -> None:
        self.done = False
        self.seen: Dict[str, str] = {}

    def line(self, text: str) -> Optional[Tuple[str, str]]:
        """The (name, value) this line sets, or None; raises ValueError on a repeated directive."""
        if self.done:
            return None
        if not text.startswith("#"):
            self.done = True
            return None
        match = _DIRECTIVE.fullmatch(trim_left_space(text[1:]))
        if not match or match.group(1).lower() not in DIRECTIVES:
            self.done = True
            return None
        name = match.group(1).lower()
        if name in self.seen:
            raise ValueError("only one %s parser directive can be used" % name)
        self.seen[name] = match.group(2)
        return name, match.group(2)


def continuation_regex(escape: str) -> "re.Pattern[str]":
    """A line ending in the escape character (then blanks) continues on the next line.

    The character before it must not be the escape itself (an escaped escape is literal),
    unless the escape stands alone on its line. Like buildkit's, this does not see that
    ``\\\\\\`` (an escaped escape, then an escape) continues.
    """
    esc = re.escape(escape)
    return re.compile(r"([^%s])%s[ \t]*\Z|^%s[ \t]*\Z" % (esc, esc, esc))
