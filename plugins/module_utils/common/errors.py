# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions shared by every layer of the engine.

Every error the engine raises on purpose is an ``UndockError``; modules turn it
into ``fail_json(msg=str(err))``. Messages must name what was wrong and must
never contain a password, token or Authorization header.
"""

from __future__ import annotations


class UndockError(Exception):
    """Base class of every deliberate engine error."""


class InvalidReferenceError(UndockError):
    """A malformed image reference."""


class ConfigError(UndockError):
    """A malformed registries.conf, auth.json, policy or similar file."""


class RegistryError(UndockError):
    """The registry answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class AuthenticationError(RegistryError):
    """Credentials were missing or refused."""


class NotFoundError(RegistryError):
    """The manifest, tag, blob or repository does not exist."""


class TLSError(RegistryError):
    """The TLS handshake or certificate verification failed."""


class ManifestError(UndockError):
    """A manifest is malformed, ambiguous, unsupported or does not verify."""


class DigestMismatchError(UndockError):
    """Content did not hash to the digest it was supposed to have."""


class StoreError(UndockError):
    """The local content store is missing something or is inconsistent."""


class ImageInUseError(StoreError):
    """An image is mounted or used and cannot be removed without force."""


class LayerError(UndockError):
    """A layer is hostile, malformed or too large to unpack."""


class TransientError(RegistryError):
    """A failure worth retrying: a dropped connection, a 5xx or a 429."""


class MissingLibraryError(UndockError):
    """An optional Python library needed for this one operation is not installed."""

    def __init__(self, library: str, reason: str):
        super().__init__("the Python library %s is required %s (pip install %s, or Debian's python3-%s)"
                         % (library, reason, library, library.lower().replace("py", "", 1)))
        self.library = library


class SigningError(UndockError):
    """A key or signature could not be read, written or made."""


class PolicyRejectedError(UndockError):
    """The trust policy refused an image; the message names the requirement and why."""
