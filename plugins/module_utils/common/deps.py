# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Third-party libraries of the managed host (requests, jsonschema, cryptography, ...).

Their imports are guarded so that a host without one still loads the modules and gets a
clear error naming the package, instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import UndockError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict

_MISSING: Dict[str, str] = {}


def note_missing(name: str, error: Exception) -> None:
    _MISSING[name] = str(error)


def missing_libraries() -> Dict[str, str]:
    """Library name -> import error, for every guarded import that failed."""
    return dict(_MISSING)


def require(name: str) -> None:
    if name in _MISSING:
        raise UndockError("the Python library %r is required on the managed host (pip install %s): %s"
                          % (name, name, _MISSING[name]))


def import_library(name: str) -> ModuleType:
    """Import a library at first use (module_support checks at start that it is installed);
    UndockError names it if it is missing."""
    require(name)
    try:
        return importlib.import_module(name)
    except ImportError as error:
        note_missing(name, error)
        require(name)
        raise
