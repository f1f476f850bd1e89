# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one seam between the engine and systemd: every ``systemctl`` and ``systemd-tmpfiles``
call goes through ``Systemd._run``, so the engine's logic is tested where PID 1 is not
systemd, and the same code runs unchanged on a systemd host."""

from __future__ import annotations

import os
import subprocess

from .errors import SystemctlError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Sequence, Tuple

TIMEOUT = 120.0
#: what sd_booted(3) looks at: systemd creates it when it runs as the init system
BOOTED_MARKER = "/run/systemd/system"


class Systemd:
    def __init__(self, systemctl: str = "systemctl", tmpfiles: str = "systemd-tmpfiles", timeout: float = TIMEOUT):
        self.systemctl = systemctl
        self.tmpfiles = tmpfiles
        self.timeout = timeout

    def _run(self, argv: Sequence[str]) -> Tuple[int, str]:
        """(exit status, what it printed) of one command."""
        try:
            done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise SystemctlError("%s is not installed: system containers need systemd" % argv[0]) from None
        except subprocess.TimeoutExpired:
            raise SystemctlError("%s did not finish in %d s" % (" ".join(argv), self.timeout)) from None
        return done.returncode, done.stdout.decode("utf-8", "replace").strip()

    def booted(self) -> bool:
        """Whether systemd is the init system here (sd_booted(3)); systemctl cannot change anything otherwise."""
        return os.path.isdir(BOOTED_MARKER)

    def require_booted(self) -> None:
        """Fail before anything is done, rather than halfway through with systemctl's own error."""
        if not self.booted():
            raise SystemctlError("systemd is not the init system here (PID 1 is not systemd: %s does not exist): "
                                 "system containers run as systemd units, so they need a host booted with systemd"
                                 % BOOTED_MARKER)

    def _check(self, argv: List[str]) -> None:
        status, output = self._run(argv)
        if status != 0:
            raise SystemctlError("%s failed (exit status %d): %s" % (" ".join(argv), status, output or "no output"))

    def daemon_reload(self) -> None:
        self._check([self.systemctl, "daemon-reload"])

    def tmpfiles_create(self, path: str) -> None:
        self._check([self.tmpfiles, "--create", path])

    def tmpfiles_remove(self, path: str) -> None:
        self._check([self.tmpfiles, "--remove", path])

    def enable(self, unit: str) -> None:
        self._check([self.systemctl, "enable", unit])

    def disable(self, unit: str) -> None:
        self._check([self.systemctl, "disable", unit])

    def start(self, unit: str) -> None:
        self._check([self.systemctl, "start", unit])

    def stop(self, unit: str) -> None:
        self._check([self.systemctl, "stop", unit])

    def restart(self, unit: str) -> None:
        self._check([self.systemctl, "restart", unit])

    def is_active(self, unit: str) -> bool:
        """``systemctl is-active`` says active (or reloading): running for our purposes."""
        return self._run([self.systemctl, "is-active", "--quiet", unit])[0] == 0

    def is_enabled(self, unit: str) -> bool:
        return self._run([self.systemctl, "is-enabled", "--quiet", unit])[0] == 0
