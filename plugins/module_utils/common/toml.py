# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TOML files (registries.conf) read with ``tomllib`` (Python 3.11+) or ``tomli`` below.

Errors become ConfigError naming the file and the line, never a traceback.
"""

from __future__ import annotations

from .deps import note_missing, require
from .errors import ConfigError

try:
    import tomllib as _toml
except ImportError:  # Python < 3.11
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ImportError as import_error:  # reported by common.deps when a TOML file is read
        _toml = None  # type: ignore[assignment]
        note_missing("tomli", import_error)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any

__all__ = ["loads", "load"]


def loads(text: str, source: str = "<toml>") -> dict:
    """Parse a TOML document. ``source`` names it in error messages (e.g. the file path)."""
    require("tomli")
    if not isinstance(text, str):
        raise ConfigError("%s: TOML must be text, not %s" % (source, type(text).__name__))
    # Go's TOML reader (podman's) skips a byte order mark; tomllib does not.
    text = text[1:] if text.startswith("\ufeff") else text
    try:
        return _toml.loads(text)
    except _toml.TOMLDecodeError as err:
        raise ConfigError("%s: %s" % (source, _position_first(str(err))))
    except RecursionError:
        raise ConfigError("%s: nested too deeply" % source)


def load(path: str) -> dict:
    """Read and parse the UTF-8 TOML file at ``path``; ConfigError names the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ConfigError("cannot read %s: %s" % (path, err.strerror or err))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError("%s: not valid UTF-8 (byte %d)" % (path, err.start))
    return loads(text, source=path)


def _position_first(message: Any) -> str:
    """``Invalid value (at line 5, column 5)`` -> ``line 5, column 5: invalid value``."""
    text = str(message)
    head, sep, tail = text.rpartition(" (at ")
    if not sep or not tail.endswith(")"):
        return text
    detail = head[:1].lower() + head[1:]
    return "%s: %s" % (tail[:-1], detail)
