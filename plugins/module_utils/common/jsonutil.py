# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way to read a JSON document that came from outside (a registry, an archive, a file).

Python's decoder recurses once per nesting level, so ``[[[[...]]]]`` a few thousand deep
raises RecursionError; every later walk over the document recurses too. The depth is
bounded here, before decoding, and every failure is the caller's UndockError subclass
with a message that names the document and never quotes its content (it may hold secrets).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

from .errors import UndockError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple, Type, Union

# OCI manifests, indexes and configs nest 4 or 5 levels, auth files 3: 64 leaves room
# for annotations and vendor fields and stays far below the interpreter's limit.
MAX_DEPTH = 64

# A string runs to its closing quote or, unterminated, to the end: the pattern never
# fails, so it never backtracks (json.loads rejects the unterminated string itself).
_STRING = re.compile(r'"(?:[^"\\]+|\\.)*(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def load_json(data: Union[bytes, str], what: str, error: Type[UndockError] = UndockError,
              expect: Optional[type] = None, max_depth: int = MAX_DEPTH,
              object_pairs_hook: Optional[Callable[[List[Tuple[str, Any]]], Any]] = None) -> Any:
    """Decode ``data`` (UTF-8 bytes or text) as JSON; ``what`` names it in errors.

    ``expect`` (``dict`` or ``list``) is the type the top level must have;
    ``object_pairs_hook`` is json's (a ValueError it raises is reported like bad JSON).
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise error("%s is not valid JSON: not UTF-8 (byte %d)" % (what, err.start))
    else:
        text = data
    depth = nesting_depth(text, max_depth)
    if depth > max_depth:
        raise error("%s is not valid JSON: nested more than %d levels deep" % (what, max_depth))
    try:
        value = json.loads(text, object_pairs_hook=object_pairs_hook)
    except ValueError as err:
        where = " (line %d column %d)" % (err.lineno, err.colno) if isinstance(err, json.JSONDecodeError) else ""
        reason = err.msg if isinstance(err, json.JSONDecodeError) else str(err)[:200]
        raise error("%s is not valid JSON: %s%s" % (what, reason, where))
    except RecursionError:  # the bound above makes this unreachable; kept so no traceback can escape
        raise error("%s is not valid JSON: nested too deep" % what)
    if expect is not None and not isinstance(value, expect):
        raise error("%s is not a JSON %s" % (what, _TYPE_NAMES.get(expect, expect.__name__)))
    return value


_TYPE_NAMES = {dict: "object", list: "array", str: "string"}


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings do not count).

    Returns early with a value no larger than the real depth when it cannot exceed ``limit``.
    """
    if text.count("[") + text.count("{") <= limit:
        return 0
    steps = (_STEP[b] for b in _BRACKET.findall(_STRING.sub("", text)))
    return max(accumulate(steps), default=0)
