#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_build
short_description: Build OCI images from a Dockerfile or buildah-style steps with no container engine
version_added: 0.2.0
description:
  - Builds an image into the local content store at O(storage_root) from a Dockerfile / Containerfile
    (O(containerfile) or O(containerfile_text), with O(context)), or from a list of O(steps), like a script of
    C(buildah from), C(buildah run), C(buildah copy), C(buildah config) and C(buildah commit), with no daemon and no
    container engine. C(RUN) steps run with C(runc); host steps write into the mounted rootfs from the host.
  - The working container is an overlay of the base image's unpacked layers and a private upper directory. A
    C(commit) step (and the end of the steps) turns the upper directory's changes into a layer with OCI whiteouts.
  - The built image lands in the store like a pulled one, so M(undock.oci.oci_container), M(undock.oci.oci_image)
    (push, export) and C(skopeo inspect oci:STORE:NAME) see it.
  - Idempotent. The inputs (normalised steps, the base image's digest, the content of every copied local file,
    never its mtime, and the options) have a fingerprint kept with the image, in the manifest annotation
    C(io.undock.build.fingerprint). When it matches, nothing is built and the task reports no change. Any change
    rebuilds, and RV(changed_inputs) and the diff say what changed. Host commands and URLs without a checksum are
    fingerprinted by their text only.
  - A Dockerfile build runs every instruction of Docker's Dockerfile reference. FROM with multi-stage builds,
    C(scratch), C(--platform) and C(AS). ARG, global and per stage, with O(build_args) and the predefined
    C(TARGETPLATFORM), C(TARGETOS), C(TARGETARCH), C(TARGETVARIANT), C(BUILDPLATFORM), C(BUILDOS), C(BUILDARCH) and
    C(BUILDVARIANT). RUN in shell or exec form, with C(--network) and
    C(--mount=type=secret|cache|bind|tmpfs). COPY and ADD with C(--from) (a stage or an image), C(--chown),
    C(--chmod) and C(--link). A C(--link) copy is made in an empty tree, never in the image. Its layer holds the
    copied files alone with the parent directories of their destination, a link of the image at the destination is
    replaced rather than followed, and its cache entry does not depend on the layers below (a changed RUN before it
    keeps its blob). With O(layers=false) or O(squash) the tree is merged onto the image the same way. ENV,
    WORKDIR, USER, LABEL, EXPOSE, VOLUME, ENTRYPOINT and CMD (docker's rules, so an ENTRYPOINT clears a CMD that the
    stage did not set), SHELL, HEALTHCHECK, ONBUILD (run on FROM of an image that
    carries triggers), STOPSIGNAL, MAINTAINER, heredocs and the C(# syntax) and C(# escape) directives.
  - The Dockerfile build's inputs are the Dockerfile text, O(target), O(build_args), the digest of every base and
    C(--from) image, the context as the build sees it after C(.dockerignore) / C(.containerignore) (types, modes,
    content and link targets, never mtimes) and the options. Unchanged inputs mean no build and no change.
  - The context never follows a symlink out of itself. A C(RUN --mount=type=bind) source cannot leave the context
    or the stage, and a cache mount's id never becomes a host path.
  - With O(source_date_epoch), builds are reproducible. Layer entries are sorted, mtimes are clamped to the epoch,
    owners are numeric, and there is no atime or ctime. The config's C(created) is the epoch. Two builds of the
    same inputs give the same manifest digest.
requirements:
  - runc, for V(run) steps
  - Linux with overlayfs, as root
  - requests (C(python3-requests)), to pull or push, or to add URLs
  - jsonschema (C(python3-jsonschema))
  - cryptography (C(python3-cryptography)), to verify signatures or sign
  - PyNaCl (C(python3-nacl)), only to sign with an encrypted O(sign_by) key
  - Optional, for zstd layers, zstandard (C(python3-zstandard))
extends_documentation_fragment:
  - undock.oci.build
  - undock.oci.registry
  - undock.oci.registry.names
  - undock.oci.signing
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description: Nothing is built or written. The task says whether a build would happen and why. A working container
      is not started in check mode, so tasks meant to run in it cannot run then.
  diff_mode:
    support: full
    description: Shows the fingerprint, digest and inputs of the build before and after.
notes:
  - Each build runs in a working container whose directories live under O(storage_root)C(/builds) and whose
    mount is recorded like every mount of the store. A build that was killed is cleaned up by the next one.
  - The built image enters the store through the same copy path as a pull, so the store stays consistent.
  - O(policy) applies to every image the build pulls, before any of its blobs is fetched. That is the base of
    each C(FROM) or V(from) step and each image of C(COPY --from) or C(RUN --mount=from=). A rejected image fails
    the task with nothing built. A base already in the store is not pulled again, so it is not checked.
  - O(push=true) with O(sign_by) signs what is pushed, as M(undock.oci.oci_image) does.
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: Build a Dockerfile, with a build arg and a secret for one RUN
  undock.oci.oci_build:
    name: localhost/app:1
    containerfile: /srv/app/Containerfile
    context: /srv/app
    build_args:
      VERSION: "1.2"
    secrets:
      npmrc: /root/.npmrc
    target: runtime
    source_date_epoch: 1700000000

- name: Build an inline Dockerfile, one layer per stage
  undock.oci.oci_build:
    name: localhost/tools:1
    context: /srv/tools
    layers: false
    containerfile_text: |
      FROM docker.io/library/busybox:1.36 AS build
      RUN mkdir /out && echo built > /out/info
      FROM docker.io/library/busybox:1.36
      COPY --from=build /out/ /opt/
      CMD ["cat", "/opt/info"]

- name: Build a small web image
  undock.oci.oci_build:
    name: localhost/web:1
    context: /srv/web
    source_date_epoch: 1700000000
    steps:
      - from: docker.io/library/busybox:1.36
      - run: mkdir -p /www && adduser -D -H web
      - copy:
          src: site/
          dest: /www/
          chown: web
          chmod: "0644"
      - commit:
          message: site content
      - config:
          cmd: [httpd, -f, -p, "8080", -h, /www]
          user: web
          exposed_ports: ["8080"]
          labels:
            org.opencontainers.image.source: https://example.com/web

- name: Install packages from the host into a rootfs, with no package manager in the image
  undock.oci.oci_build:
    name: localhost/minimal:1
    steps:
      - from: scratch
      - host: dnf -y --installroot="$ROOTFS" --releasever=9 install bash coreutils
      - config:
          cmd: [/bin/bash]

- name: Start a working container for a build driven by Ansible tasks (see playbooks/build_image.yml)
  undock.oci.oci_build:
    state: started
    container: web-build
    name: localhost/web:2
    source_date_epoch: 1700000000
    steps:
      - from: docker.io/library/busybox:1.36
      - config:
          cmd: [httpd, -f, -p, "8080", -h, /www]
  register: working

- name: Add it to the inventory
  ansible.builtin.add_host:
    name: "{{ working.container.name }}"
    groups: [working_containers]
    ansible_connection: undock.oci.oci
    ansible_oci_working_container: true
    ansible_python_interpreter: "{{ working.container.python_interpreter }}"
    ansible_remote_tmp: "{{ working.container.remote_tmp }}"
    ansible_oci_storage_root: "{{ working.container.storage_root }}"
    ansible_oci_run_root: "{{ working.container.run_root }}"

# ... a play on working_containers runs roles, then:
- name: Commit the play's changes as a layer of localhost/web:2 and remove the working container
  undock.oci.oci_build:
    state: committed
    container: web-build
    remove: true
  delegate_to: localhost

- name: Build and push to a private registry
  undock.oci.oci_build:
    name: registry.example.com:5000/team/app:1.0
    steps:
      - from: registry.example.com:5000/team/base:1
      - add:
          src: https://example.com/app.tar.gz
          checksum: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
          dest: /opt/
    push: true
    username: ci
    password: "{{ vault_registry_password }}"
"""

RETURN = r"""
image:
  description: The built image (in check mode, the image in the store, if any), in the same shape as
    M(undock.oci.oci_image)'s.
  returned: success, unless in check mode with a build to do
  type: dict
  contains:
    name:
      description: Full normalised reference the image is stored under.
      type: str
      sample: localhost/web:1
    digest:
      description: Manifest digest.
      type: str
    id:
      description: Image ID, the digest of its config.
      type: str
    media_type:
      description: Media type of the manifest.
      type: str
      sample: application/vnd.oci.image.manifest.v1+json
    source_digest:
      description: The manifest digest again (a build has no index).
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
container:
  description: The working container, with V(state=started). Set its values as host variables with
    M(ansible.builtin.add_host) (see the example).
  returned: with state=started
  type: dict
  contains:
    name:
      description: Its name (the inventory host name to add).
      type: str
    id:
      description: Its directory name under O(storage_root)C(/builds).
      type: str
    image:
      description: The image a commit makes by default.
      type: str
    rootfs:
      description: Where its rootfs is mounted on the host.
      type: str
    python_interpreter:
      description: The value for C(ansible_python_interpreter) (null when O(python) is empty).
      type: str
    python:
      description: The host's Python that is lent.
      type: str
    remote_tmp:
      description: The value for C(ansible_remote_tmp), C(/.undock/tmp).
      type: str
    storage_root:
      description: The value for C(ansible_oci_storage_root).
      type: str
    run_root:
      description: The value for C(ansible_oci_run_root).
      type: str
    layer_per_task:
      description: Whether each task that changes the container commits a layer of its own (O(layer_per_task)).
      type: bool
removed:
  description: Whether the working container was removed after the commit (O(remove)). Its removal alone does not
    make the task changed, which says whether the image changed.
  returned: with state=committed
  type: bool
changed_inputs:
  description: What differs from the inputs of the image in the store. For O(steps), C(steps), C(base),
    C(sources:PATH) and C(build_args). For a Dockerfile, C(dockerfile), C(target), C(build_args), C(images),
    C(secrets) (their ids) and C(context:PATH). Then C(options.NAME), C(image) when there was none, and
    C(fingerprint) when its inputs are not recorded.
  returned: when the image is (or would be) built
  type: list
  elements: str
  sample: ["sources:/srv/web/site"]
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["committed layer sha256:... (12 entries)", "built localhost/web:1 (sha256:...)"]
"""

import sys

from ansible_collections.undock.oci.plugins.module_utils.common.errors import UndockError
from ansible_collections.undock.oci.plugins.module_utils.build_module import build_module, exit_if_unchanged
from ansible_collections.undock.oci.plugins.module_utils.module_base import finish
from ansible_collections.undock.oci.plugins.module_utils.module_support import image_service


def main() -> None:
    module = build_module()
    params = module.params
    state = params["state"]
    exit_if_unchanged(module)  # a rebuild with nothing changed is answered before the engine is imported
    common = dict(layers=params["layers"], squash=params["squash"], epoch=params["source_date_epoch"],
                  image_format=params["format"], compression=params["compression"], labels=params["labels"],
                  annotations=params["annotations"], platform=params["platform"], runtime=params["runtime"],
                  force=params["force"], no_cache=params["no_cache"], build_args=params["build_args"])
    try:
        service = image_service(module)
        if state == "started":
            from ansible_collections.undock.oci.plugins.module_utils.build import session
            python = sys.executable if params["python"] is None else params["python"]
            outcome = session.start(service, params["container"], params["name"], params["steps"], python=python,
                                    epoch=params["source_date_epoch"], image_format=params["format"],
                                    compression=params["compression"], platform=params["platform"],
                                    context=params["context"], runtime=params["runtime"], layers=params["layers"],
                                    no_cache=params["no_cache"], layer_per_task=params["layer_per_task"])
        elif state == "committed":
            from ansible_collections.undock.oci.plugins.module_utils.build import session
            outcome = session.commit(service, params["container"], params["name"], params["steps"],
                                     message=params["commit_message"], remove=params["remove"], context=params["context"])
        elif state == "absent":
            from ansible_collections.undock.oci.plugins.module_utils.build import session
            outcome = session.remove_container(service, params["container"])
        elif params["steps"] is not None:
            from ansible_collections.undock.oci.plugins.module_utils.build.service import build_image
            outcome = build_image(service, params["name"], params["steps"], context=params["context"], **common)
        else:
            from ansible_collections.undock.oci.plugins.module_utils.build.executor.module import build_from_params
            outcome = build_from_params(service, params["name"], params["containerfile"], params["containerfile_text"],
                                        params["context"], target=params["target"], secrets=params["secrets"],
                                        **common)
        if params["push"] and state in ("present", "committed"):
            outcome.merge(service.push(outcome.image["name"] if outcome.image else params["name"], image=outcome.resolved,
                                       sign_by=params["sign_by"], sign_passphrase=params["sign_passphrase"]))
    except UndockError as err:
        module.fail_json(msg=str(err))
    finish(module, outcome)


if __name__ == "__main__":
    main()
