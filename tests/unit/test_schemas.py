"""Documents from outside are checked against model.schemas: each bad one is refused with a
message naming the document and the JSON path of the bad field; the store's are not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema
import pytest

from ansible_collections.undock.oci.plugins.module_utils.common import deps
from ansible_collections.undock.oci.plugins.module_utils.common.errors import ManifestError, UndockError
from ansible_collections.undock.oci.plugins.module_utils.model import manifest as m
from ansible_collections.undock.oci.plugins.module_utils.model import schemas
from ansible_collections.undock.oci.plugins.module_utils.model.imageconfig import parse_config
from ansible_collections.undock.oci.plugins.module_utils.model.validation import json_path
from harness.engine import python_path
from harness.images import Entry, tar_layer, write_image
from harness.specschema import SchemaRefError, SpecSchema

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def desc(digest=D1, media_type=m.OCI_LAYER_GZIP, size=10, **extra):
    return dict({"mediaType": media_type, "digest": digest, "size": size}, **extra)


def raw(doc):
    return json.dumps(doc).encode()


IMAGE = {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": desc(D2, m.OCI_CONFIG), "layers": [desc()]}
INDEX = {"schemaVersion": 2, "mediaType": m.OCI_INDEX,
         "manifests": [desc(D1, m.OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64"})]}
DOCKER = {"schemaVersion": 2, "mediaType": m.DOCKER_MANIFEST, "config": desc(D2, m.DOCKER_CONFIG),
          "layers": [desc(D1, m.DOCKER_LAYER_GZIP)]}
LIST = {"schemaVersion": 2, "mediaType": m.DOCKER_LIST,
        "manifests": [desc(D1, m.DOCKER_MANIFEST, platform={"os": "linux", "architecture": "arm", "variant": "v7"})]}
CONFIG = {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
          "rootfs": {"type": "layers", "diff_ids": [D1]}, "history": [{"created_by": "x"}]}


@pytest.mark.parametrize("schema", [schemas.OCI_MANIFEST, schemas.OCI_INDEX, schemas.DOCKER_MANIFEST,
                                    schemas.DOCKER_LIST, schemas.OCI_CONFIG, schemas.DOCKER_CONFIG])
def test_engine_schemas_are_draft4_schemas(schema):
    jsonschema.Draft4Validator.check_schema(schema)


def with_layer(**fields):
    return dict(IMAGE, layers=[dict(desc(), **fields)])


@pytest.mark.parametrize("doc,message", [
    # missing required fields
    ({"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "layers": []}, r"\$: required field 'config' is missing"),
    ({k: v for k, v in IMAGE.items() if k != "schemaVersion"}, r"\$: required field 'schemaVersion' is missing"),
    (dict(IMAGE, config={"mediaType": m.OCI_CONFIG, "size": 1}), r"\$.config: required field 'digest' is missing"),
    (dict(IMAGE, layers=[{"digest": D1, "size": 1}]), r"\$.layers\[0\]: required field 'mediaType' is missing"),
    # wrong types
    (dict(IMAGE, schemaVersion="2"), r"\$.schemaVersion: '2' is not of type integer"),
    (dict(IMAGE, schemaVersion=3), r"\$.schemaVersion: 3 is out of range \(maximum 2\)"),
    (dict(IMAGE, layers={"0": desc()}), r"\$.layers: \{'0': .* is not of type array"),
    (with_layer(size="10"), r"\$.layers\[0\].size: '10' is not of type integer"),
    (with_layer(size=10.0), r"\$.layers\[0\].size: 10.0 is not of type integer"),
    (with_layer(urls="http://x"), r"\$.layers\[0\].urls: 'http://x' is not of type array"),
    (with_layer(annotations={"a": 1}), r"\$.layers\[0\].annotations.a: 1 is not of type string"),
    (dict(IMAGE, annotations={"org.example": ["x"]}), r"\$.annotations\['org.example'\]: \['x'\] is not of type string"),
    # bad digests: a trailing newline, an unknown algorithm, upper-case hex, a path
    (with_layer(digest=D1 + "\n"), r"\$.layers\[0\].digest: 'sha256:1{64}\\n' is not a digest"),
    (with_layer(digest="md5:" + "1" * 32), r"\$.layers\[0\].digest: 'md5:1{32}' is not a digest"),
    (dict(IMAGE, config=desc("sha256:" + "A" * 64)), r"\$.config.digest: 'sha256:A{64}' is not a digest"),
    (dict(IMAGE, subject=desc("sha256:../../x")), r"\$.subject.digest: 'sha256:../../x' is not a digest"),
    # bad media types
    (with_layer(mediaType="gzip"), r"\$.layers\[0\].mediaType: 'gzip' is not a media type"),
    (with_layer(mediaType="a/b\n"), r"\$.layers\[0\].mediaType: 'a/b\\n' is not a media type"),
    (dict(IMAGE, artifactType="x y/z"), r"\$.artifactType: 'x y/z' is not a media type"),
])
def test_bad_image_manifests_are_refused(doc, message):
    with pytest.raises(ManifestError, match=r"^manifest sha256:[0-9a-f]{64} from example.test/repo: " + message):
        m.parse_manifest(raw(doc), origin="example.test/repo")


@pytest.mark.parametrize("doc,message", [
    ({"schemaVersion": 2, "mediaType": m.OCI_INDEX}, r"^index sha256:\w+: \$: required field 'manifests' is missing"),
    (dict(INDEX, manifests=[desc(D1, m.OCI_MANIFEST, platform={"architecture": "amd64"})]),
     r"\$.manifests\[0\].platform: required field 'os' is missing"),
    (dict(INDEX, manifests=[desc(D1, m.OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64",
                                                               "os.features": "x"})]),
     r"\$.manifests\[0\].platform\['os.features'\]: 'x' is not of type array"),
    (dict(INDEX, manifests=INDEX["manifests"] + [desc("sha256:xyz", m.OCI_MANIFEST)]),
     r"\$.manifests\[1\].digest: 'sha256:xyz' is not a digest"),
    (dict(INDEX, manifests=[desc(D1, "manifest")]), r"\$.manifests\[0\].mediaType: 'manifest' is not a media type"),
    (dict(INDEX, annotations=[]), r"\$.annotations: \[\] is not of type object"),
    (dict(DOCKER, layers=[desc(D1, m.DOCKER_LAYER_GZIP, size=-1)]), r"\$.layers\[0\].size: -1 is out of range \(minimum 0\)"),
    (dict(DOCKER, config=desc(D2 + "\n", m.DOCKER_CONFIG)), r"\$.config.digest: 'sha256:2{64}\\n' is not a digest"),
    (dict(LIST, manifests=[dict(LIST["manifests"][0], platform={"os": "linux", "architecture": "amd64",
                                                               "features": "sse4"})]),
     r"\$.manifests\[0\].platform.features: 'sse4' is not of type array"),
    (dict(LIST, manifests=[dict(LIST["manifests"][0], size=None)]), r"\$.manifests\[0\].size: None is not of type integer"),
])
def test_bad_indexes_and_docker_manifests_are_refused(doc, message):
    with pytest.raises(ManifestError, match=message):
        m.parse_manifest(raw(doc))


@pytest.mark.parametrize("doc,declared", [
    (IMAGE, None), (INDEX, None), (DOCKER, None), (LIST, None),
    ({k: v for k, v in DOCKER.items() if k != "mediaType"}, m.DOCKER_MANIFEST),  # typed by Content-Type only
    (dict(IMAGE, layers=[]), None),  # the spec text: layers SHOULD (not MUST) have an entry
    (dict(IMAGE, artifactType="application/vnd.example+json", subject=desc(D2, m.OCI_MANIFEST),
          annotations={"a": "b"}), None),
    (dict(INDEX, subject=desc(D2, m.OCI_MANIFEST), manifests=[desc(D1, m.OCI_MANIFEST)]), None),
    (with_layer(digest="sha512:" + "a" * 128, urls=["https://example.test/x"], data="eA=="), None),
])
def test_valid_documents_pass(doc, declared):
    assert m.parse_manifest(raw(doc), declared).data == doc


def test_the_store_reader_does_not_validate():
    bad = raw(with_layer(annotations={"a": 1}))
    with pytest.raises(ManifestError):
        m.parse_manifest(bad)
    assert m.parse_manifest(bad, validate=False).layers[0]["annotations"] == {"a": 1}


def config_desc(media_type=m.OCI_CONFIG):
    return {"mediaType": media_type, "digest": D2, "size": 1}


@pytest.mark.parametrize("doc,message", [
    ({k: v for k, v in CONFIG.items() if k != "rootfs"}, r"\$: required field 'rootfs' is missing"),
    ({k: v for k, v in CONFIG.items() if k != "os"}, r"\$: required field 'os' is missing"),
    (dict(CONFIG, rootfs={"type": "layers"}), r"\$.rootfs: required field 'diff_ids' is missing"),
    (dict(CONFIG, rootfs={"type": "tarballs", "diff_ids": []}), r"\$.rootfs.type: 'tarballs' is not one of 'layers'"),
    (dict(CONFIG, rootfs={"type": "layers", "diff_ids": ["../../etc"]}), r"\$.rootfs.diff_ids\[0\]: '../../etc' is not a digest"),
    (dict(CONFIG, architecture=64), r"\$.architecture: 64 is not of type string"),
    (dict(CONFIG, config={"Env": "PATH=/bin"}), r"\$.config.Env: 'PATH=/bin' is not of type array"),
    (dict(CONFIG, config={"Env": None}), r"\$.config.Env: None is not of type array"),
    (dict(CONFIG, config={"Cmd": [1]}), r"\$.config.Cmd\[0\]: 1 is not of type string"),
    (dict(CONFIG, config={"Labels": {"a": 1}}), r"\$.config.Labels.a: 1 is not of type string"),
    (dict(CONFIG, config={"ExposedPorts": {"80/tcp": 1}}), r"\$.config.ExposedPorts\['80/tcp'\]: 1 is not of type object"),
    (dict(CONFIG, history=[{"empty_layer": "yes"}]), r"\$.history\[0\].empty_layer: 'yes' is not of type boolean"),
    (dict(CONFIG, **{"os.version": 10}), r"\$\['os.version'\]: 10 is not of type string"),
])
def test_bad_configs_are_refused(doc, message):
    with pytest.raises(ManifestError, match=r"^image config %s from oci:/x:y: %s" % (D2, message)):
        parse_config(raw(doc), config_desc(), "oci:/x:y")


def test_config_null_fields_follow_the_media_type():
    # docker writes Go's nil slices as null; an OCI config must not
    docker = dict(CONFIG, config={"Env": None, "Cmd": None, "Entrypoint": None, "Volumes": None, "Labels": None,
                                  "OnBuild": None}, history=None)
    assert parse_config(raw(docker), config_desc(m.DOCKER_CONFIG), "docker-archive:/a.tar")["config"]["Env"] is None
    with pytest.raises(ManifestError, match=r"\$.(config.Env|history): None is not of type array"):
        parse_config(raw(docker), config_desc(), "oci:/x")
    oci = dict(CONFIG, config={"Cmd": None, "Entrypoint": None, "Volumes": None, "Labels": None})
    assert parse_config(raw(oci), config_desc(), "oci:/x") == oci
    for text, why in ((b"[1]", "is not a JSON object"), (b"{", "is not valid JSON"), (b"\xff", "is not valid JSON")):
        with pytest.raises(ManifestError, match="^image config %s from oci:/x %s" % (D2, why)):
            parse_config(text, config_desc(), "oci:/x")


def test_json_path():
    assert json_path([]) == "$"
    assert json_path(["layers", 0, "digest"]) == "$.layers[0].digest"
    assert json_path(["annotations", "org.opencontainers.image.ref.name"]) == \
        "$.annotations['org.opencontainers.image.ref.name']"


def test_a_missing_library_is_named_at_first_use(monkeypatch):
    monkeypatch.setattr(deps, "_MISSING", {})
    assert deps.import_library("jsonschema") is jsonschema
    with pytest.raises(UndockError, match=r"'undock_test_no_such_library' is required on the managed host \(pip install"):
        deps.import_library("undock_test_no_such_library")
    assert list(deps.missing_libraries()) == ["undock_test_no_such_library"]


NO_OP = """
import sys
from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
out = ImageService(sys.argv[1], run_root=sys.argv[2]).present(sys.argv[3])
assert not out.changed, out
print(sorted(name for name in sys.modules if name.split(".")[0] in ("jsonschema", "referencing")))
"""


def test_a_store_only_present_never_imports_jsonschema(tmp_path):
    layout = str(tmp_path / "layout")
    write_image(layout, [tar_layer([Entry("etc/", "dir", mode=0o755), Entry("etc/hello", data=b"hi\n")])], tag="v1")
    store, run = str(tmp_path / "store"), str(tmp_path / "run")
    code = NO_OP.replace("present(sys.argv[3])", "present(sys.argv[3], source=sys.argv[4])").replace(
        "assert not out.changed, out", "assert out.changed, out")
    argv = [store, run, "localhost/schema/noop:v1"]
    env = dict(os.environ, PYTHONPATH=python_path())
    loaded = subprocess.run([sys.executable, "-c", code] + argv + ["oci:%s:v1" % layout], env=env,
                            capture_output=True, text=True, timeout=120, check=True).stdout
    assert "jsonschema" in loaded  # the pull from the layout validated its documents
    loaded = subprocess.run([sys.executable, "-c", NO_OP] + argv, env=env,
                            capture_output=True, text=True, timeout=120, check=True).stdout
    assert loaded.strip() == "[]"


def test_spec_schema_refuses_references_it_cannot_resolve_locally(tmp_path):
    (tmp_path / "root.json").write_text(json.dumps({"properties": {"a": {"$ref": "https://example.test/x.json"},
                                                                   "b": {"$ref": "other.json#/definitions/b"}}}))
    (tmp_path / "other.json").write_text(json.dumps({"definitions": {"b": {"type": "integer"}}}))
    schema = SpecSchema(str(tmp_path), "root.json")
    assert schema.errors({"b": 1}) == []
    assert schema.errors({"b": "1"}) == ["$.b: '1' is not of type 'integer'"]
    with pytest.raises(SchemaRefError, match="refusing to fetch 'https://example.test/x.json'"):
        schema.errors({"a": 1})
