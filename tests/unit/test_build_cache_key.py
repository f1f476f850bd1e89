# -*- coding: utf-8 -*-
"""The cache key of a build step: every input counts, nothing else does."""

from __future__ import annotations

import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.cachekey import step_cache_key
from ansible_collections.undock.oci.plugins.module_utils.build.context.digest import content_digest
from ansible_collections.undock.oci.plugins.module_utils.build.context.snapshot import open_context
from ansible_collections.undock.oci.plugins.module_utils.build.context.sources import select_sources

pytestmark = pytest.mark.unit

BASE = "sha256:" + "a" * 64
STEP = dict(parent=BASE, instruction="COPY --chown=1:1 app /app", build_args={"A": "1", "B": "2"},
            content="sha256:" + "c" * 64)


def test_same_inputs_same_key_and_argument_order_does_not_count():
    assert step_cache_key(**STEP) == step_cache_key(**dict(STEP, build_args={"B": "2", "A": "1"}))
    assert step_cache_key(**STEP).startswith("sha256:")


@pytest.mark.parametrize("field,value", [
    ("parent", "scratch"), ("parent", "sha256:" + "b" * 64), ("instruction", "COPY --chown=1:2 app /app"),
    ("build_args", {"A": "1"}), ("build_args", {"A": "1", "B": "3"}), ("build_args", {"A": "1", "B2": ""}),
    ("content", None), ("content", "sha256:" + "d" * 64),
])
def test_each_input_changes_the_key(field, value):
    assert step_cache_key(**dict(STEP, **{field: value})) != step_cache_key(**STEP)


def test_touch_keeps_the_key_and_an_edit_changes_it(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "app").mkdir(parents=True)
    (ctx / "app" / "main.py").write_text("print(1)\n")
    (ctx / ".dockerignore").write_text("**/*.log\n")

    def key():
        snap = open_context(str(ctx))
        return step_cache_key(BASE, "COPY app /app", {}, content_digest(snap, select_sources(snap, ["app"])))

    first = key()
    (ctx / "app" / "debug.log").write_text("ignored\n")  # excluded: not an input
    os.utime(str(ctx / "app" / "main.py"), (10, 10))
    assert key() == first
    (ctx / "app" / "main.py").write_text("print(2)\n")
    assert key() != first


def test_path_digest_of_host_paths_is_the_context_digest(tmp_path):
    """oci_build's steps copy host paths: they are digested by the same walk as a context."""
    from ansible_collections.undock.oci.plugins.module_utils.build.context.digest import path_digest
    from ansible_collections.undock.oci.plugins.module_utils.build.context.errors import ContextError
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a*[b]").write_text("one\n")
    os.symlink("/etc/passwd", str(tree / "link"))
    snap = open_context(str(tree))
    assert path_digest(str(tree)) == content_digest(snap, select_sources(snap, ["."]))
    (tree / "sub" / "plain").write_text("one\n")
    sub = open_context(str(tree / "sub"))
    assert path_digest(str(tree / "sub" / "plain")) == content_digest(sub, select_sources(sub, ["plain"]))
    single = path_digest(str(tree / "sub" / "a*[b]"))  # a name with wildcard characters: itself alone
    (tree / "sub" / "a*[b]").write_text("two\n")
    assert path_digest(str(tree / "sub" / "a*[b]")) != single
    before = path_digest(str(tree))
    os.utime(str(tree / "sub" / "a*[b]"), (5, 5))
    assert path_digest(str(tree)) == before
    os.unlink(str(tree / "link"))
    os.symlink("/etc/shadow", str(tree / "link"))  # a link's target is its content, never followed
    assert path_digest(str(tree)) != before
    assert path_digest(str(tree / "link")) != path_digest("/etc/shadow")
    with pytest.raises(ContextError):
        path_digest(str(tmp_path / "missing"))
