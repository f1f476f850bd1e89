# -*- coding: utf-8 -*-
"""model/graph.py: the one walk of the manifest graph (index entries, config and layers, subject)."""

from __future__ import annotations

import json

from ansible_collections.undock.oci.plugins.module_utils.model import manifest as m
from ansible_collections.undock.oci.plugins.module_utils.model.digest import sha256_digest
from ansible_collections.undock.oci.plugins.module_utils.model.graph import walk


class Graph:
    """Manifests held in memory by digest; ``fetch`` records what it was asked for."""

    def __init__(self):
        self.docs = {}
        self.fetched = []

    def add(self, doc, media_type):
        raw = json.dumps(doc).encode()
        digest = sha256_digest(raw)
        self.docs[digest] = (raw, media_type)
        return {"mediaType": media_type, "digest": digest, "size": len(raw)}

    def fetch(self, desc):
        self.fetched.append(desc["digest"])
        if desc["digest"] not in self.docs:
            return None
        raw, media_type = self.docs[desc["digest"]]
        return m.parse_manifest(raw, media_type, desc["digest"])


def blob(name):
    data = name.encode()
    return {"mediaType": m.OCI_LAYER, "digest": sha256_digest(data), "size": len(data)}


def image(graph, layers, subject=None):
    config = dict(blob("config-" + "-".join(layers)), mediaType=m.OCI_CONFIG)
    doc = {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": config, "layers": [blob(n) for n in layers]}
    if subject:
        doc["subject"] = subject
    return graph.add(doc, m.OCI_MANIFEST), config


def test_index_children_config_layers_and_subject_are_reached_once():
    graph = Graph()
    amd, amd_config = image(graph, ["base", "amd"])
    arm, arm_config = image(graph, ["base", "arm"])
    index = graph.add({"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": [amd, arm]}, m.OCI_INDEX)
    signature, sig_config = image(graph, ["sig"], subject=index)
    reached = list(walk([signature, index], graph.fetch))
    digests = [r.desc["digest"] for r in reached]
    assert len(digests) == len(set(digests))
    expected = {signature["digest"], sig_config["digest"], blob("sig")["digest"], index["digest"],
                amd["digest"], amd_config["digest"], arm["digest"], arm_config["digest"]}
    expected |= {blob(n)["digest"] for n in ("base", "amd", "arm")}
    assert set(digests) == expected
    manifests = {r.desc["digest"] for r in reached if r.is_manifest}
    assert manifests == {signature["digest"], index["digest"], amd["digest"], arm["digest"]}
    assert sorted(graph.fetched) == sorted(manifests)      # configs and layers are never fetched
    assert all(r.manifest is not None for r in reached if r.is_manifest)
    assert all(r.manifest is None for r in reached if not r.is_manifest)


def test_what_fetch_declines_is_reached_but_not_walked_into():
    graph = Graph()
    present, dummy = image(graph, ["a"])
    missing = {"mediaType": m.OCI_MANIFEST, "digest": sha256_digest(b"gone"), "size": 4}
    index = graph.add({"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": [missing, present]}, m.OCI_INDEX)
    reached = {r.desc["digest"]: r for r in walk([index], graph.fetch)}
    assert reached[missing["digest"]].manifest is None and reached[missing["digest"]].is_manifest
    assert blob("a")["digest"] in reached


def test_things_that_are_not_descriptors_are_passed_over():
    graph = Graph()
    good, dummy = image(graph, ["a"])
    roots = [None, "sha256:" + "a" * 64, {"mediaType": m.OCI_MANIFEST}, {"digest": 7}, good, good]
    reached = [r.desc["digest"] for r in walk(roots, graph.fetch)]
    assert reached[0] == good["digest"] and len(reached) == 3
    assert graph.fetched == [good["digest"]]
