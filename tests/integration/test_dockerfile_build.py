# -*- coding: utf-8 -*-
"""The Dockerfile executor on real parts: busybox from the test registry, RUN in runc, overlay
working containers. One Dockerfile per instruction group; multi-stage with COPY --from;
ARG and build_args; secrets in no blob; the layer cache; layers: false; target."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError
from ansible_collections.undock.oci.plugins.module_utils.build.executor.api import build_dockerfile

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

EPOCH = 1700000000
NAME = "localhost/df/app:1"


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "dfbuild/busybox", "1", [I.tar_layer(I.busybox_entries())])


@pytest.fixture
def svc(tmp_path, session_registry):
    return service(tmp_path, session_registry)


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    (root / "site").mkdir(parents=True)
    (root / "app.txt").write_text("app v1\n")
    (root / "site" / "index.html").write_text("<h1>hi</h1>\n")
    (root / "site" / "secret.key").write_text("ignored\n")
    (root / ".dockerignore").write_text("site/*.key\n")
    return root


def build(svc, text, ctx, **kwargs):
    kwargs.setdefault("epoch", EPOCH)
    return build_dockerfile(svc, kwargs.pop("name", NAME), text, str(ctx), **kwargs)


def image_files(svc, name=NAME):
    """path -> (type, mode, uid, gid, content) of the image's rootfs, whiteouts applied."""
    store = svc.store()
    image = svc.local_image(name)
    files = {}
    for layer in image.manifest.layers:
        data = store.read_blob(layer["digest"])
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
            for member in tar.getmembers():
                path = member.name.rstrip("/")
                base = os.path.basename(path)
                if base == ".wh..wh..opq":
                    prefix = os.path.dirname(path) + "/"
                    files = {k: v for k, v in files.items() if not k.startswith(prefix)}
                    continue
                if base.startswith(".wh."):
                    gone = os.path.join(os.path.dirname(path), base[4:])
                    files = {k: v for k, v in files.items() if k != gone and not k.startswith(gone + "/")}
                    continue
                content = tar.extractfile(member).read() if member.isfile() else member.linkname
                files[path] = (member.type, member.mode, member.uid, member.gid, content)
    return files


def config_of(svc, name=NAME):
    image = svc.local_image(name)
    return image.config


def all_blobs(svc, name=NAME):
    store = svc.store()
    image = svc.local_image(name)
    blobs = [store.read_blob(layer["digest"]) for layer in image.manifest.layers]
    return [gzip.decompress(b) for b in blobs] + [json.dumps(image.config).encode(), image.manifest.raw
                                                  if hasattr(image.manifest, "raw") else b""]


def test_run_copy_and_config(svc, busybox, ctx):
    text = """# syntax=docker/dockerfile:1
FROM {base}
LABEL org.example.name="app" version=1
ENV GREETING=hello DIR=/srv
WORKDIR $DIR/app
COPY --chmod=0640 --chown=nobody app.txt ./
COPY site/ /var/www/
RUN echo "$GREETING from $(pwd)" > out.txt && id -u >> out.txt
RUN ["/bin/sh", "-c", "echo exec > /exec.txt"]
USER nobody
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost:8080 || exit 1
MAINTAINER someone@example.com
CMD ["/bin/sh"]
""".format(base=busybox.ref)
    outcome = build(svc, text, ctx)
    assert outcome.changed
    files = image_files(svc)
    assert files["srv/app/app.txt"][1:] == (0o640, 65534, 65534, b"app v1\n")
    assert files["srv/app/out.txt"][4] == b"hello from /srv/app\n0\n"
    assert files["exec.txt"][4] == b"exec\n"
    assert files["var/www/index.html"][4] == b"<h1>hi</h1>\n"
    assert "var/www/secret.key" not in files  # .dockerignore
    config = config_of(svc)
    c = config["config"]
    assert c["Labels"] == {"org.example.name": "app", "version": "1"}
    assert "GREETING=hello" in c["Env"] and c["WorkingDir"] == "/srv/app" and c["User"] == "nobody"
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}} and c["Volumes"] == {"/data": {}}
    assert c["StopSignal"] == "SIGTERM" and c["Cmd"] == ["/bin/sh"]
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost:8080 || exit 1"], "Interval": 30 * 10 ** 9,
                                "Retries": 3}
    assert config["author"] == "someone@example.com"
    history = config["history"][1:]  # after busybox's layer; in buildah's words
    assert [h["created_by"] for h in history][:3] == [
        '/bin/sh -c #(nop) LABEL org.example.name="app" version=1', "/bin/sh -c #(nop) ENV GREETING=hello DIR=/srv",
        "/bin/sh -c #(nop) WORKDIR $DIR/app"]
    assert history[0]["empty_layer"] and history[2]["empty_layer"]  # WORKDIR: made by the next COPY
    assert history[0]["comment"] == "FROM " + busybox.ref and history[1]["comment"].startswith("FROM ")
    assert all(h["author"] == "someone@example.com" for h in history[-2:])
    assert history[3]["created_by"].startswith("/bin/sh -c #(nop) COPY file:")
    assert history[3]["created_by"].endswith(" in ./ ")
    run = [h for h in history if h["created_by"].startswith("/bin/sh -c echo")]
    assert run and not run[0].get("empty_layer")
    assert sum(1 for h in config["history"] if not h.get("empty_layer")) == len(config["rootfs"]["diff_ids"])
    again = build(svc, text, ctx)
    assert not again.changed


def test_check_mode_with_a_missing_base_writes_nothing(tmp_path, session_registry, busybox, ctx):
    svc = service(tmp_path / "fresh", session_registry, check_mode=True)
    outcome = build(svc, "FROM %s\nRUN true\n" % busybox.ref, ctx)
    assert outcome.changed and outcome.actions[-1].startswith("would build")
    assert not os.path.exists(str(tmp_path / "fresh" / "store" / "build-records"))
    assert svc.local_image(NAME) is None
