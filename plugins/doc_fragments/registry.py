# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Registry credentials and TLS options, for the modules that talk to a registry (and only those).
    DOCUMENTATION = r"""
options:
  username:
    description:
      - User name for the registry that O(name) is on (for a push, the destination), used instead of the
        credentials the auth files hold for it.
      - Sent to that registry only, never to another host, to a C(registries.conf) mirror, or to a token service
        on another host over plain http. Other registries get what the auth files hold for them.
    type: str
  password:
    description:
      - Password or token for O(username). Never logged or returned.
    type: str
  auth_file:
    description:
      - Path of an C(auth.json) (or Docker C(config.json)) to read credentials from.
      - Without it, the containers auth.json lookup chain is used
        (C($REGISTRY_AUTH_FILE), C($XDG_RUNTIME_DIR/containers/auth.json),
        C(~/.config/containers/auth.json), C($DOCKER_CONFIG/config.json), C(~/.docker/config.json)).
    type: path
  validate_certs:
    description:
      - Verify the registry's TLS certificate.
      - When V(false), plain HTTP is also allowed, as with C(--tls-verify=false) in podman and skopeo.
      - When unset, the C(insecure) setting of C(registries.conf) decides, and certificates are verified otherwise.
    type: bool
    aliases: [tls_verify]
  ca_cert:
    description:
      - PEM file of CA certificates to trust for the registry, in addition to
        C(/etc/containers/certs.d/HOST/*.crt).
    type: path
  client_cert:
    description:
      - PEM client certificate for TLS client authentication. Requires O(client_key).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert).
    type: path
  certs_dir:
    description:
      - Directory of per-registry TLS files, laid out as C(DIR/HOST[:PORT]/{ca.crt,client.cert,client.key}),
        used instead of C(~/.config/containers/certs.d), C(/etc/containers/certs.d) and C(/etc/docker/certs.d).
    type: path
    aliases: [ca_cert_dir]
  request_timeout:
    description:
      - Overall deadline, in seconds, of one registry request (headers and body, retries, redirects and the token
        request included), on top of the per-read timeout; a server that trickles its answer fails with an error
        naming the host instead of hanging.
      - A blob download gets this plus its declared size at O(min_transfer_rate).
    type: float
    default: 300.0
  min_transfer_rate:
    description:
      - Slowest blob download, in bytes per second, that is waited for. A blob of N bytes must arrive within
        O(request_timeout) + N / O(min_transfer_rate) seconds.
    type: int
    default: 65536
"""

    # Short-name resolution and mirrors, for every module that names images the way podman does.
    NAMES = r"""
options:
  registries_conf:
    description:
      - Path of C(registries.conf) to use instead of C(/etc/containers/registries.conf)
        (and the C(registries.conf.d) directory beside it).
    type: path
"""
