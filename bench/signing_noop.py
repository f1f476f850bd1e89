#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""bench/signing_noop: what signature verification adds to a no-op ``oci_image`` run.

A signed image (our own ``push`` with ``sign_by``) sits on a loopback docker-registry and in
the store. Each timed run is one ``ansible-playbook`` of one ``oci_image`` task with
``pull: missing``, with a policy that accepts anything and with one that needs ``sigstoreSigned``
for the registry's host; runs alternate between the two. Target: the sigstoreSigned run is
< 1.10x the other (issue 10). The no-op reads nothing and so checks nothing, as containers/image
checks the policy only when it pulls: ``pull: missing`` with the image present never even loads
the policy file.

For information, the same pair with ``pull: always`` (the registry is asked again, the digest
is unchanged, the policy is checked again: one signature tag and its layer fetched and verified),
and the engine-level cost of one verification in this process: the ECDSA check of a signature
alone, and the whole policy check against the registry (manifest, signature manifest, signature
layer, verify) next to the same check under insecureAcceptAnything.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List

from common import ensure_bytecode, ensure_collection_link, report, timed

ensure_collection_link()
ensure_bytecode()

from harness import images as I  # noqa: E402
from harness.ansible import BIN, ansible_env  # noqa: E402
from harness.engine import registries_conf, service  # noqa: E402
from harness.registry import Registry  # noqa: E402

from ansible_collections.undock.oci.plugins.module_utils.image.copy import check_policy, resolve_image  # noqa: E402
from ansible_collections.undock.oci.plugins.module_utils.image.remote import open_pull_source  # noqa: E402
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference  # noqa: E402
from ansible_collections.undock.oci.plugins.module_utils.signing import attachments, keys, sigstore  # noqa: E402
from ansible_collections.undock.oci.plugins.module_utils.signing.policy import load_policy_file  # noqa: E402

TARGET = 1.10
ACCEPT, SIGNED = "accept anything", "sigstoreSigned"


def playbook(path: str, task: Dict[str, object]) -> str:
    with open(path, "w") as handle:
        json.dump([{"hosts": "localhost", "gather_facts": False,
                    "tasks": [{"undock.oci.oci_image": task, "register": "r"},
                              {"ansible.builtin.assert": {"that": ["not r.changed"]}}]}], handle)
    return path


def median_of(runs: int, call: Callable[[], object]) -> float:
    times = []
    for dummy in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def engine_costs(work: str, registry: Registry, ref: str, policies: Dict[str, str], runs: int) -> None:
    svc = service(os.path.join(work, "engine"), registry)
    reference = parse_reference(ref)
    client = svc.registry.client(reference)
    digest = client.get_manifest(reference.manifest_reference).digest
    (signature,) = attachments.read_signatures(client, digest)
    public = keys.load_public_keys(open(policies["key"], "rb").read(), where="bench key")
    crypto = median_of(runs * 20, lambda: sigstore.verify(signature, public))
    print("== engine: one verification (median of %d)" % (runs * 20))
    print("  sigstore.verify of one signature (ECDSA P-256 + payload)   %8.3f ms" % (crypto * 1000))
    checks = {}
    for name in (ACCEPT, SIGNED):
        policy = load_policy_file(policies[name])

        def check() -> None:
            source = open_pull_source(svc.registry, reference)
            check_policy(source, resolve_image(source), policy)
        check()  # keys read, connection up
        checks[name] = median_of(runs * 4, check)
        print("  resolve + policy check on the registry, %-18s   %8.3f ms" % (name, checks[name] * 1000))
    print("  one verification costs %.3f ms over insecureAcceptAnything" % ((checks[SIGNED] - checks[ACCEPT]) * 1000))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="ansible-playbook runs of each kind")
    parser.add_argument("--skip-always", action="store_true", help="skip the informational pull: always pair")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="undock-bench-sign-")
    try:
        with Registry("plain", os.path.join(work, "registry")) as registry:
            registry.start()
            source = I.push_oci_image(registry, repo="bench/unsigned")
            ref = "%s/bench/signed:1" % registry.host
            private, public = keys.generate_key_pair("bench")
            key_path, pub_path = os.path.join(work, "bench.key"), os.path.join(work, "bench.pub")
            for path, data in ((key_path, private), (pub_path, public)):
                with open(path, "wb") as handle:
                    handle.write(data)
            publisher = service(os.path.join(work, "publisher"), registry)
            publisher.present(ref, source=source.ref)
            publisher.push(ref, sign_by=key_path, sign_passphrase="bench")
            policies = {"key": pub_path}
            for name, doc in ((ACCEPT, {"default": [{"type": "insecureAcceptAnything"}]}),
                              (SIGNED, {"default": [{"type": "reject"}], "transports": {"docker": {registry.host: [
                                  {"type": "sigstoreSigned", "keyData": base64.b64encode(public).decode()}]}}})):
                policies[name] = os.path.join(work, name.replace(" ", "-") + ".json")
                with open(policies[name], "w") as handle:
                    json.dump(doc, handle)
            common = {"name": ref, "storage_root": os.path.join(work, "store"),
                      "registries_conf": registries_conf(os.path.join(work, "conf"), registry.host),
                      "auth_file": os.path.join(work, "conf", "auth.json")}
            env = ansible_env()
            command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local"]
            # the image into the store, pulled under the sigstoreSigned policy (this run changes)
            first = os.path.join(work, "first.yml")
            with open(first, "w") as handle:
                json.dump([{"hosts": "localhost", "gather_facts": False,
                            "tasks": [{"undock.oci.oci_image": dict(common, policy=policies[SIGNED])}]}], handle)
            timed(command + [first], env=env)
            pulls = ("missing",) if args.skip_always else ("missing", "always")
            for pull in pulls:
                books = {name: playbook(os.path.join(work, "%s-%s.yml" % (pull, name.replace(" ", "-"))),
                                        dict(common, pull=pull, policy=policies[name])) for name in (ACCEPT, SIGNED)}
                for name in books:
                    timed(command + [books[name]], env=env)  # warm-up, untimed
                results: Dict[str, List[float]] = {ACCEPT: [], SIGNED: []}
                for dummy in range(args.runs):
                    for name in (ACCEPT, SIGNED):
                        results[name].append(timed(command + [books[name]], env=env))
                met = report("signing_noop: ansible-playbook, one oci_image task, pull: %s, image present, "
                             "%d runs each" % (pull, args.runs), results, SIGNED, ACCEPT, TARGET)
                ratio = statistics.median(results[SIGNED]) / statistics.median(results[ACCEPT])
                if pull == "missing":
                    print("  signing overhead on the no-op run: %.2fx (target < %.2fx): %s"
                          % (ratio, TARGET, "met" if ratio < TARGET else "MISSED"))
                else:
                    print("  (pull: always is informational: the registry is asked again, so the policy is checked"
                          " again; %s)" % ("within 1.10x" if met else "over 1.10x"))
            engine_costs(work, registry, ref, policies, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
