# -*- coding: utf-8 -*-
"""The Dockerfile executor, per feature, on real parts: multi-stage with COPY --from and
target, ARG and build_args, ENTRYPOINT/CMD rules, ONBUILD, heredocs, the escape directive,
RUN mounts, secrets (scanned for in every blob and file of the store), the layer cache,
layers: false, and hostile contexts, bind sources and cache ids."""

from __future__ import annotations

import gzip
import os

import pytest

from test_dockerfile_build import EPOCH, all_blobs, build, config_of, image_files, svc, busybox, ctx  # noqa: F401

from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")


def test_multi_stage_args_target_and_copy_from(svc, busybox, ctx):
    text = """ARG BASE={base}
ARG GREETING=global
FROM $BASE AS builder
ARG GREETING
ARG TARGETARCH
ARG VERSION=0.1
RUN mkdir /out && echo "$GREETING $VERSION $TARGETARCH" > /out/made.txt && echo unused > /out/other
FROM builder AS middle
RUN echo middle > /out/middle.txt
FROM scratch AS final
COPY --from=builder /out/made.txt /made.txt
COPY --from={base} /bin/busybox /bin/busybox
COPY --from=0 /out/other /other
FROM builder AS unused
RUN exit 1
""".format(base=busybox.ref)
    outcome = build(svc, text, ctx, build_args={"VERSION": "2.0", "NOT_DECLARED": "x"}, target="final")
    files = image_files(svc)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    assert files["made.txt"][4] == ("global 2.0 %s\n" % arch).encode()
    assert files["other"][4] == b"unused\n"
    assert set(files) == {"made.txt", "bin", "bin/busybox", "other"}
    assert any("NOT_DECLARED" in w for w in outcome.warnings)
    build(svc, text, ctx, target="middle", name="localhost/df/middle:1")
    files = image_files(svc, "localhost/df/middle:1")
    assert files["out/middle.txt"][4] == b"middle\n" and files["out/made.txt"][4].startswith(b"global 0.1")
    with pytest.raises(BuildError, match="exit code 1"):
        build(svc, text, ctx, target="unused", name="localhost/df/unused:1")


def test_entrypoint_cmd_shell_onbuild_heredoc_escape(svc, busybox, ctx):
    parent = """FROM {base}
CMD ["inherited"]
ONBUILD RUN echo triggered > /onbuild.txt
""".format(base=busybox.ref)
    build(svc, parent, ctx, name="localhost/df/parent:1")
    text = """# escape=`
FROM localhost/df/parent:1
ENTRYPOINT ["/bin/echo"]
SHELL ["/bin/sh", "-ec"]
RUN echo one `
    two > /escaped.txt
RUN <<EOF
echo from heredoc > /heredoc.txt
echo "second line" >> /heredoc.txt
EOF
COPY <<EOT /etc/motd
hello $HOSTNAME
EOT
RUN cat <<EOF > /catted.txt
body
EOF
RUN <<SCRIPT
#!/bin/sh -e
echo "by $0" > /script.txt
SCRIPT
"""
    build(svc, text, ctx)
    files = image_files(svc)
    assert files["onbuild.txt"][4] == b"triggered\n"
    assert files["escaped.txt"][4] == b"one two\n"
    assert files["heredoc.txt"][4] == b"from heredoc\nsecond line\n"
    assert files["catted.txt"][4] == b"body\n"
    assert files["script.txt"][4] == b"by /run/heredoc/SCRIPT\n"
    assert not any(p.startswith("run") for p in files)
    assert files["etc/motd"][4] == b"hello \n"
    config = config_of(svc)["config"]
    assert config["Entrypoint"] == ["/bin/echo"] and "Cmd" not in config  # the inherited CMD is reset
    assert "OnBuild" not in config
    text2 = """FROM {base}
CMD echo set-here
ENTRYPOINT /bin/sh -c
""".format(base=busybox.ref)
    build(svc, text2, ctx, name="localhost/df/ep:1")
    config = config_of(svc, "localhost/df/ep:1")["config"]
    assert config["Cmd"] == ["/bin/sh", "-c", "echo set-here"]  # a CMD of this stage is kept
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh -c"]


def _scan_store(root, needle):
    for dirpath, dummy, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            assert needle not in data, path
            if data[:2] == b"\x1f\x8b":
                assert needle not in gzip.decompress(data), path


def test_secrets_never_in_a_blob_or_the_config(svc, busybox, ctx, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-T0KEN-value")
    text = """FROM {base}
RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /len.txt
RUN --mount=type=secret,id=token,target=/tmp/tok,required=true cp /tmp/tok /tmp/copied && rm /tmp/copied
RUN --mount=type=secret,id=token,env=TOKEN test "${{#TOKEN}}" = 18 && echo ok > /env-ok
""".format(base=busybox.ref)
    build(svc, text, ctx, secrets={"token": str(secret)})
    files = image_files(svc)
    assert files["len.txt"][4].strip() == b"18" and files["env-ok"][4] == b"ok\n"
    assert not any(path.startswith("run/secrets") or path.startswith("tmp/tok") for path in files)
    for blob in all_blobs(svc):
        assert b"s3cr3t-T0KEN" not in blob
    _scan_store(svc.store().root, b"s3cr3t-T0KEN")
    _scan_store(svc.run_root, b"s3cr3t-T0KEN")
    with pytest.raises(BuildError, match="other"):
        build(svc, text.replace("id=token,target=/tmp/tok", "id=other,target=/tmp/tok"), ctx,
              secrets={"token": str(secret)}, name="localhost/df/nosecret:1")


def test_layer_cache(svc, busybox, ctx):
    text = """FROM {base}
RUN echo one > /one.txt && cat /proc/sys/kernel/random/uuid > /stamp1
COPY app.txt /app.txt
RUN cat /proc/sys/kernel/random/uuid > /stamp2
""".format(base=busybox.ref)
    build(svc, text, ctx)
    first = image_files(svc)
    assert not build(svc, text, ctx).changed   # nothing changed: no build at all
    os.utime(str(ctx / "app.txt"), (1, 1))
    assert not build(svc, text, ctx).changed   # an mtime is not an input
    outcome = build(svc, text + "LABEL more=1\n", ctx)  # every instruction before the new one: cached
    assert outcome.changed and outcome.values["changed_inputs"] == ["dockerfile"]
    assert sum(1 for a in outcome.actions if a.startswith("cached:")) == 3
    assert image_files(svc) == first
    (ctx / "app.txt").write_text("app v2\n")
    outcome = build(svc, text, ctx)
    assert outcome.values["changed_inputs"] == ["dockerfile", "context:app.txt"]  # LABEL more=1 is gone too
    second = image_files(svc)
    assert second["stamp1"] == first["stamp1"]        # before the COPY: cached
    assert second["app.txt"][4] == b"app v2\n"
    assert second["stamp2"] != first["stamp2"]        # from the COPY on: run again
    outcome = build(svc, text, ctx, no_cache=True, force=True)
    assert not any(a.startswith("cached:") for a in outcome.actions)
    assert image_files(svc)["stamp1"] != first["stamp1"]


def test_failed_run_is_not_cached(svc, busybox, tmp_path):
    flag = tmp_path / "flag"
    flag.mkdir()
    text = """FROM {base}
RUN --mount=type=bind,source=.,target=/ctx test -e /ctx/ok && echo ran > /ran
""".format(base=busybox.ref)
    with pytest.raises(BuildError, match="exit code"):
        build(svc, text, flag)
    (flag / "ok").write_text("")
    build(svc, text, flag)  # the same key as the failed one: it runs now, it was not recorded
    assert image_files(svc)["ran"][4] == b"ran\n"


def test_layers_false_one_layer_per_stage(svc, busybox, ctx):
    text = """FROM {base} AS first
RUN echo a > /a
RUN echo b > /b
FROM first
COPY app.txt /
RUN echo c > /c
ENV X=1
""".format(base=busybox.ref)
    build(svc, text, ctx, layers=False)
    config = config_of(svc)
    assert len(config["rootfs"]["diff_ids"]) == 3  # busybox, the stage first, the last stage
    assert sum(1 for h in config["history"] if not h.get("empty_layer")) == 3
    assert {"a", "b", "c", "app.txt"} <= set(image_files(svc))


def test_run_mounts_cache_tmpfs_bind(svc, busybox, ctx):
    text = """FROM {base} AS tools
RUN mkdir /tools && echo tool > /tools/t
FROM {base}
RUN --mount=type=cache,target=/cache echo x >> /cache/count && wc -l < /cache/count > /count
RUN --mount=type=tmpfs,target=/scratch echo y > /scratch/y && test -e /scratch/y
RUN --mount=type=bind,from=tools,source=/tools,target=/mnt cat /mnt/t > /from-tools
RUN --mount=type=bind,source=site,target=/site,rw echo changed > /site/index.html && cp /site/index.html /copied
""".format(base=busybox.ref)
    build(svc, text, ctx)
    files = image_files(svc)
    assert files["count"][4].strip() == b"1" and files["from-tools"][4] == b"tool\n"
    assert files["copied"][4] == b"changed\n"
    assert (ctx / "site" / "index.html").read_text() == "<h1>hi</h1>\n"  # the context was not written
    assert not any(p.startswith("scratch/") or p.startswith("cache/") for p in files)
    build(svc, text.replace("wc -l", "wc  -l"), ctx)
    assert image_files(svc)["count"][4].strip() == b"2"  # the cache directory persists


def test_hostile_inputs(svc, busybox, ctx, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "host-secret").write_text("HOST-ONLY\n")
    os.symlink(str(outside / "host-secret"), str(ctx / "link-out"))
    os.symlink("../outside", str(ctx / "dir-out"))
    with pytest.raises(BuildError, match="link-out"):
        build(svc, "FROM {base}\nCOPY link-out /x\n".format(base=busybox.ref), ctx)
    with pytest.raises(BuildError, match="dir-out"):
        build(svc, "FROM {base}\nCOPY dir-out/host-secret /x\n".format(base=busybox.ref), ctx)
    # a bind source climbing out of the context (CVE-2024-1753)
    text = "FROM {base}\nRUN --mount=type=bind,source=../outside,target=/m cat /m/host-secret\n".format(
        base=busybox.ref)
    with pytest.raises(BuildError, match="leaves its root"):
        build(svc, text, ctx)
    # through a link out of the context: resolved inside it, so there is nothing there
    text = "FROM {base}\nRUN --mount=type=bind,source=dir-out,target=/m cat /m/host-secret > /leak\n".format(
        base=busybox.ref)
    with pytest.raises(BuildError):
        build(svc, text, ctx)
    # a cache id with ../ (CVE-2024-9675) names a directory of the store, never a host path
    text = ("FROM {base}\nRUN --mount=type=cache,id=../../../../outside,target=/c "
            "ls /c > /listing; test ! -e /c/host-secret\n").format(base=busybox.ref)
    build(svc, text, ctx)
    assert image_files(svc)["listing"][4] == b""
    assert sorted(os.listdir(str(outside))) == ["host-secret"]


def test_user_applies_to_run_and_add_unpacks(svc, busybox, ctx):
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("pkg/readme")
        data = b"packed\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (ctx / "pkg.tgz").write_bytes(buf.getvalue())
    text = """FROM {base}
ARG UID=65534
USER $UID
RUN id -u > /tmp/uid
USER root
ADD pkg.tgz /opt/
ADD --chmod=0600 app.txt /opt/app.txt
COPY --link --chown=1:2 app.txt /linked.txt
""".format(base=busybox.ref)
    build(svc, text, ctx)
    files = image_files(svc)
    assert files["tmp/uid"][4] == b"65534\n" and files["tmp/uid"][2] == 65534
    assert files["opt/pkg/readme"][4] == b"packed\n"
    assert files["opt/app.txt"][1] == 0o600
    assert files["linked.txt"][2:4] == (1, 2)
    assert config_of(svc)["config"]["User"] == "root"


def test_same_inputs_and_epoch_same_digest(svc, busybox, ctx, tmp_path, session_registry):
    from harness.engine import service
    text = """FROM {base} AS one
WORKDIR /w
COPY site/ ./site/
RUN echo made > made.txt
FROM {base}
COPY --from=one /w /w
ENV A=1
""".format(base=busybox.ref)
    first = build(svc, text, ctx).image["digest"]
    other = service(tmp_path / "other", session_registry)
    assert build(other, text, ctx).image["digest"] == first
    assert build(other, text, ctx, epoch=EPOCH + 1, name="localhost/df/later:1").image["digest"] != first


def test_copy_chown_owns_the_directories_it_makes(svc, busybox, ctx):
    text = "FROM {base}\nCOPY --chown=1000:1000 site/ /owned/deeper/\nCOPY app.txt /plain/\n".format(base=busybox.ref)
    build(svc, text, ctx)
    files = image_files(svc)
    assert files["owned"][2:4] == (1000, 1000) and files["owned/deeper"][2:4] == (1000, 1000)
    assert files["owned/deeper/index.html"][2:4] == (1000, 1000)
    assert files["plain"][2:4] == (0, 0)


def test_forced_rebuild_of_a_multi_stage_build_is_all_cached(svc, busybox, ctx):
    text = """FROM {base} AS build
RUN echo built > /built
COPY app.txt /app.txt
FROM {base}
COPY --from=build /built /built
RUN cat /built > /again
""".format(base=busybox.ref)
    first = build(svc, text, ctx)
    assert not any(a.startswith("cached:") for a in first.actions)
    again = build(svc, text, ctx, force=True)  # intermediate stage layers count too
    assert sum(1 for a in again.actions if a.startswith("cached:")) == 4, again.actions
    assert again.image["digest"] == first.image["digest"]
