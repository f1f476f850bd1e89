# -*- coding: utf-8 -*-
"""The system-container engine's one seam to systemd, recorded: where PID 1 is not systemd,
tests give SystemContainers a RecordingSystemd, which answers as systemctl would after the
calls it saw. The node tests (tests/node/) run the real Systemd under a real systemd."""

from __future__ import annotations

from typing import List, Sequence, Tuple

from ansible_collections.undock.oci.plugins.module_utils.system.systemd import Systemd


class RecordingSystemd(Systemd):
    """Every command recorded; start/stop/enable/disable tracked so that is-active and
    is-enabled answer as systemctl would after them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: List[List[str]] = []
        self.active = set()
        self.enabled = set()

    def booted(self) -> bool:
        return True

    def _run(self, argv: Sequence[str]) -> Tuple[int, str]:
        argv = list(argv)
        self.calls.append(argv[0].rsplit("/", 1)[-1:] + argv[1:])
        verb, unit = argv[1], argv[-1]
        if verb in ("start", "restart"):
            self.active.add(unit)
        elif verb == "stop":
            self.active.discard(unit)
        elif verb == "enable":
            self.enabled.add(unit)
        elif verb == "disable":
            self.enabled.discard(unit)
        elif verb == "is-active":
            return (0 if unit in self.active else 3), ""
        elif verb == "is-enabled":
            return (0 if unit in self.enabled else 1), ""
        return 0, ""

    def changes(self) -> List[List[str]]:
        """The calls that change something (not the questions), forgotten once returned."""
        found = [c for c in self.calls if c[1] not in ("is-active", "is-enabled")]
        self.calls = []
        return found
