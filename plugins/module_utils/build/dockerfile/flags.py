# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``--name=value`` flags of an instruction, checked against what it accepts."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Set


class FlagSpec:
    """The flags one instruction accepts: booleans, strings, and strings that may repeat."""

    def __init__(self, booleans: Sequence[str] = (), strings: Sequence[str] = (), repeated: Sequence[str] = ()):
        self.booleans = frozenset(booleans)
        self.strings = frozenset(strings)
        self.repeated = frozenset(repeated)

    def names(self) -> List[str]:
        return sorted(self.booleans | self.strings | self.repeated)


class Flags:
    """Parsed flags: ``value(name)`` for booleans and strings, ``values(name)`` for repeated ones."""

    def __init__(self) -> None:
        self.used: Set[str] = set()
        self._values: Dict[str, str] = {}
        self._lists: Dict[str, List[str]] = {}

    def value(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self._values.get(name, default)

    def is_true(self, name: str) -> bool:
        return self._values.get(name) == "true"

    def boolean(self, name: str) -> Optional[bool]:
        """True or False if the flag was given, None if not (for tri-state flags like ADD --unpack)."""
        return (self._values[name] == "true") if name in self._values else None

    def values(self, name: str) -> List[str]:
        return list(self._lists.get(name, []))


def parse_flags(command: str, args: Sequence[str], spec: FlagSpec) -> Flags:
    """Check and read an instruction's flags; ValueError names the flag that is wrong."""
    flags = Flags()
    for arg in args:
        if arg == "--":
            break
        if not arg.startswith("--"):
            raise ValueError("arg should start with -- : %s" % arg)
        flag_name, has_value, value = arg.partition("=")
        name = flag_name[2:]
        known = name in spec.booleans or name in spec.strings or name in spec.repeated
        if not known:
            accepted = ", ".join("--" + n for n in spec.names()) or "none"
            raise ValueError("unknown flag: %s (%s accepts: %s)" % (flag_name, command, accepted))
        if name in flags.used and name not in spec.repeated:
            raise ValueError("duplicate flag specified: %s" % flag_name)
        flags.used.add(name)
        if name in spec.booleans:
            if has_value and value == "":
                raise ValueError("missing a value on flag: %s" % flag_name)
            if value.lower() not in ("true", "false", ""):
                raise ValueError("expecting boolean value for flag %s, not: %s" % (flag_name, value))
            flags._values[name] = "false" if value.lower() == "false" else "true"
        elif not has_value:
            raise ValueError("missing a value on flag: %s" % flag_name)
        elif name in spec.repeated:
            flags._lists.setdefault(name, []).append(value)
        else:
            flags._values[name] = value
    return flags
