# -*- coding: utf-8 -*-
"""Typed Dockerfile instructions: forms, flags, mounts, healthchecks, stages, and their errors."""

from __future__ import annotations

import re

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile import instructions as ins
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.document import parse_dockerfile
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.errors import DockerfileError
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.mounts import parse_mount
from ansible_collections.undock.oci.plugins.module_utils.build.dockerfile.units import parse_duration, parse_ram_size

pytestmark = pytest.mark.unit


def steps(body, head="FROM scratch\n"):
    return parse_dockerfile(head + body).stages[-1].instructions


def one(body):
    (instruction,) = steps(body)
    return instruction


def test_stages_and_global_args():
    df = parse_dockerfile("# syntax=docker/dockerfile:1.7\nARG BASE=alpine V\n"
                          "FROM --platform=$BUILDPLATFORM ${BASE} AS Builder\nRUN make\n"
                          "from builder as final\nCOPY --from=builder /out /\n")
    assert [(a.key, a.default) for a in df.meta_args[0].args] == [("BASE", "alpine"), ("V", None)]
    assert [(s.name, s.base, s.source.platform, len(s.instructions)) for s in df.stages] == [
        ("builder", "${BASE}", "$BUILDPLATFORM", 1), ("final", "builder", "", 1)]
    assert df.syntax == "docker/dockerfile:1.7" and df.stage("FINAL") is df.stages[1] and df.stage("0") is df.stages[0]
    with pytest.raises(DockerfileError, match="target stage nope could not be found"):
        df.stage("nope")


def test_run_forms():
    shell, exec_ = steps("RUN echo $HOME \\\n && true\nRUN [\"/bin/echo\", \"$HOME\"]\n")
    assert (shell.command, shell.shell_form) == (["echo $HOME  && true"], True)
    assert (exec_.command, exec_.shell_form) == (["/bin/echo", "$HOME"], False)


def test_run_flags_and_mounts():
    run = one("RUN --network=none --security=insecure --mount=type=secret,id=tok,required "
              "--mount=type=cache,target=/c,sharing=locked,mode=0700,uid=1000 "
              "--mount=type=tmpfs,target=/t,size=64m --mount=target=/src,rw=true --mount=type=bind,from=ctx,ro "
              "make\n")
    assert (run.network, run.security) == ("none", "insecure")
    secret, cache, tmpfs, bind, bound = run.mounts
    assert (secret.type, secret.id, secret.required, secret.read_only) == ("secret", "tok", True, True)
    assert (cache.type, cache.target, cache.sharing, cache.mode, cache.uid, cache.read_only) == \
        ("cache", "/c", "locked", 0o700, 1000, False)
    assert (tmpfs.type, tmpfs.size_limit, tmpfs.read_only) == ("tmpfs", 64 << 20, False)
    assert (bind.type, bind.target, bind.read_only) == ("bind", "/src", False)
    assert (bound.from_, bound.read_only) == ("ctx", True)


def test_mount_values_with_variables_are_checked_after_expansion():
    run = one("RUN --mount=type=cache,target=$DIR,uid=$UID make\n")
    assert run.mount_specs == ["type=cache,target=$DIR,uid=$UID"]
    assert run.mounts[0].uid is None and run.mounts[0].target == ""
    expanded = parse_mount(run.mount_specs[0], lambda v: v.replace("$DIR", "/c").replace("$UID", "7"))
    assert (expanded.target, expanded.uid) == ("/c", 7)
    with pytest.raises(ValueError, match="invalid value x for uid"):
        parse_mount(run.mount_specs[0], lambda v: v.replace("$UID", "x"))


@pytest.mark.parametrize("spec,problem", [
    ("type=nfs", 'unsupported mount type "nfs"'),
    ("type=bind,size=1m", "unexpected key 'size' for mount type 'bind'"),
    ("type=bind,mode=0700", 'mode not allowed for "bind" type mounts'),
    ("type=secret", "invalid secret mount. one of source, target required"),
    ("type=secret,id=a,source=b", "both source and id can't be set"),
    ("type=secret,id=a,from=x", "secret mount should not have a from"),
    ("type=bind,sharing=shared", "invalid cache sharing set for bind mount"),
    ("type=cache,sharing=everyone", 'unsupported sharing value "everyone"'),
    ("type=bind,required", "unexpected key 'required' for mount type 'bind'"),
    ("type=cache,bogus=1", "unexpected key 'bogus'"),
    ("type=cache,justaword", "invalid field 'justaword' must be a key=value pair"),
    ("type=cache,from=$STAGE", "'from' doesn't support variable expansion"),
    ("type=cache,ro=maybe", "invalid value for ro: maybe"),
    ("type=cache,mode=0o7", "invalid value 0o7 for mode"),
])
def test_bad_mounts(spec, problem):
    with pytest.raises(DockerfileError, match="line 2: .*" + re.escape(problem)):
        steps("RUN --mount=%s true\n" % spec)


@pytest.mark.parametrize("body,problem", [
    ("RUN --network=bridge x\n", 'invalid network mode "bridge"'),
    ("RUN --security=maybe x\n", 'security "maybe" is not valid'),
    ("RUN --mount x\n", "missing a value on flag: --mount"),
    ("RUN --network=none --network=host x\n", "duplicate flag specified: --network"),
    ("COPY --link= a b\n", "missing a value on flag: --link"),
    ("COPY --link=yes a b\n", "expecting boolean value for flag --link, not: yes"),
    ("COPY --chown a b\n", "missing a value on flag: --chown"),
    ("COPY --user=me a b\n", "unknown flag: --user (COPY accepts: --chmod, --chown, --exclude, --from, --link"),
    ("ADD --from=x a b\n", "unknown flag: --from"),
    ("ENV --x=1 A=b\n", "unknown flag: --x (ENV accepts: none)"),
    ("RUN\n", "RUN requires at least one argument"),
    ("COPY a\n", "COPY requires at least two arguments"),
    ("COPY a <<EOF\nx\nEOF\n", "COPY cannot accept a heredoc as a destination"),
    ("FROM a AS 1st\n", 'invalid name for build stage: "1st"'),
    ("FROM a b\n", "FROM requires either one or three arguments"),
    ("SHELL sh -c\n", "SHELL requires the arguments to be in JSON form"),
    ("USER\n", "USER requires exactly one argument"),
    ("WORKDIR\n", "WORKDIR requires exactly one argument"),
    ("EXPOSE\n", "EXPOSE requires at least one argument"),
    ("ONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM x\n", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD\n", "ONBUILD requires at least one argument"),
    ("ARG =x\n", "ARG names can not be blank"),
    ("ENV =x\n", "ENV names can not be blank"),
    ("FROBNICATE x\n", "unknown instruction: FROBNICATE"),
    ("HEALTHCHECK\n", "HEALTHCHECK requires at least one argument"),
    ("HEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK --interval=1s NONE\n", "unknown flag: --interval"),
    ("HEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK CONNECT TCP 7000\n", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK --interval=5 CMD x\n", "--interval: invalid duration"),
    ("HEALTHCHECK --timeout=1us CMD x\n", 'Interval "timeout" cannot be less than 1ms'),
    ("HEALTHCHECK --retries=-1 CMD x\n", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --retries=x CMD x\n", "--retries: not an integer"),
    ("VOLUME [\"\"]\n", "VOLUME specified can not be an empty string"),
])
def test_instruction_errors_name_the_line(body, problem):
    with pytest.raises(DockerfileError) as caught:
        steps(body)
    assert caught.value.line == 2 and problem in str(caught.value), str(caught.value)
    assert str(caught.value).startswith("Dockerfile line")


def test_instruction_before_from():
    with pytest.raises(DockerfileError, match=r"line 2: RUN before the first FROM"):
        parse_dockerfile("ARG X\nRUN x\nFROM a\n")


def test_copy_and_add_flags_and_heredoc_sources():
    copy, add = steps("COPY --from=build --chown=app:app --chmod=0644 --link --parents --exclude=*.md "
                      "--exclude=.git a b <<-EOF /dst/\n\thello $X\n\tEOF\n"
                      "ADD --checksum=sha256:abc --keep-git-dir=false --unpack --link=false "
                      "https://x/y.tar.gz /\n")
    assert (copy.from_, copy.chown, copy.chmod, copy.link, copy.parents, copy.excludes) == \
        ("build", "app:app", "0644", True, True, ["*.md", ".git"])
    assert (copy.sources, copy.dest) == (["a", "b"], "/dst/")
    assert [(c.path, c.data, c.expand) for c in copy.contents] == [("EOF", "hello $X\n", True)]
    assert (add.checksum, add.keep_git_dir, add.unpack, add.link, add.sources) == \
        ("sha256:abc", False, True, False, ["https://x/y.tar.gz"])
    assert one("ADD a b\n").unpack is None


def test_copy_json_form_sources_are_never_heredocs():
    copy = one('COPY ["<<EOF", "/d"]\n')
    assert (copy.sources, copy.contents) == (["<<EOF"], [])


def test_env_and_label_forms():
    env, label, legacy = steps('ENV A=1 B="two words"\nLABEL "com.x"=y\nENV PATH /usr/bin:/bin  more\n')
    assert [(p.key, p.value, p.legacy) for p in env.pairs] == [("A", "1", False), ("B", '"two words"', False)]
    assert [(p.key, p.value) for p in label.pairs] == [('"com.x"', "y")]
    assert [(p.key, p.value, p.legacy) for p in legacy.pairs] == [("PATH", "/usr/bin:/bin  more", True)]


def test_cmd_entrypoint_shell_stopsignal_user_workdir_volume_expose_maintainer():
    got = steps('CMD ["a", "b"]\nCMD run me\nENTRYPOINT []\nENTRYPOINT ["x"]\nSHELL ["/bin/sh", "-ec"]\n'
                'STOPSIGNAL SIGTERM\nUSER app:app\nWORKDIR /srv/my app\nVOLUME /a /b\nVOLUME ["/c d"]\n'
                'EXPOSE 8080/tcp 80\nMAINTAINER Jane <j@example.com>\n')
    cmd, cmd_shell, ep_clear, ep, shell, stop, user, workdir, vol, vol_json, expose, maintainer = got
    assert (cmd.command, cmd.shell_form, cmd_shell.command, cmd_shell.shell_form) == (["a", "b"], False, ["run me"], True)
    assert ep_clear.command is None and ep.command == ["x"]
    assert shell.shell == ["/bin/sh", "-ec"] and stop.signal == "SIGTERM" and user.user == "app:app"
    assert workdir.path == "/srv/my app" and vol.volumes == ["/a", "/b"] and vol_json.volumes == ["/c d"]
    assert expose.ports == ["80", "8080/tcp"] and maintainer.maintainer == "Jane <j@example.com>"
    assert isinstance(maintainer, ins.Maintainer) and isinstance(ep, ins.Entrypoint)


def test_healthcheck():
    exec_, shell, none = steps("HEALTHCHECK --interval=1m30s --timeout=3s --start-period=0s --start-interval=500ms "
                               "--retries=3 CMD [\"curl\", \"-f\", \"http://localhost/\"]\n"
                               "HEALTHCHECK CMD curl -f http://localhost/ || exit 1\nHEALTHCHECK none\n")
    assert exec_.test == ["CMD", "curl", "-f", "http://localhost/"]
    assert (exec_.interval, exec_.timeout, exec_.start_period, exec_.start_interval, exec_.retries) == \
        (90 * 10 ** 9, 3 * 10 ** 9, 0, 5 * 10 ** 8, 3)
    assert shell.test == ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
    assert none.test == ["NONE"]


def test_onbuild_keeps_the_trigger_text_with_its_heredocs():
    plain, doc = steps("onbuild   RUN echo $X\nONBUILD COPY <<EOF /f\nhi\nEOF\n")
    assert (plain.trigger, plain.expression) == ("RUN", "RUN echo $X")
    assert doc.expression == "COPY <<EOF /f\nhi\nEOF"


@pytest.mark.parametrize("text,nanoseconds", [
    ("0", 0), ("5s", 5 * 10 ** 9), ("1m30s", 90 * 10 ** 9), ("1.5h", 5400 * 10 ** 9), ("300ms", 3 * 10 ** 8),
    ("2us", 2000), ("2µs", 2000), ("10ns", 10), (".5s", 5 * 10 ** 8), ("-1s", -(10 ** 9)),
])
def test_durations(text, nanoseconds):
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "5", "s", "1x", "1s2", "+", "1.s.s"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text,size", [("1024", 1024), ("64m", 64 << 20), ("1g", 1 << 30), ("2KiB", 2048),
                                       ("1.5 GB", 3 << 29)])
def test_sizes(text, size):
    assert parse_ram_size(text) == size
