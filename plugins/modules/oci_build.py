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
options:
  name:
    description:
      - The image to produce, for example V(registry.example.com/team/app:1.0).
      - Stored under its full normalised reference.
      - Required with V(state=present) and V(state=started). With V(state=committed), defaults to the name given when
        the working container was started.
    type: str
  state:
    description:
      - V(present) builds O(name) from O(steps) in one task.
      - V(started) starts the working container O(container) for a build driven by Ansible tasks (the
        C(buildah from) of ansible-bender). The O(steps) start with V(from), and the other steps run at once.
        It stays mounted between tasks; a play adds it as a host with M(ansible.builtin.add_host) and the
        connection C(undock.oci.oci) with C(ansible_oci_working_container=true) (RV(container) has the values to
        set) and runs roles against it. The host's Python (O(python)) is lent to it read-only, so the image needs
        none. An existing container is left as it is (changed false).
      - V(committed) makes what changed in O(container) since its last commit one layer, runs O(steps) first
        (V(config) steps, for instance; no V(from) or V(commit)), and stores the image O(name) of all its layers.
        The container stays for more tasks and commits (a layer per play, or per task, is a commit task after
        each, or O(layer_per_task)), unless O(remove).
        Changed only when the image's manifest digest differs from the stored one's.
      - V(absent) unmounts and deletes the working container O(container), committed or not; its layers stay in
        the image they were committed to. Use it when a play fails.
    type: str
    choices: [present, started, committed, absent]
    default: present
  container:
    description:
      - The working container of V(state=started), V(committed) and V(absent), and its inventory name.
    type: str
  python:
    description:
      - With V(state=started), the Python on the host that is lent to the working container. Its installation
        prefix and the directories of its shared libraries, its dynamic loader included, are bound read-only under
        C(/.undock/host) for each command, and RV(container.python_interpreter) runs it through that loader, so
        neither the image's libc (busybox has none) nor its Python is used.
      - It needs a Python that Ansible's modules support on targets. Its standard library is all the modules use.
      - Defaults to the Python that runs this module. Set it to the empty string to lend none, when the image has
        its own Python.
    type: str
  remove:
    description:
      - With V(state=committed), remove the working container after the commit. That does not count as a change;
        the task is changed only when the image is.
    type: bool
    default: false
  commit_message:
    description:
      - With V(state=committed), the history comment of the layer.
    type: str
  layer_per_task:
    description:
      - With V(state=started), a layer per task instead of per commit task. The connection C(undock.oci.oci)
        commits what each task run in the working container changed as a layer of its own, when the task ends,
        with the task's name as its history comment. A task that changes nothing in the rootfs makes no layer.
      - A task tagged C(stop-layering) ends this from that task on, as in ansible-bender; what it and later tasks
        change goes into the layer of the next V(state=committed) task.
      - A V(state=committed) task is still needed to make the image (its layer holds what the last tasks left, if
        anything).
      - It is recorded with the working container; starting an existing one does not change it.
    type: bool
    default: false
  steps:
    description:
      - The build, one step per item. Each item is a mapping with exactly one key.
      - V(from) is first, exactly once. It names an image, pulled through the store when missing (like
        M(undock.oci.oci_container) does), or V(scratch).
      - V(run) is a command in the working container, run by C(runc). It is a string (run by C(/bin/sh -c)), an
        argv list, or a mapping with C(command) and the options C(env), C(user), C(working_dir),
        C(network) (V(host) (default), V(none) or V(bridge)), C(volumes) (V(HOST_PATH:CONTAINER_PATH[:ro]))
        and C(timeout) (seconds). A non-zero exit fails the task with the end of the output.
      - V(host) is a command on the host with the environment variable C(ROOTFS) set to the mounted rootfs, the
        C(dnf --installroot=$ROOTFS) pattern. It is a string, an argv list, or a mapping with C(command), C(env),
        C(chdir) and C(timeout). Build tools and credentials stay on the host.
      - V(copy) copies host files. It is a mapping with C(src) (a path or a list; relative to O(context)),
        C(dest) (in the image; relative to the working directory), C(chown) (V(USER[:GROUP]), from the image's
        passwd and group files) and C(chmod) (octal string). A directory's content is copied. Without C(chown),
        the files belong to root.
      - V(add) is the same as V(copy), but a local tar archive is extracted whatever its compression (gzip, zstd,
        bzip2 or xz, detected from the content), and an V(http://) or V(https://) C(src) is downloaded, verified
        against C(checksum) (V(sha256:HEX)) when given.
      - V(config) is a mapping of image-config fields by their docker names in snake case. They are C(cmd),
        C(entrypoint) (a string for the shell form, a list for the exec form; C(entrypoint) alone clears C(cmd)),
        C(env), C(labels), C(annotations) (a null value removes a key), C(user), C(working_dir),
        C(exposed_ports) (V(80), V(53/udp)), C(volumes), C(stop_signal), and C(healthcheck) (C(test),
        C(interval), C(timeout), C(start_period), C(retries), as in docker).
      - V(commit) ends a layer. It may have a C(message) that goes into the history. The last step commits
        implicitly. A commit with no change adds no layer.
      - Required with V(state=started). With V(state=present), exactly one of O(steps), O(containerfile) and
        O(containerfile_text) is required.
    type: list
    elements: dict
  containerfile:
    description:
      - Path of a Dockerfile / Containerfile on the managed host to build.
      - C(FILE.dockerignore) next to it applies to the context when it exists.
    type: path
  containerfile_text:
    description:
      - The Dockerfile / Containerfile to build, inline.
    type: str
  context:
    description:
      - The build context of a Dockerfile build (required with O(containerfile_text); defaults to the directory of
        O(containerfile)).
      - For O(steps), the directory that relative C(src) paths of V(copy) and V(add) steps are relative to.
    type: path
  build_args:
    description:
      - Values of the Dockerfile's ARGs by name. They override the ARG defaults. A build arg that no ARG declares
        gives a warning.
    type: dict
  target:
    description:
      - The stage to build (its C(AS) name or its index). Defaults to the last stage. Stages that the target does
        not need are not built.
    type: str
  secrets:
    description:
      - Secrets for C(RUN --mount=type=secret,id=ID), by id, each the path of a file on the managed host.
      - A secret is bound read-only from a private copy under the run root (a tmpfs) for the RUN alone. It never
        reaches a layer, the config or the history, and its content is not an input of the fingerprint.
    type: dict
  layers:
    description:
      - For a Dockerfile, with V(true), one layer per instruction that changes files (RUN, COPY, ADD), each
        cached by the key of the instruction before, its text after expansion, the build args and the content
        digest of the files it copies. With V(false), one layer per stage and no cache.
      - For O(steps), with V(true), each V(commit) step ends a layer. With V(false), commit steps only add
        history, and the build's changes make one layer.
    type: bool
    default: true
  squash:
    description:
      - Make the image a single layer, base image included.
    type: bool
    default: false
  source_date_epoch:
    description:
      - Seconds since 1970 used for every timestamp (mtimes are clamped to it, and C(created) is set to it).
      - Defaults to the environment variable E(SOURCE_DATE_EPOCH) of the module, if set.
    type: int
  format:
    description:
      - Manifest format of the image.
      - V(docker) has no zstd layers and no manifest annotations.
    type: str
    choices: [oci, docker]
    default: oci
  compression:
    description:
      - Compression of the new layers.
      - V(zstd) needs the Python package C(zstandard) on the managed host.
    type: str
    choices: [gzip, zstd]
    default: gzip
  labels:
    description:
      - Labels added to the image config at the end.
    type: dict
  annotations:
    description:
      - Annotations added to the image manifest.
    type: dict
  platform:
    description:
      - Platform of the base image to pull, for example V(linux/arm64). RUN steps need a host that can run it.
    type: str
  force:
    description:
      - Build even when the fingerprint matches.
    type: bool
    default: false
  no_cache:
    description:
      - Run every step again instead of taking a layer from the layer cache.
      - The cache keeps what each layer's steps made, keyed on the layers below, the steps' text, the config they
        started from and the content of the files they copy. A layer whose key was built before is not built again,
        even when a later layer changed. Commands are cached by their text, as with C(buildah build --layers).
    type: bool
    default: false
  push:
    description:
      - Push the image to its registry (O(name)) after the build, like M(undock.oci.oci_image) with O(push=true).
    type: bool
    default: false
  runtime:
    description:
      - OCI runtime for V(run) steps.
    type: str
    default: runc
requirements:
  - runc, for V(run) steps
  - Linux with overlayfs, as root
  - requests (C(python3-requests)), to pull or push, or to add URLs
  - jsonschema (C(python3-jsonschema))
  - cryptography (C(python3-cryptography)), to verify signatures or sign
  - PyNaCl (C(python3-nacl)), only to sign with an encrypted O(sign_by) key
  - Optional, for zstd layers, zstandard (C(python3-zstandard))
extends_documentation_fragment:
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
from ansible_collections.undock.oci.plugins.module_utils.module_support import finish, image_module, image_service
from ansible.module_utils.basic import missing_required_lib


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str"),
            steps=dict(type="list", elements="dict"),
            state=dict(type="str", default="present", choices=["present", "started", "committed", "absent"]),
            container=dict(type="str"),
            python=dict(type="str"),
            remove=dict(type="bool", default=False),
            commit_message=dict(type="str"),
            layer_per_task=dict(type="bool", default=False),
            containerfile=dict(type="path"),
            containerfile_text=dict(type="str"),
            context=dict(type="path"),
            build_args=dict(type="dict"),
            target=dict(type="str"),
            secrets=dict(type="dict", no_log=True),
            layers=dict(type="bool", default=True),
            squash=dict(type="bool", default=False),
            source_date_epoch=dict(type="int"),
            format=dict(type="str", default="oci", choices=["oci", "docker"]),
            compression=dict(type="str", default="gzip", choices=["gzip", "zstd"]),
            labels=dict(type="dict"),
            annotations=dict(type="dict"),
            platform=dict(type="str"),
            force=dict(type="bool", default=False),
            no_cache=dict(type="bool", default=False),
            push=dict(type="bool", default=False),
            runtime=dict(type="str", default="runc"),
        ),
        signing=True,
        required_if=[("state", "started", ("name", "steps", "container")),
                     ("state", "committed", ("container",)), ("state", "absent", ("container",))],
        mutually_exclusive=[("steps", "containerfile", "containerfile_text")],
    )
    params = module.params
    if params["steps"] is not None and (params["target"] or params["secrets"]):
        module.fail_json(msg="target and secrets are options of a Dockerfile build (containerfile or containerfile_text), "
                             "not of steps")
    if params["compression"] == "zstd":
        try:
            import zstandard  # noqa: F401 pylint: disable=unused-import
        except ImportError:
            module.fail_json(msg=missing_required_lib("zstandard", reason="for compression: zstd"))
    state = params["state"]
    if params["sign_by"] and not (params["push"] and state in ("present", "committed")):
        module.fail_json(msg="sign_by signs what is pushed: it needs push=true (with state=present or committed)")
    dockerfile = params["containerfile"] is not None or params["containerfile_text"] is not None
    if state == "present" and (not params["name"] or (params["steps"] is None and not dockerfile)):
        module.fail_json(msg="state=present needs name and one of steps, containerfile and containerfile_text")
    if state != "present" and dockerfile:
        module.fail_json(msg="containerfile and containerfile_text build with state=present; a working container "
                             "(state=%s) is made from steps" % state)
    common = dict(layers=params["layers"], squash=params["squash"], epoch=params["source_date_epoch"],
                  image_format=params["format"], compression=params["compression"], labels=params["labels"],
                  annotations=params["annotations"], platform=params["platform"], runtime=params["runtime"],
                  force=params["force"], no_cache=params["no_cache"], build_args=params["build_args"])
    if dockerfile:
        from ansible_collections.undock.oci.plugins.module_utils.build.quick import unchanged
        outcome = unchanged(params)  # a rebuild with nothing changed is answered before the engine is imported
        if outcome is not None:
            finish(module, outcome)
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
