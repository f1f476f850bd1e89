# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument grammar of each instruction, from the text after its command and flags.

Each parser returns (argument nodes, is-JSON) or raises ValueError with the problem.
Instructions unknown to the parser keep no arguments: they are refused later, when the
instructions are built (instructions.py), with their line.
"""

from __future__ import annotations

import json

from .gotext import WHITESPACE, is_space, trim_left_space
from .node import Node
from .words import parse_words

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Tuple

    Parsed = Tuple[List[Node], bool]

NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


def _nodes(values: List[str]) -> List[Node]:
    return [Node(value=value) for value in values]


def _reject_constant(name: str) -> None:
    raise ValueError("not JSON: %s" % name)  # Python reads NaN and Infinity, Go does not


def parse_json(rest: str) -> List[str]:
    """The strings of a JSON array; ValueError(NOT_STRING_ARRAY) for a non-string element,
    another ValueError if the text is no JSON array at all (then it is shell form)."""
    rest = trim_left_space(rest)
    if not rest.startswith("["):
        raise ValueError("not a JSON array")
    try:
        value = json.loads(rest, parse_constant=_reject_constant)
    except RecursionError:
        raise _NotStrings(NOT_STRING_ARRAY) from None  # arrays nested too deep to be strings
    if not isinstance(value, list):
        raise ValueError("not a JSON array")
    if not all(isinstance(item, str) for item in value):
        raise _NotStrings(NOT_STRING_ARRAY)
    return value


class _NotStrings(ValueError):
    pass


def _maybe_json(rest: str) -> Parsed:
    try:
        return _nodes(parse_json(rest)), True
    except _NotStrings:
        raise
    except ValueError:
        return [], False


def maybe_json(rest: str, escape: str) -> Parsed:
    """Exec form if the text is a JSON array of strings, else the whole text as one argument."""
    if rest == "":
        return [], False
    nodes, is_json = _maybe_json(rest)
    return (nodes, True) if is_json else ([Node(value=rest)], False)


def maybe_json_to_list(rest: str, escape: str) -> Parsed:
    """A JSON array of strings, else whitespace-separated words (ADD, COPY, VOLUME)."""
    nodes, is_json = _maybe_json(rest)
    return (nodes, True) if is_json else strings_whitespace_delimited(rest, escape)


def strings_whitespace_delimited(rest: str, escape: str) -> Parsed:
    if rest == "":
        return [], False
    return _nodes(WHITESPACE.split(rest)), False


def string(rest: str, escape: str) -> Parsed:
    return ([Node(value=rest)] if rest else []), False


def name_or_name_value(rest: str, escape: str) -> Parsed:
    """ARG: ``name`` or ``name=value`` words."""
    return _nodes(parse_words(rest, escape)), False


def name_value(rest: str, escape: str, command: str) -> Parsed:
    """ENV and LABEL: ``k=v k2=v2``, or the legacy ``k v`` (the rest of the line the value).

    Each pair is three nodes, key, value and separator: ``=`` or empty for the legacy form.
    """
    words = parse_words(rest, escape)
    if not words:
        return [], False
    if "=" not in words[0]:
        parts = WHITESPACE.split(rest, 1)
        if len(parts) < 2:
            raise ValueError("%s must have two arguments" % command)
        return _nodes([parts[0], parts[1], ""]), False
    nodes: List[Node] = []
    for word in words:
        if "=" not in word:
            raise ValueError("Syntax error - can't find = in %s. Must be of the form: name=value" % json.dumps(word))
        key, value = word.split("=", 1)
        nodes.extend(_nodes([key, value, "="]))
    return nodes, False


def healthcheck(rest: str, escape: str) -> Parsed:
    """HEALTHCHECK: a type word (CMD, NONE...) then a command in either form."""
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    if sep == 0:
        return [], False
    start = sep
    while start < len(rest) and is_space(rest[start]):
        start += 1
    nodes, is_json = maybe_json(rest[start:], escape)
    return [Node(value=rest[:sep])] + nodes, is_json


if TYPE_CHECKING:
    LineParser = Callable[[str, str], Parsed]

DISPATCH: Dict[str, LineParser] = {
    "add": maybe_json_to_list,
    "arg": name_or_name_value,
    "cmd": maybe_json,
    "copy": maybe_json_to_list,
    "entrypoint": maybe_json,
    "env": lambda rest, escape: name_value(rest, escape, "ENV"),
    "expose": strings_whitespace_delimited,
    "from": strings_whitespace_delimited,
    "healthcheck": healthcheck,
    "label": lambda rest, escape: name_value(rest, escape, "LABEL"),
    "maintainer": string,
    "run": maybe_json,
    "shell": maybe_json,
    "stopsignal": string,
    "user": string,
    "volume": maybe_json_to_list,
    "workdir": string,
}
# "onbuild" is parsed by the parser itself: its argument is a whole instruction.
