# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checking documents that come from outside (a registry, an archive, a layout) against
model.schemas with jsonschema.

jsonschema is imported on first use: it costs about 0.1 s, and a run that only reads the
store, whose documents were checked when they entered it, never needs it.
"""

from __future__ import annotations

import re
import reprlib

from ..common.deps import import_library
from ..common.errors import ManifestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List
    from .schemas import Schema

_VALIDATORS: Dict[int, Any] = {}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def _validator(schema: Schema) -> Any:
    validator = _VALIDATORS.get(id(schema))
    if validator is None:
        jsonschema = import_library("jsonschema")
        validator = _VALIDATORS[id(schema)] = jsonschema.Draft4Validator(schema)
    return validator


def json_path(path: List[Any]) -> str:
    """``$.layers[0].digest`` for the path ``["layers", 0, "digest"]``."""
    text = "$"
    for part in path:
        if isinstance(part, int):
            text += "[%d]" % part
        elif _IDENTIFIER.match(part):
            text += "." + part
        else:
            text += "[%r]" % part
    return text


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 160  # a whole sha512 digest; reprlib also bounds nesting


def _short(value: Any) -> str:
    return _REPR.repr(value)


def _explain(error: Any) -> str:
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [name for name in error.validator_value if name not in present]
        return "required field %r is missing" % (missing[0] if missing else error.validator_value[0])
    if error.validator == "type":
        return "%s is not of type %s" % (_short(error.instance), error.validator_value)
    if error.validator == "enum":
        return "%s is not one of %s" % (_short(error.instance), ", ".join(repr(v) for v in error.validator_value))
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description:
        return "%s is not %s" % (_short(error.instance), description)
    if error.validator in ("minimum", "maximum"):
        return "%s is out of range (%s %s)" % (_short(error.instance), error.validator, error.validator_value)
    return error.message if len(error.message) <= 200 else error.message[:197] + "..."


def validate_document(document: Any, schema: Schema, what: str) -> None:
    """Raise ManifestError naming ``what`` and the JSON path of the bad field unless
    ``document`` matches ``schema``."""
    validator = _validator(schema)
    errors = list(validator.iter_errors(document))
    if not errors:
        return
    jsonschema = import_library("jsonschema")
    error = jsonschema.exceptions.best_match(errors)
    while error.context:  # a oneOf of a value or null: say why it is not the value
        inner = jsonschema.exceptions.best_match(e for e in error.context if e.validator_value != "null")
        if inner is None:
            break
        error = inner
    raise ManifestError("%s: %s: %s" % (what, json_path(list(error.absolute_path)), _explain(error)))
