# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Signing what is pushed, and the trust policy of pulls: the modules that push and pull images
    # (module_base.SIGNING_ARGS).
    DOCUMENTATION = r"""
options:
  sign_by:
    description:
      - With O(push=true), sign what is pushed with this private key, with a sigstore (cosign) signature stored under
        the registry's C(sha256-HEX.sig) tag, as cosign and podman write it, for the identity O(name).
      - The key is cosign's encrypted format (see M(undock.oci.oci_signing_key)), opened with O(sign_passphrase),
        or an unencrypted PKCS#8 ECDSA PEM key.
      - Signatures accumulate; an image this key already signed for O(name) is not signed again (no change).
    type: path
  sign_passphrase:
    description:
      - Passphrase of the O(sign_by) key. Never logged or returned.
    type: str
  policy:
    description:
      - The trust policy (containers-policy.json(5)) every pull must satisfy, checked on the manifest and its
        signatures before any layer is fetched. A rejected image leaves nothing in the store, and the error names
        the scope, the requirement and why (no signature, a bad signature, a signature for another digest or for
        another identity).
      - A path to a C(policy.json), or the policy itself as a dict.
      - Without it, C(~/.config/containers/policy.json) is used if it exists, else C(/etc/containers/policy.json);
        with neither, every image is accepted.
      - Supported requirements are C(insecureAcceptAnything), C(reject) and C(sigstoreSigned) with C(keyPath),
        C(keyPaths), C(keyData) or C(keyDatas) and any C(signedIdentity) (C(matchExact), C(matchRepoDigestOrExact),
        C(matchRepository), C(exactReference), C(exactRepository), C(remapIdentity)). A scope that needs GPG
        C(signedBy), C(signedBaseLayer) or keyless sigstore (fulcio, rekor) rejects every image, saying so.
      - An image that is already in the store and is not pulled again is not checked (containers/image, too,
        checks the policy only when it pulls).
    type: raw
"""
