# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Heredoc words: ``<<EOF``, ``<<-EOF`` (leading tabs removed), ``<<"EOF"`` (no expansion), ``3<<EOF``."""

from __future__ import annotations

import re

from .errors import ExpansionError
from .node import Heredoc
from .shell import Lex

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional

# Go's \s is [\t\n\f\r ].
_HEREDOC = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)", re.DOTALL)
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)

# Instructions whose shell-form line may open heredocs; ONBUILD through its trigger.
HEREDOC_COMMANDS = ("add", "copy", "run")


def parse_heredoc(word: str) -> Optional[Heredoc]:
    """The heredoc a word opens, or None; raises ExpansionError if its name cannot be read."""
    match = _HEREDOC.fullmatch(word)
    if not match or not match.group(3):
        return None
    fd, chomp, rest = match.groups()
    words = Lex("\\", skip_unset_env=True).process_words(rest, {})
    if len(words) != 1:
        return None
    raw = Lex("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, {})
    if len(raw) != 1:
        raise ExpansionError("internal lexing of heredoc produced inconsistent results: %s" % rest)
    name = words[0]

    def quotes(text: str) -> int:
        return text.count("'") + text.count('"')

    # A quote anywhere in the name (quotes that lexing removed) turns expansion off.
    return Heredoc(name=name, expand=quotes(name) == quotes(raw[0]), chomp=chomp == "-", fd=int(fd or 0))


def heredocs_in_line(line: str) -> List[Heredoc]:
    """Every heredoc the words of an instruction line open, in order."""
    lex = Lex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, {})
    except ExpansionError:
        return []  # an unbalanced quote: no heredoc words (buildkit does the same)
    docs = []
    for word in words:
        doc = parse_heredoc(word)
        if doc is not None:
            docs.append(doc)
    return docs


def chomp(content: str) -> str:
    """The body of a ``<<-`` heredoc: leading tabs of every line removed."""
    return _LEADING_TABS.sub("", content)
