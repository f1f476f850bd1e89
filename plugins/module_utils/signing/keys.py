# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signing keys in the files cosign reads and writes.

A private key is either cosign's encrypted form (a PEM block ``ENCRYPTED SIGSTORE PRIVATE KEY``,
or the older ``ENCRYPTED COSIGN PRIVATE KEY``, around JSON naming scrypt and ``nacl/secretbox``
with their salt, nonce and the sealed PKCS#8 DER) or a plain ``PRIVATE KEY`` / ``EC PRIVATE KEY``
PEM. Public keys are ``PUBLIC KEY`` PEM (SubjectPublicKeyInfo). Only ECDSA keys sign here.

scrypt and ECDSA come from ``cryptography``; secretbox from PyNaCl, imported only where an
encrypted key is read or written.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re

from ..common.deps import note_missing, require
from ..common.errors import MissingLibraryError, SigningError
from ..common.jsonutil import load_json

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
except ImportError as import_error:  # pragma: no cover - depends on the managed host
    note_missing("cryptography", import_error)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

ENCRYPTED_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
LEGACY_ENCRYPTED_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
# What cosign's generate-key-pair uses (go-securesystemslib's encrypted package defaults).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
_MAX_SCRYPT_N = 1 << 20   # a hostile key file must not make us allocate gigabytes
SALT_SIZE, NONCE_SIZE, KEY_SIZE = 32, 24, 32

_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


def _pem_blocks(data: bytes, where: str) -> List[Tuple[str, bytes]]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise SigningError("%s: not a PEM file" % where)
    blocks = []
    for match in _PEM_RE.finditer(text):
        body = "".join(line for line in match.group(2).splitlines() if ":" not in line)
        try:
            blocks.append((match.group(1), base64.b64decode(body, validate=True)))
        except (binascii.Error, ValueError) as err:
            raise SigningError("%s: PEM block %s is not base64: %s" % (where, match.group(1), err))
    if not blocks:
        raise SigningError("%s: no PEM block found" % where)
    return blocks


def _pem(kind: str, der: bytes) -> bytes:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, "\n".join(lines), kind)).encode("ascii")


def _secretbox() -> Any:
    try:
        import nacl.exceptions
        import nacl.secret
    except ImportError as err:
        raise MissingLibraryError("PyNaCl", "to read or write an encrypted cosign key (%s)" % err)
    return nacl


def _scrypt_key(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEY_SIZE, n=n, r=r, p=p).derive(passphrase)


def encrypt_private_key(key: Any, passphrase: str) -> bytes:
    """The PEM cosign's generate-key-pair writes for ``key`` sealed with ``passphrase``."""
    require("cryptography")
    nacl = _secretbox()
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt, nonce = os.urandom(SALT_SIZE), os.urandom(NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt_key(passphrase.encode("utf-8"), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    sealed = box.encrypt(der, nonce).ciphertext  # authenticator then ciphertext, as Go's secretbox.Seal
    document = {
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": base64.b64encode(salt).decode("ascii")},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode("ascii")},
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
    }
    return _pem(ENCRYPTED_PEM_TYPE, json.dumps(document, separators=(",", ":")).encode("ascii"))


def _decrypt(sealed_json: bytes, passphrase: Optional[str], where: str) -> bytes:
    try:
        document = load_json(sealed_json, "%s: encrypted key" % where, error=SigningError, expect=dict)
        kdf, cipher = document["kdf"], document["cipher"]
        if kdf.get("name") != "scrypt":
            raise SigningError("%s: unsupported key derivation %r (only scrypt)" % (where, kdf.get("name")))
        if cipher.get("name") != "nacl/secretbox":
            raise SigningError("%s: unsupported cipher %r (only nacl/secretbox)" % (where, cipher.get("name")))
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        sealed = base64.b64decode(document["ciphertext"], validate=True)
    except SigningError:
        raise
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, binascii.Error) as err:
        raise SigningError("%s: malformed encrypted key: %s" % (where, err))
    if not (1 < n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16):
        raise SigningError("%s: scrypt parameters N=%d r=%d p=%d are out of range" % (where, n, r, p))
    if len(nonce) != NONCE_SIZE:
        raise SigningError("%s: secretbox nonce is %d bytes, not %d" % (where, len(nonce), NONCE_SIZE))
    if passphrase is None:
        raise SigningError("%s is encrypted: a passphrase is required" % where)
    nacl = _secretbox()
    key = _scrypt_key(passphrase.encode("utf-8"), salt, n, r, p)
    try:
        return nacl.secret.SecretBox(key).decrypt(sealed, nonce)
    except nacl.exceptions.CryptoError:
        raise SigningError("%s: wrong passphrase, or the key file is corrupt" % where)


def load_private_key(data: bytes, passphrase: Optional[str] = None, where: str = "private key") -> Any:
    """An ECDSA private key from cosign's encrypted PEM or from plain PKCS#8 / SEC1 PEM."""
    require("cryptography")
    kind, der = _pem_blocks(data, where)[0]
    if kind in (ENCRYPTED_PEM_TYPE, LEGACY_ENCRYPTED_PEM_TYPE):
        der = _decrypt(der, passphrase, where)
        loader = serialization.load_der_private_key
    elif kind in ("PRIVATE KEY", "EC PRIVATE KEY"):
        loader = serialization.load_der_private_key
    else:
        raise SigningError("%s: unsupported PEM type %r (expected %s or PRIVATE KEY)" % (where, kind, ENCRYPTED_PEM_TYPE))
    try:
        key = loader(der, None)
    except (ValueError, TypeError) as err:
        raise SigningError("%s: not a usable private key: %s" % (where, err))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningError("%s: only ECDSA keys are supported, not %s" % (where, type(key).__name__))
    return key


def load_public_keys(data: bytes, where: str = "public key") -> List[Any]:
    """Every ECDSA public key in a PEM file (``PUBLIC KEY`` blocks)."""
    require("cryptography")
    keys = []
    for kind, der in _pem_blocks(data, where):
        if kind != "PUBLIC KEY":
            raise SigningError("%s: PEM type %r is not PUBLIC KEY" % (where, kind))
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, TypeError) as err:
            raise SigningError("%s: not a usable public key: %s" % (where, err))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise SigningError("%s: only ECDSA public keys are supported, not %s" % (where, type(key).__name__))
        keys.append(key)
    return keys


def public_key_pem(key: Any) -> bytes:
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_key_pair(passphrase: str) -> Tuple[bytes, bytes]:
    """(private PEM, public PEM) of a new P-256 key, the private one encrypted as cosign does."""
    require("cryptography")
    key = ec.generate_private_key(ec.SECP256R1())
    return encrypt_private_key(key, passphrase), public_key_pem(key)


def sign_bytes(key: Any, payload: bytes) -> bytes:
    """ASN.1 DER ECDSA signature of SHA-256(payload), what cosign puts in the annotation."""
    return key.sign(payload, ec.ECDSA(hashes.SHA256()))


def verify_bytes(public_key: Any, payload: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
