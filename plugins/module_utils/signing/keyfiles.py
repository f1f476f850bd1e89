# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key pairs on disk as ``cosign generate-key-pair --output-key-prefix PREFIX`` writes them:
``PREFIX.key`` (encrypted, 0600) and ``PREFIX.pub``. A key is never overwritten."""

from __future__ import annotations

import os

from ..common.errors import SigningError
from ..common.fileutil import create_exclusive
from .keys import generate_key_pair, load_private_key, public_key_pem

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, List, Optional

MAX_KEY_FILE = 64 * 1024


class KeyPairResult:
    __slots__ = ("private_key", "public_key", "changed", "actions", "before", "after", "public_pem")

    def __init__(self, private_key: str, public_key: str, changed: bool = False, actions: Optional[List[str]] = None,
                 before: Optional[Dict[str, bool]] = None, after: Optional[Dict[str, bool]] = None,
                 public_pem: Optional[str] = None) -> None:
        self.private_key = private_key
        self.public_key = public_key
        self.changed = changed
        self.actions = [] if actions is None else actions
        self.before = {} if before is None else before
        self.after = {} if after is None else after
        self.public_pem = public_pem


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE + 1)
    except OSError as err:
        raise SigningError("cannot read %s: %s" % (path, err.strerror or err))
    if len(data) > MAX_KEY_FILE:
        raise SigningError("%s is larger than %d bytes: not a key file" % (path, MAX_KEY_FILE))
    return data


def _write(path: str, data: bytes, mode: int) -> None:
    try:
        create_exclusive(path, data, mode)
    except FileExistsError:
        raise SigningError("%s appeared while the key pair was written: it is left as it is" % path)
    except OSError as err:
        raise SigningError("cannot write %s: %s" % (path, err.strerror or err))


def _state(key_path: str, pub_path: str) -> Dict[str, bool]:
    return {"private_key": os.path.lexists(key_path), "public_key": os.path.lexists(pub_path)}


def ensure_key_pair(prefix: str, passphrase: str, check_mode: bool = False) -> KeyPairResult:
    """Create ``prefix.key`` and ``prefix.pub`` if missing. An existing key is kept (and its
    missing ``.pub`` derived from it); a lone ``.pub`` is refused, since its key is elsewhere."""
    key_path, pub_path = prefix + ".key", prefix + ".pub"
    result = KeyPairResult(key_path, pub_path, before=_state(key_path, pub_path))
    has_key, has_pub = result.before["private_key"], result.before["public_key"]
    if has_key:
        key = load_private_key(_read(key_path), passphrase, where=key_path)
        public = public_key_pem(key)
        if has_pub:
            if _read(pub_path).strip() != public.strip():
                raise SigningError("%s is not the public key of %s; neither file was changed" % (pub_path, key_path))
        else:
            result.actions.append("wrote %s from the existing %s" % (pub_path, key_path))
            if not check_mode:
                _write(pub_path, public, 0o644)
    elif has_pub:
        raise SigningError("%s exists without %s: refusing to create a new key pair over it" % (pub_path, key_path))
    else:
        private, public = generate_key_pair(passphrase)
        result.actions.append("generated an ECDSA P-256 key pair: %s and %s" % (key_path, pub_path))
        if not check_mode:
            _write(key_path, private, 0o600)
            _write(pub_path, public, 0o644)
    result.changed = bool(result.actions)
    result.public_pem = public.decode("ascii")
    result.after = {"private_key": True, "public_key": True}
    return result


def remove_key_pair(prefix: str, check_mode: bool = False) -> KeyPairResult:
    key_path, pub_path = prefix + ".key", prefix + ".pub"
    result = KeyPairResult(key_path, pub_path, before=_state(key_path, pub_path))
    for path in (key_path, pub_path):
        if os.path.lexists(path):
            result.actions.append("removed %s" % path)
            if not check_mode:
                try:
                    os.unlink(path)
                except OSError as err:
                    raise SigningError("cannot remove %s: %s" % (path, err.strerror or err))
    result.changed = bool(result.actions)
    result.after = {"private_key": False, "public_key": False}
    return result
