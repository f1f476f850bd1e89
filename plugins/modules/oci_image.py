#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_image
short_description: Pull, load, push, export and remove OCI images with no container engine
version_added: 0.1.0
description:
  - Manages images in the local content store of this collection, an OCI image layout at O(storage_root)
    that C(skopeo) and C(umoci) can read.
  - Talks to registries with its own Python engine. No podman, docker, skopeo or daemon is needed on the target.
  - Reads C(registries.conf), C(auth.json) and C(certs.d) like podman and skopeo do; per-task options override them.
    See the collection's C(docs/configuration.md).
  - Manifests are stored byte for byte as pulled, so digests and signatures keep working.
  - Every layer is unpacked once into the store as it downloads (in the same pass), shared by every image
    that uses it, ready to be mounted with overlayfs. Hostile layers are refused with an error naming the entry.
options:
  name:
    description:
      - Image reference, for example V(busybox), V(quay.io/org/app:1.2) or V(registry:5000/app@sha256:...).
      - Short names are resolved through C(unqualified-search-registries), else C(docker.io).
      - The image is stored under its full normalised reference.
      - A reference by digest (V(name@sha256:...)) whose manifest is already in the store under another name of
        the same repository (pulled by tag) is that image. Nothing is pulled, the registry is not contacted, and
        no second entry is added. RV(image.name) is then the name it is stored under, and O(state=absent) removes it.
    type: str
    required: true
  state:
    description:
      - V(present) makes the image present in the store (pulling or loading it per O(pull) and O(source)).
      - V(absent) removes the name from the store, and the blobs and unpacked layers no other image uses.
        O(source), O(push), O(export_to) and O(platform) make no sense with it and are refused.
    type: str
    choices: [present, absent]
    default: present
  pull:
    description:
      - V(missing) pulls only when the image is not in the store.
      - V(newer) checks the registry and pulls if its digest differs; if the registry cannot be reached,
        the local image is kept with a warning.
      - V(always) checks the registry and pulls if its digest differs; errors fail the task.
        It also verifies every stored blob of the image against its digest. A corrupt one is removed and
        fetched again (reported as a warning and in RV(actions), and RV(ignore:changed=true)).
      - V(never) uses the local image and fails if it is missing.
      - An unchanged digest reports RV(ignore:changed=false) whatever the policy.
      - A reference by digest that is in the store is never looked up again, whatever the policy (a digest cannot
        move), so it works offline.
    type: str
    choices: [missing, newer, always, never]
    default: missing
  platform:
    description:
      - Platform to select from a multi-platform image, as V(os/arch[/variant]) or V(arch), for example
        V(linux/arm64). Defaults to the managed host's platform.
      - A malformed value fails the task before any registry is contacted.
    type: str
  source:
    description:
      - Copy the image from here instead of from the registry O(name) points to, and store it as O(name).
      - A registry reference (optionally prefixed V(docker://)), V(oci:DIR[:REF]),
        V(oci-archive:FILE[:REF]) or V(docker-archive:FILE[:REF]).
    type: str
  source_username:
    description:
      - User name for the registry of a registry O(source), as C(skopeo copy --src-creds) takes it. Requires
        O(source_password).
      - O(username) never goes to the source registry; without O(source_username) it gets what the auth files
        hold for it.
    type: str
  source_password:
    description:
      - Password or token for O(source_username). Never logged or returned.
    type: str
  push:
    description:
      - Make the registry's O(name) match the local image, uploading only missing blobs.
      - A no-op when the registry already has the same manifest digest.
    type: bool
    default: false
  export_to:
    description:
      - Also write the image to V(oci:DIR:REF), V(oci-archive:FILE:REF) or V(docker-archive:FILE:REF).
      - A no-op when the target already holds the same manifest digest.
      - A malformed target fails the task before anything is pulled.
    type: str
  force:
    description:
      - Only with O(state=absent). An image that is in use (mounted by M(undock.oci.oci_mount) or a scan) is
        not removed; the task fails with an error naming each user. With O(force=true) those mounts are
        unmounted first, then the image is removed.
      - An image that a container of M(undock.oci.oci_container) uses is never removed, even with
        O(force=true) and while the container is not mounted (after a reboot); remove the container first.
      - With O(state=present) it has no meaning (O(pull=always) is what refreshes an image), and V(true) is refused.
    type: bool
    default: false
requirements:
  - Python 3.9 or newer on the managed host
  - requests (Debian and RHEL package C(python3-requests))
  - jsonschema (Debian and RHEL package C(python3-jsonschema))
  - On Python 3.9 and 3.10 only, tomli (Debian and RHEL package C(python3-tomli)), to read C(registries.conf)
  - cryptography (C(python3-cryptography)), to verify signatures or sign
  - PyNaCl (C(python3-nacl)), only to sign with an encrypted O(sign_by) key
  - Optional, for zstd layers, zstandard (C(python3-zstandard)); for faster gzip, isal (Debian C(python3-isal))
extends_documentation_fragment:
  - undock.oci.registry
  - undock.oci.registry.names
  - undock.oci.signing
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description: Nothing is written, neither to the store nor to a registry; only read-only requests are made.
  diff_mode:
    support: full
    description: Shows the image digest before and after.
notes:
  - O(policy) also checks loads from O(source) files, by the scopes of their transports as containers-policy.json(5)
    defines them. C(oci) and C(oci-archive) scopes are absolute paths, matched against the directory or file
    with symlinks resolved (the C(:REF) inside it is not part of the scope), then each parent directory. C(docker-archive)
    has only its C("") scope. Signatures are read from registries only, so C(sigstoreSigned) rejects every
    file source, saying so; use C(insecureAcceptAnything) for the paths you trust.
  - O(policy) is checked whenever the registry or the file is looked at again (O(pull=newer) or
    O(pull=always), and every load from a file), even when the digest has not changed. An image already in
    the store that the policy now rejects is removed from it (unless a mount uses it; the error then says so)
    and the task fails naming the requirement and why. O(pull=missing) with the image present, and a
    reference by digest that is in the store, read nothing and check nothing.
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: Pull an image if it is missing
  undock.oci.oci_image:
    name: docker.io/library/busybox:1.36

- name: Follow a moving tag
  undock.oci.oci_image:
    name: quay.io/org/app:stable
    pull: newer

- name: Pull the arm64 image of a multi-platform tag
  undock.oci.oci_image:
    name: registry.example.com/app:1.0
    platform: linux/arm64

- name: Load an image from an OCI layout and push it to a private registry
  undock.oci.oci_image:
    name: registry.example.com:5000/team/app:1.0
    source: oci:/srv/build/layout:app
    push: true
    username: ci
    password: "{{ registry_password }}"
    ca_cert: /etc/pki/registry-ca.pem

- name: Copy an image between two private registries, each with its own credentials
  undock.oci.oci_image:
    name: registry.example.com/mirror/app:1.0
    source: docker://quay.io/org/app:1.0
    source_username: robot
    source_password: "{{ quay_token }}"
    push: true
    username: ci
    password: "{{ registry_password }}"

- name: Export an image as a docker-archive for an air-gapped site
  undock.oci.oci_image:
    name: docker.io/library/busybox:1.36
    export_to: docker-archive:/srv/export/busybox.tar:busybox:1.36

- name: Remove an image
  undock.oci.oci_image:
    name: docker.io/library/busybox:1.36
    state: absent

- name: Use one store for every module of the collection
  module_defaults:
    group/undock.oci.oci:
      storage_root: /srv/undock
  block:
    - undock.oci.oci_image:
        name: docker.io/library/alpine:3.20
"""

RETURN = r"""
image:
  description: The image after the task (with O(state=absent), the image that was removed, if any).
  returned: when state is present
  type: dict
  contains:
    name:
      description: Full normalised reference the image is stored under.
      type: str
      sample: docker.io/library/busybox:1.36
    digest:
      description: Manifest digest of the single-platform image.
      type: str
      sample: sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79
    id:
      description: Image ID, the digest of its config.
      type: str
    media_type:
      description: Media type of the manifest.
      type: str
      sample: application/vnd.oci.image.manifest.v1+json
    source_digest:
      description: Digest the reference resolved to at its source; the index digest for a multi-platform image.
      type: str
    platform:
      description: Platform of the image, C(os/architecture[/variant]).
      type: str
      sample: linux/amd64
    size:
      description: Bytes of manifest, config and (compressed) layers.
      type: int
    layers:
      description: Layer digests, base first.
      type: list
      elements: str
    config:
      description: The C(config) section of the image config (Env, Cmd, Entrypoint, Labels...).
      type: dict
    created:
      description: Creation time from the image config.
      type: str
    labels:
      description: Image labels.
      type: dict
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["pulled docker.io/library/busybox:1.36 from docker.io/library/busybox:1.36 (sha256:..., 1 blobs, 2125320 bytes)"]
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.module_base import finish, image_module
from ..module_utils.module_support import image_service

#: Options that only make sense when the image is to be present.
PRESENT_ONLY = ("source", "source_username", "push", "export_to", "platform", "sign_by")


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            pull=dict(type="str", default="missing", choices=["missing", "newer", "always", "never"]),
            platform=dict(type="str"),
            source=dict(type="str"),
            source_username=dict(type="str"),
            source_password=dict(type="str", no_log=True),
            push=dict(type="bool", default=False),
            export_to=dict(type="str"),
            force=dict(type="bool", default=False),
        ),
        signing=True,
        required_together=[("source_username", "source_password")],
    )
    params = module.params
    if params["state"] == "absent":
        given = [option for option in PRESENT_ONLY if params[option]]
        if given:
            module.fail_json(msg="%s cannot be used with state=absent" % ", ".join(given))
    elif params["sign_by"] and not params["push"]:
        module.fail_json(msg="sign_by signs what is pushed: it needs push=true")
    elif params["force"]:
        module.fail_json(msg="force is only for state=absent (to unmount an image in use before removing it)")
    from ..module_utils.image.quick import unchanged
    outcome = unchanged(params)  # an image already as asked is answered from the store's files
    if outcome is not None:
        finish(module, outcome)
    from ..module_utils.image.ops import check_transport
    try:
        if params["export_to"]:
            check_transport(params["export_to"])  # before a pull, not after it
        service = image_service(module)
        if params["state"] == "absent":
            outcome = service.absent(params["name"], force=params["force"])
        else:
            outcome = service.present(params["name"], pull=params["pull"], platform=params["platform"],
                                      source=params["source"])
            if params["push"]:
                outcome.merge(service.push(params["name"], image=outcome.resolved, sign_by=params["sign_by"],
                                           sign_passphrase=params["sign_passphrase"]))
            if params["export_to"]:
                outcome.merge(service.export(params["name"], params["export_to"], image=outcome.resolved))
    except UndockError as err:
        module.fail_json(msg=str(err))
    finish(module, outcome)


if __name__ == "__main__":
    main()
