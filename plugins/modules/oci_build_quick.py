#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_build_quick
short_description: Internal to oci_build; answer a Dockerfile rebuild with nothing changed from the store's files
version_added: 0.2.0
description:
  - B(Internal.) The action of M(undock.oci.oci_build) runs this module first, with the task's options, and runs the
    full M(undock.oci.oci_build) module only when this one does not answer. Calling it directly is supported but
    pointless; use M(undock.oci.oci_build).
  - When the Dockerfile build (O(containerfile) or O(containerfile_text), V(state=present)) would be a no-op, returns
    exactly what M(undock.oci.oci_build) returns then (C(changed=false), the same RV(image), RV(actions) and diff).
    It decides with the same code as M(undock.oci.oci_build)'s own no-op answer, without importing the build engine,
    so Ansible ships and parses a small fraction of M(undock.oci.oci_build)'s files.
  - Otherwise returns RV(quick=false) and changes nothing; it never fails for a build that M(undock.oci.oci_build)
    would do, only for options that M(undock.oci.oci_build) rejects too.
extends_documentation_fragment:
  - undock.oci.build
  - undock.oci.registry
  - undock.oci.registry.names
  - undock.oci.signing
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description: Reads only; the answer is the same as in normal mode, as for M(undock.oci.oci_build)'s no-op.
  diff_mode:
    support: full
    description: The same diff as M(undock.oci.oci_build) for a no-op build.
author:
  - undock.oci developers (@undock-oci)
seealso:
  - module: undock.oci.oci_build
"""

EXAMPLES = r"""
# Not meant to be called: the oci_build action runs it. This is what it does first.
- name: Is the build of web:1 unchanged?
  undock.oci.oci_build_quick:
    name: localhost/web:1
    containerfile: /srv/web/Containerfile
    context: /srv/web
  register: quick

- name: Build it when it is not
  undock.oci.oci_build:
    name: localhost/web:1
    containerfile: /srv/web/Containerfile
    context: /srv/web
  when: quick.quick is defined and not quick.quick
"""

RETURN = r"""
quick:
  description: V(false) when this module did not answer, and M(undock.oci.oci_build) must run.
  returned: when the build is not answered here
  type: bool
  sample: false
image:
  description: The image in the store, as M(undock.oci.oci_build) returns it, in the same shape as
    M(undock.oci.oci_image)'s.
  returned: when O(name) needs no build
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

from ansible_collections.undock.oci.plugins.module_utils.build_module import build_module, exit_if_unchanged


def main() -> None:
    module = build_module()
    exit_if_unchanged(module)
    module.exit_json(changed=False, quick=False)


if __name__ == "__main__":
    main()
