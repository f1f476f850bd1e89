# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker credential helpers (``docker-credential-NAME``), run the way docker runs them:
``docker-credential-NAME get`` with the server address on stdin answers
``{"ServerURL": ..., "Username": ..., "Secret": ...}`` on stdout, or fails with
"credentials not found in native keychain" when it has none.

They are named by ``credHelpers`` (per registry) and ``credsStore`` (for all) in Docker
config files, and by ``credential-helpers`` in registries.conf. Each run is bounded by a
timeout; no message ever holds the secret.
"""

from __future__ import annotations

import re
import shutil
from collections import namedtuple

from ..common.errors import ConfigError
from ..common.jsonutil import load_json

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Optional

HELPER_TIMEOUT = 30.0
MAX_ANSWER = 1024 * 1024
NOT_FOUND = "credentials not found in native keychain"
IDENTITY_TOKEN_USER = "<token>"  # the Username a helper gives for an identity (refresh) token
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class HelperAnswer(namedtuple("HelperAnswer", "username secret identity_token")):
    """username, secret (str), identity_token (bool)."""

    __slots__ = ()


def helper_server(host: str) -> str:
    """The server address docker hands a helper: Docker Hub's is its v1 index URL."""
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB_SERVER
    return host


def check_helper_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError("%s: invalid credential helper name %r: expected the NAME of docker-credential-NAME"
                          % (where, name))
    return name


def run_helper(name: str, server: str, where: str, timeout: Optional[float] = None) -> Optional[HelperAnswer]:
    """What ``docker-credential-NAME get`` holds for ``server``, or None if it has nothing.

    ``where`` names the file that asked for the helper, for messages; ``timeout`` defaults
    to HELPER_TIMEOUT seconds, after which the helper is killed."""
    timeout = HELPER_TIMEOUT if timeout is None else timeout
    program = "docker-credential-" + check_helper_name(name, where)
    path = shutil.which(program)
    if path is None:
        raise ConfigError("%s names the credential helper %r, but %s is not on PATH: install it, or remove it "
                          "from the file" % (where, name, program))
    import subprocess  # here: most runs have no helper, and subprocess costs every run its import
    try:
        done = subprocess.run([path, "get"], input=server.encode("utf-8"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ConfigError("credential helper %s did not answer within %g seconds for %s" % (program, timeout, server))
    except OSError as err:
        raise ConfigError("cannot run credential helper %s: %s" % (path, err.strerror or err))
    out = done.stdout[:MAX_ANSWER].decode("utf-8", "replace").strip()
    if done.returncode != 0:
        if NOT_FOUND in out:
            return None
        said = (out or done.stderr[:4096].decode("utf-8", "replace").strip()).splitlines()
        raise ConfigError("credential helper %s failed for %s (exit status %d)%s" % (
            program, server, done.returncode, ": " + said[0][:200] if said else ""))
    return _answer(out, program, server)


def _answer(out: str, program: str, server: str) -> Optional[HelperAnswer]:
    try:
        body = load_json(out, "the answer of credential helper %s" % program, error=ConfigError)
    except ConfigError:
        body = None  # reported below, in words that never quote the answer
    if not isinstance(body, dict) or not isinstance(body.get("Secret", ""), str) \
            or not isinstance(body.get("Username", ""), str):
        # The answer holds secrets: it is never quoted.
        raise ConfigError("credential helper %s answered %s with something that is not "
                          '{"Username": ..., "Secret": ...}' % (program, server))
    username, secret = body.get("Username") or "", body.get("Secret") or ""
    if not username and not secret:
        return None
    if username == IDENTITY_TOKEN_USER:
        return HelperAnswer("", secret, True)
    return HelperAnswer(username, secret, False)
