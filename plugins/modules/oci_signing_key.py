#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_signing_key
short_description: Create or remove a cosign (sigstore) signing key pair
version_added: 0.1.0
description:
  - Writes O(path)V(.key) and O(path)V(.pub), like C(cosign generate-key-pair --output-key-prefix PATH).
  - The private key is an ECDSA P-256 key in cosign's encrypted format (a PEM block
    C(ENCRYPTED SIGSTORE PRIVATE KEY) around scrypt and C(nacl/secretbox) parameters and the sealed PKCS#8 key),
    which cosign, podman, skopeo and containers/image read. The public key is a C(PUBLIC KEY) PEM file to name in a
    C(sigstoreSigned) requirement of C(policy.json) (C(keyPath)).
  - Idempotent, and never overwrites a key. An existing O(path)V(.key) is kept; if its O(path)V(.pub) is missing, it
    is written again from the key. A O(path)V(.pub) that does not belong to the key, or a V(.pub) without its V(.key),
    is an error and nothing is changed.
options:
  path:
    description:
      - Prefix of the two files, without extension. Its directory must exist.
    type: path
    required: true
  passphrase:
    description:
      - Passphrase that encrypts the private key. An empty string is allowed, as with cosign, but leaves the key
        protected only by its file mode.
      - For an existing key, the passphrase must open it.
      - Required with O(state=present). Never logged or returned.
    type: str
  state:
    description:
      - V(present) creates the key pair if it does not exist.
      - V(absent) removes both files.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Nothing is written or removed; the result says what would be done.
  diff_mode:
    support: full
    description: Shows whether each of the two files exists, before and after.
requirements:
  - cryptography (ECDSA and scrypt)
  - PyNaCl (C(nacl/secretbox); Debian's C(python3-nacl)), to write or open the encrypted private key
notes:
  - The private key is written with mode V(0600), the public key with V(0644). Files appear whole or not at all.
seealso:
  - module: undock.oci.oci_image
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: A signing key for the images this host pushes
  undock.oci.oci_signing_key:
    path: /etc/undock/signing/cosign
    passphrase: "{{ vault_signing_passphrase }}"
  register: signing_key

- name: Trust it on the other hosts
  ansible.builtin.copy:
    content: "{{ signing_key.public_key_pem }}"
    dest: /etc/containers/keys/cosign.pub
    mode: "0644"

- name: Retire the key pair
  undock.oci.oci_signing_key:
    path: /etc/undock/signing/cosign
    state: absent
"""

RETURN = r"""
private_key:
  description: Path of the private key file.
  returned: always
  type: str
  sample: /etc/undock/signing/cosign.key
public_key:
  description: Path of the public key file.
  returned: always
  type: str
  sample: /etc/undock/signing/cosign.pub
public_key_pem:
  description: The public key, as written to RV(public_key).
  returned: when state is present
  type: str
  sample: "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...\n-----END PUBLIC KEY-----\n"
actions:
  description: What was done (or, in check mode, would be done).
  returned: always
  type: list
  elements: str
  sample: ["generated an ECDSA P-256 key pair: /etc/undock/signing/cosign.key and /etc/undock/signing/cosign.pub"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ..module_utils.common.errors import MissingLibraryError, UndockError
from ..module_utils.module_base import fail_on_missing_libraries
from ..module_utils.signing.keyfiles import ensure_key_pair, remove_key_pair


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            passphrase=dict(type="str", no_log=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ("passphrase",))],
        supports_check_mode=True,
    )
    fail_on_missing_libraries(module, ("cryptography",))
    params = module.params
    try:
        if params["state"] == "present":
            result = ensure_key_pair(params["path"], params["passphrase"], check_mode=module.check_mode)
        else:
            result = remove_key_pair(params["path"], check_mode=module.check_mode)
    except MissingLibraryError as err:
        module.fail_json(msg=missing_required_lib(err.library, reason="to write or open an encrypted key; install "
                                                  "python3-nacl (Debian, RHEL) or pip install PyNaCl"),
                         error=str(err))
    except UndockError as err:
        module.fail_json(msg=str(err))
    output = dict(changed=result.changed, private_key=result.private_key, public_key=result.public_key,
                  actions=result.actions)
    if result.public_pem is not None:
        output["public_key_pem"] = result.public_pem
    if module._diff:
        output["diff"] = dict(before=result.before, after=result.after)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
