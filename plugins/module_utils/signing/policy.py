# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""containers-policy.json(5): which images may be pulled, and whose signatures they need.

``{"default": [REQ...], "transports": {TRANSPORT: {SCOPE: [REQ...]}}}``. The scope of an image is
found like containers/image does (see signing.location): for ``docker`` its full ``name:tag`` or
``name@digest``, then the repository, each parent namespace, ``*.`` wildcards of the host's
parent domains; for ``oci`` and ``oci-archive`` the path and its parent directories; then the
transport's ``""``, then ``default``. Every requirement of the chosen list must be satisfied.

Signatures are read only from registries: a ``sigstoreSigned`` requirement on an image loaded
from a file (``oci``, ``oci-archive``, ``docker-archive``) is never satisfied, saying so.

Supported requirements: ``insecureAcceptAnything``, ``reject`` and ``sigstoreSigned`` with public
keys. GPG ``signedBy``, ``signedBaseLayer`` and keyless sigstore (fulcio, rekor, pki) are
understood as names but never accepted: an image whose scope needs one is refused, saying so.
"""

from __future__ import annotations

import base64
import binascii
import os

from ..common.errors import ConfigError, ManifestError, PolicyRejectedError, SigningError, UndockError
from ..common.jsonutil import load_json
from ..model.manifest import parse_manifest
from ..model.reference import Reference
from .identity import SignedIdentity, parse_signed_identity
from .location import DOCKER, ImageLocation, check_scope

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Union
    from .sigstore import Signature

# keys and sigstore (and with them cryptography) are imported by a sigstoreSigned check only:
# a pull under insecureAcceptAnything or reject does not load them.

SYSTEM_POLICY = "/etc/containers/policy.json"
MAX_POLICY_SIZE = 4 * 1024 * 1024

_UNSUPPORTED = {"signedBy": "GPG signatures (signedBy) are not supported",
                "signedBaseLayer": "signedBaseLayer is not supported"}
_SIGSTORE_KEY_FIELDS = ("keyPath", "keyPaths", "keyData", "keyDatas")
_SIGSTORE_KEYLESS_FIELDS = ("fulcio", "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData",
                            "rekorPublicKeyDatas", "pki")


def user_policy_path() -> str:
    return os.path.join(os.path.expanduser("~"), ".config", "containers", "policy.json")


class UnverifiedImage:
    """What the policy judges: the name it is pulled as (None for a file), its top manifest bytes,
    a way to list its signatures (called only if a requirement needs them), and, for a file,
    where it is read from (by default, the registry image ``reference``)."""

    __slots__ = ("reference", "manifest_raw", "list_signatures", "location", "_signatures")

    def __init__(self, reference: Optional[Reference], manifest_raw: bytes,
                 list_signatures: Callable[[], List["Signature"]], location: Optional[ImageLocation] = None) -> None:
        self.reference = reference
        self.manifest_raw = manifest_raw
        self.list_signatures = list_signatures
        self.location = location
        self._signatures: Optional[List["Signature"]] = None

    @property
    def where(self) -> ImageLocation:
        return self.location or ImageLocation(DOCKER, reference=self.reference)

    def signatures(self) -> List["Signature"]:
        if self._signatures is None:
            self._signatures = list(self.list_signatures())
        return self._signatures


class Requirement:
    kind = ""

    def describe(self) -> str:
        return self.kind

    def check(self, image: UnverifiedImage) -> None:
        """Return if satisfied; raise PolicyRejectedError's reason as a SigningError otherwise."""
        raise NotImplementedError


class AcceptAnything(Requirement):
    kind = "insecureAcceptAnything"

    def check(self, image: UnverifiedImage) -> None:
        return None


class Reject(Requirement):
    kind = "reject"

    def check(self, image: UnverifiedImage) -> None:
        raise SigningError("the policy rejects every image in this scope")


class Unsupported(Requirement):
    def __init__(self, kind_name: str, reason: str) -> None:
        self.kind_name = kind_name
        self.reason = reason

    def describe(self) -> str:
        return self.kind_name

    def check(self, image: UnverifiedImage) -> None:
        raise SigningError("%s by undock.oci, so no image in this scope can be accepted" % self.reason)


class SigstoreSigned(Requirement):
    kind = "sigstoreSigned"

    def __init__(self, key_sources: List[str], key_loaders: List[Callable[[], bytes]], identity: SignedIdentity) -> None:
        self.key_sources = key_sources      # file paths or "keyData" labels, for messages
        self.key_loaders = key_loaders
        self.identity = identity
        self._keys: Optional[List[Any]] = None

    def describe(self) -> str:
        return "sigstoreSigned by %s, signedIdentity %s" % (", ".join(self.key_sources), self.identity.describe())

    def public_keys(self) -> List[Any]:
        if self._keys is None:
            from .keys import load_public_keys
            keys: List[Any] = []
            for source, loader in zip(self.key_sources, self.key_loaders):
                try:
                    keys.extend(load_public_keys(loader(), where=source))
                except SigningError as err:
                    raise ConfigError("policy: %s" % err)
            self._keys = keys
        return self._keys

    def check(self, image: UnverifiedImage) -> None:
        if image.where.transport != DOCKER or image.reference is None:
            raise SigningError("no signature: images loaded from %s: files carry no signatures undock.oci can "
                               "read (it reads sigstore signatures from registries only), so sigstoreSigned "
                               "cannot be satisfied" % image.where.transport)
        keys = self.public_keys()
        try:
            digest = parse_manifest(image.manifest_raw).digest
        except ManifestError as err:
            raise SigningError("the image's manifest cannot be checked against a signature: %s" % err)
        signatures = image.signatures()
        candidates = [sig for sig in signatures if sig.is_simple_signing]
        if not candidates:
            if signatures:
                raise SigningError("no signature: %d attachment(s) under the signature tag, none of type "
                                   "simple-signing" % len(signatures))
            raise SigningError("no signature")
        from .sigstore import verify
        reasons = []
        for number, sig in enumerate(candidates, 1):
            try:
                payload = verify(sig, keys)
            except SigningError as err:
                reasons.append("signature %d: bad signature: %s" % (number, err))
                continue
            if payload.manifest_digest != digest:
                reasons.append("signature %d: signed for another digest, %s, not %s"
                               % (number, payload.manifest_digest, digest))
                continue
            if not self.identity.matches(image.reference, payload.docker_reference):
                reasons.append("signature %d: signed for another identity, %r, which does not fit %s under %s"
                               % (number, payload.docker_reference, image.reference, self.identity.describe()))
                continue
            return None
        raise SigningError("none of %d signature(s) is accepted: %s" % (len(candidates), "; ".join(reasons)))


def _read_file(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_POLICY_SIZE + 1)
        except OSError as err:
            raise ConfigError("policy: cannot read key file %s: %s" % (path, err.strerror or err))
        if len(data) > MAX_POLICY_SIZE:
            raise ConfigError("policy: key file %s is larger than %d bytes" % (path, MAX_POLICY_SIZE))
        return data
    return read


def _key_data(value: Any, where: str) -> Callable[[], bytes]:
    if not isinstance(value, str):
        raise ConfigError("%s: keyData must be a base64 string" % where)
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ConfigError("%s: keyData is not base64: %s" % (where, err))
    return lambda: data


def _parse_sigstore(data: Dict[str, Any], where: str) -> Requirement:
    keyless = [name for name in _SIGSTORE_KEYLESS_FIELDS if name in data]
    if keyless:
        return Unsupported("sigstoreSigned", "keyless sigstore verification (%s) is not supported" % ", ".join(keyless))
    extra = set(data) - {"type", "signedIdentity"} - set(_SIGSTORE_KEY_FIELDS)
    if extra:
        raise ConfigError("%s: sigstoreSigned has unknown field(s) %s" % (where, ", ".join(sorted(extra))))
    given = [name for name in _SIGSTORE_KEY_FIELDS if name in data]
    if len(given) != 1:
        raise ConfigError("%s: sigstoreSigned needs exactly one of keyPath, keyPaths, keyData, keyDatas (got %s)"
                          % (where, ", ".join(given) or "none"))
    name, value = given[0], data[given[0]]
    sources: List[str] = []
    loaders: List[Callable[[], bytes]] = []
    values = value if name.endswith("s") else [value]
    if not isinstance(values, list) or not values:
        raise ConfigError("%s: %s must be a non-empty list" % (where, name))
    for index, item in enumerate(values):
        if name.startswith("keyPath"):
            if not isinstance(item, str) or not item:
                raise ConfigError("%s: %s entries must be file paths" % (where, name))
            sources.append(item)
            loaders.append(_read_file(item))
        else:
            sources.append("%s[%d]" % (name, index) if name == "keyDatas" else "keyData")
            loaders.append(_key_data(item, where))
    return SigstoreSigned(sources, loaders, parse_signed_identity(data.get("signedIdentity"), where))


def parse_requirement(data: Any, where: str) -> Requirement:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ConfigError("%s: a requirement must be an object with a type" % where)
    kind = data["type"]
    if kind == "insecureAcceptAnything":
        if set(data) != {"type"}:
            raise ConfigError("%s: insecureAcceptAnything takes no other field" % where)
        return AcceptAnything()
    if kind == "reject":
        if set(data) != {"type"}:
            raise ConfigError("%s: reject takes no other field" % where)
        return Reject()
    if kind == "sigstoreSigned":
        return _parse_sigstore(data, where)
    if kind in _UNSUPPORTED:
        return Unsupported(kind, _UNSUPPORTED[kind])
    raise ConfigError("%s: unknown requirement type %r" % (where, kind))


def _requirements(data: Any, where: str) -> List[Requirement]:
    if not isinstance(data, list) or not data:
        raise ConfigError("%s: requirements must be a non-empty list" % where)
    return [parse_requirement(item, "%s[%d]" % (where, index)) for index, item in enumerate(data)]


class Policy:
    __slots__ = ("source", "default", "transports")

    def __init__(self, source: str, default: List[Requirement],
                 transports: Dict[str, Dict[str, List[Requirement]]]) -> None:
        self.source = source
        self.default = default
        self.transports = transports

    def requirements_for(self, ref: Reference) -> "tuple[str, List[Requirement]]":
        """(scope description, requirements) for an image pulled from a registry as ``ref``."""
        return self.requirements_at(ImageLocation(DOCKER, reference=ref))

    def requirements_at(self, location: ImageLocation) -> "tuple[str, List[Requirement]]":
        """(scope description, requirements) for an image read from ``location``: the longest scope."""
        scopes = self.transports.get(location.transport)
        if scopes is not None:
            for name in location.scopes() + [""]:
                if name in scopes:
                    return 'transports.%s["%s"]' % (location.transport, name), scopes[name]
        return "default", self.default

    def check(self, image: UnverifiedImage) -> None:
        """Raise PolicyRejectedError naming the scope, the requirement and why, unless allowed."""
        scope, requirements = self.requirements_at(image.where)
        for number, requirement in enumerate(requirements, 1):
            try:
                requirement.check(image)
            except SigningError as err:
                raise PolicyRejectedError("image %s rejected by the policy %s, scope %s, requirement %d (%s): %s"
                                          % (image.where, self.source, scope, number, requirement.describe(), err))


def parse_policy(data: Any, source: str) -> Policy:
    if not isinstance(data, dict):
        raise ConfigError("policy %s: not a JSON object" % source)
    extra = set(data) - {"default", "transports"}
    if extra:
        raise ConfigError("policy %s: unknown top-level field(s) %s" % (source, ", ".join(sorted(extra))))
    if "default" not in data:
        raise ConfigError("policy %s: no default requirements" % source)
    default = _requirements(data["default"], "policy %s: default" % source)
    transports: Dict[str, Dict[str, List[Requirement]]] = {}
    raw_transports = data.get("transports") or {}
    if not isinstance(raw_transports, dict):
        raise ConfigError("policy %s: transports must be an object" % source)
    for transport, scopes in raw_transports.items():
        if not isinstance(scopes, dict):
            raise ConfigError("policy %s: transports.%s must be an object" % (source, transport))
        parsed: Dict[str, List[Requirement]] = {}
        for scope, requirements in scopes.items():
            where = 'policy %s: transports.%s["%s"]' % (source, transport, scope)
            if scope:
                check_scope(transport, scope, where)
            parsed[scope] = _requirements(requirements, where)
        transports[transport] = parsed
    return Policy(source, default, transports)


def load_policy_file(path: str) -> Policy:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_POLICY_SIZE + 1)
    except OSError as err:
        raise ConfigError("cannot read policy %s: %s" % (path, err.strerror or err))
    if len(raw) > MAX_POLICY_SIZE:
        raise ConfigError("policy %s is larger than %d bytes" % (path, MAX_POLICY_SIZE))
    data = load_json(raw, "policy %s" % path, error=ConfigError)
    return parse_policy(data, path)


def load_policy(option: Union[None, str, Dict[str, Any]] = None) -> Optional[Policy]:
    """The policy a ``policy`` option names (a path or the policy itself), else
    ``~/.config/containers/policy.json`` if it exists, else ``/etc/containers/policy.json``;
    None when there is none at all (every image is then accepted, as before policies)."""
    if isinstance(option, dict):
        return parse_policy(option, "given inline")
    if isinstance(option, str) and option:
        return load_policy_file(option)
    if option is not None and option != "":
        raise ConfigError("policy must be a path or a policy object, not %s" % type(option).__name__)
    for path in (user_policy_path(), SYSTEM_POLICY):
        if os.path.exists(path):
            return load_policy_file(path)
    return None


def check_image(policy: Optional[Policy], image: UnverifiedImage) -> None:
    """Raise PolicyRejectedError unless ``policy`` (None: no policy at all) allows ``image``."""
    if policy is None:
        return
    try:
        policy.check(image)
    except PolicyRejectedError:
        raise
    except ConfigError:
        raise
    except UndockError as err:
        raise PolicyRejectedError("image %s rejected by the policy %s: %s" % (image.where, policy.source, err))
