# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options of oci_build, which oci_build_quick takes too (build_module.BUILD_ARGS).
    DOCUMENTATION = r"""
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
"""
