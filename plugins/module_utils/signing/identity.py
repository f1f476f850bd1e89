# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``signedIdentity`` rules of policy.json: does a signature's docker-reference fit the image?

The semantics are containers/image's (containers-policy.json(5)): a reference with neither tag
nor digest is "name only"; cosign signs name-only identities, so ``matchExact`` never accepts
them while ``matchRepository`` does.
"""

from __future__ import annotations

from collections import namedtuple

from ..common.errors import ConfigError, InvalidReferenceError
from ..model.reference import Reference, parse_reference

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

IDENTITY_TYPES = ("matchExact", "matchRepoDigestOrExact", "matchRepository", "exactReference",
                  "exactRepository", "remapIdentity")


def parse_identity_reference(text: str) -> Optional[Reference]:
    """A signed docker-reference, name-only kept so; None if it does not parse."""
    try:
        ref = parse_reference(text, default_tag=None)
    except InvalidReferenceError:
        return None
    return ref


def _name_only(ref: Reference) -> bool:
    return ref.tag is None and ref.digest is None


def _repo_digest_or_exact(intended: Reference, signed: Reference) -> bool:
    if _name_only(signed):
        return False
    if intended.tag is not None:
        return str(signed) == str(intended)
    if intended.digest is not None:
        return signed.name == intended.name
    return False


class SignedIdentity(namedtuple("SignedIdentity", "kind reference prefix signed_prefix", defaults=(None, "", ""))):
    """A policy's signedIdentity: kind (str); reference (Optional[Reference]), for exactReference
    and exactRepository; prefix and signed_prefix (str), for remapIdentity."""

    __slots__ = ()

    def describe(self) -> str:
        if self.kind == "exactReference" or self.kind == "exactRepository":
            return "%s %s" % (self.kind, self.reference)
        if self.kind == "remapIdentity":
            return "remapIdentity %s -> %s" % (self.prefix, self.signed_prefix)
        return self.kind

    def matches(self, intended: Reference, signed_text: str) -> bool:
        signed = parse_identity_reference(signed_text)
        if signed is None:
            return False
        if self.kind == "matchExact":
            return not _name_only(intended) and not _name_only(signed) and str(signed) == str(intended)
        if self.kind == "matchRepoDigestOrExact":
            return _repo_digest_or_exact(intended, signed)
        if self.kind == "matchRepository":
            return signed.name == intended.name
        if self.kind == "exactReference" and self.reference is not None:
            return not _name_only(signed) and str(signed) == str(self.reference)
        if self.kind == "exactRepository" and self.reference is not None:
            return signed.name == self.reference.name
        remapped = self._remap(intended)
        return remapped is not None and _repo_digest_or_exact(remapped, signed)

    def _remap(self, intended: Reference) -> Optional[Reference]:
        name = intended.name
        if name != self.prefix and not name.startswith(self.prefix + "/"):
            return intended
        text = self.signed_prefix + str(intended)[len(self.prefix):]
        return parse_identity_reference(text)


def _prefix(value: Any, field: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("%s: remapIdentity needs a non-empty %r" % (where, field))
    ref = parse_identity_reference(value)
    if "/" in value:
        if ref is None or ref.short_name or not _name_only(ref) or ref.name != value:
            raise ConfigError("%s: remapIdentity %s %r is not a fully qualified repository or namespace"
                              % (where, field, value))
    return value


def parse_signed_identity(data: Any, where: str) -> SignedIdentity:
    """A ``signedIdentity`` object; missing means matchRepoDigestOrExact."""
    if data is None:
        return SignedIdentity("matchRepoDigestOrExact")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ConfigError("%s: signedIdentity must be an object with a type" % where)
    kind = data["type"]
    if kind not in IDENTITY_TYPES:
        raise ConfigError("%s: unknown signedIdentity type %r (supported: %s)" % (where, kind, ", ".join(IDENTITY_TYPES)))
    fields: Dict[str, tuple] = {"exactReference": ("dockerReference",), "exactRepository": ("dockerRepository",),
                                "remapIdentity": ("prefix", "signedPrefix")}
    extra = set(data) - {"type"} - set(fields.get(kind, ()))
    if extra:
        raise ConfigError("%s: signedIdentity %s has unknown field(s) %s" % (where, kind, ", ".join(sorted(extra))))
    if kind in ("exactReference", "exactRepository"):
        field = fields[kind][0]
        ref = parse_identity_reference(data.get(field)) if isinstance(data.get(field), str) else None
        if ref is None:
            raise ConfigError("%s: signedIdentity %s needs a valid %r" % (where, kind, field))
        if kind == "exactReference" and _name_only(ref):
            raise ConfigError("%s: exactReference %r has neither tag nor digest" % (where, data[field]))
        if kind == "exactRepository" and not _name_only(ref):
            raise ConfigError("%s: exactRepository %r must be a repository, without tag or digest" % (where, data[field]))
        return SignedIdentity(kind, reference=ref)
    if kind == "remapIdentity":
        return SignedIdentity(kind, prefix=_prefix(data.get("prefix"), "prefix", where),
                              signed_prefix=_prefix(data.get("signedPrefix"), "signedPrefix", where))
    return SignedIdentity(kind)
