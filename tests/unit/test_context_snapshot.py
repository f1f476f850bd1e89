# -*- coding: utf-8 -*-
"""The build context on real temporary trees: ignore files, hostile symlinks, special files,
COPY source selection and the content digest of the cache key."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.context import snapshot as snapshot_module
from ansible_collections.undock.oci.plugins.module_utils.build.context.digest import content_digest
from ansible_collections.undock.oci.plugins.module_utils.build.context.errors import ContextError
from ansible_collections.undock.oci.plugins.module_utils.build.context.ignore import (
    IgnoreRules, find_ignore_file, load_ignore_rules)
from ansible_collections.undock.oci.plugins.module_utils.build.context.snapshot import take_snapshot
from ansible_collections.undock.oci.plugins.module_utils.build.context.sources import select_sources

pytestmark = pytest.mark.unit

SECRET = b"outside-the-context-secret\n"


def _tree(base, files):
    for rel, content in files.items():
        path = os.path.join(str(base), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content)


@pytest.fixture
def outside(tmp_path):
    """A directory beside the context holding a secret no build may read."""
    _tree(tmp_path / "outside", {"secret": SECRET, "dir/secret": SECRET})
    return tmp_path / "outside"


@pytest.fixture
def ctx(tmp_path):
    base = tmp_path / "ctx"
    _tree(base, {"Dockerfile": b"FROM scratch\n", "app/main.py": b"print(1)\n", "app/util.py": b"x = 2\n",
                 "docs/README.md": b"readme\n", "docs/guide.md": b"guide\n", "build/out.o": b"\x00",
                 "build/keep/me.txt": b"kept\n", "build/other/x.txt": b"x\n"})
    return base


def _copy(context, sources, rules=None):
    snap = take_snapshot(str(context), rules)
    return snap, select_sources(snap, sources)


def _names(items):
    return sorted(path for item in items for path, _entry in item.members)


# ---- which ignore file applies -----------------------------------------------------------

def test_containerignore_wins_over_dockerignore_in_the_context(ctx):
    (ctx / ".dockerignore").write_text("docs\n")
    assert load_ignore_rules(str(ctx)).source.endswith("/.dockerignore")
    (ctx / ".containerignore").write_text("app\n")
    rules = load_ignore_rules(str(ctx))
    assert rules.source == os.path.join(str(ctx), ".containerignore")
    assert rules.excluded("app/main.py") and not rules.excluded("docs/README.md")  # never merged


def test_the_dockerfiles_own_ignore_file_wins(ctx, tmp_path):
    (ctx / ".dockerignore").write_text("docs\n")
    (ctx / ".containerignore").write_text("docs\n")
    (ctx / "Dockerfile.containerignore").write_text("build\n")
    assert find_ignore_file(str(ctx), "Dockerfile")[0] == str(ctx / "Dockerfile.containerignore")
    (ctx / "Dockerfile.dockerignore").write_text("app\n")
    rules = load_ignore_rules(str(ctx), "Dockerfile")  # relative: to the context, as buildah
    assert rules.source == str(ctx / "Dockerfile.dockerignore")
    assert rules.excluded("app/util.py") and not rules.excluded("docs/guide.md")
    # a Dockerfile outside the context brings its own ignore file from beside it
    _tree(tmp_path / "elsewhere", {"Build.df": b"FROM scratch\n", "Build.df.dockerignore": b"*.md\n"})
    rules = load_ignore_rules(str(ctx), str(tmp_path / "elsewhere" / "Build.df"))
    assert rules.excluded("README.md") and not rules.excluded("app")
    # an inline Dockerfile (no path) uses the context's
    assert load_ignore_rules(str(ctx)).source == str(ctx / ".containerignore")


def test_no_ignore_file_excludes_nothing(ctx):
    assert find_ignore_file(str(ctx), "Dockerfile") == (None, None)
    assert not load_ignore_rules(str(ctx))


def test_an_ignore_file_linked_out_of_the_context_is_not_read(ctx, outside):
    (outside / "patterns").write_text("app\n")
    os.symlink(str(outside / "patterns"), str(ctx / ".dockerignore"))
    # resolved inside the context: <ctx>/<outside path>/patterns does not exist
    assert not load_ignore_rules(str(ctx))


def test_an_ignore_file_that_is_a_fifo_is_refused(ctx):
    os.mkfifo(str(ctx / ".dockerignore"))
    with pytest.raises(ContextError, match=r"\.dockerignore"):
        load_ignore_rules(str(ctx))


# ---- what the snapshot holds --------------------------------------------------------------

def test_excluded_directory_with_an_exception_keeps_only_what_is_reincluded(ctx):
    rules = IgnoreRules(["build", "!build/keep/me.txt", "**/*.md", "!docs/README.md"])
    snap, items = _copy(ctx, ["."], rules)
    assert _names(items) == ["Dockerfile", "app", "app/main.py", "app/util.py", "build", "build/keep",
                             "build/keep/me.txt", "docs", "docs/README.md"]
    assert "build/other" not in snap.entries and "build/out.o" not in snap.entries


def test_excluded_directory_without_exceptions_is_not_entered(ctx, monkeypatch):
    entered = []
    real = snapshot_module.open_dir_at

    def spy(fd, name, flags):
        entered.append(name)
        return real(fd, name, flags)

    monkeypatch.setattr(snapshot_module, "open_dir_at", spy)
    snap = take_snapshot(str(ctx), IgnoreRules(["build", "!docs"]))
    assert "build" not in entered and "build" not in snap.entries


def test_symlinks_out_of_the_context_are_kept_as_links_never_followed(ctx, outside):
    links = {"abs": str(outside / "secret"), "rel": "../outside/secret", "deep": "../../../../../../../etc/passwd",
             "dirlink": "../outside/dir", "chain1": "chain2", "chain2": "chain3", "chain3": "../outside/secret",
             "loop1": "loop2", "loop2": "loop1", "self": "self", "app/up": "../../outside"}
    for name, target in links.items():
        os.symlink(target, str(ctx / name))
    snap, items = _copy(ctx, ["."])
    members = {path: entry for item in items for path, entry in item.members}
    for name, target in links.items():
        assert members[name].kind == "symlink" and members[name].target == target
    assert not any("secret" in path for path in members)  # nothing below a link was walked
    digest = content_digest(snap, items)
    assert digest.startswith("sha256:")
    # as COPY sources they resolve inside the context, where the targets are not
    for name in ("abs", "rel", "deep", "chain1", "dirlink/secret", "app/up/secret"):
        with pytest.raises(ContextError, match="no such file|symlink to nothing"):
            select_sources(snap, [name])
    for name in ("loop1", "self"):
        with pytest.raises(ContextError, match="too many levels"):
            select_sources(snap, [name])


def test_symlinks_inside_the_context_are_followed_for_the_source_path_only(ctx):
    os.symlink("app", str(ctx / "applink"))
    os.symlink("/app/main.py", str(ctx / "mainlink"))  # absolute: from the context root
    os.symlink("../docs", str(ctx / "app" / "docs"))
    snap = take_snapshot(str(ctx))
    (item,) = select_sources(snap, ["mainlink"])
    assert item.path == "app/main.py" and item.name == "mainlink" and item.members[0][0] == "mainlink"
    (item,) = select_sources(snap, ["applink"])
    assert [p for p, e in item.members] == ["docs", "main.py", "util.py"]
    assert item.members[0][1].kind == "symlink"  # a link inside a copied directory stays a link
    (item,) = select_sources(snap, ["applink/docs/guide.md"])
    assert item.path == "docs/guide.md"


def test_fifo_socket_and_device_are_skipped_without_hanging(ctx):
    os.mkfifo(str(ctx / "app" / "pipe"))
    done = {}

    def walk():
        done["snap"] = take_snapshot(str(ctx))

    worker = threading.Thread(target=walk, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # unblock the reader before failing
        fd = os.open(str(ctx / "app" / "pipe"), os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("the walk blocked on a FIFO")
    snap = done["snap"]
    assert "FIFO" in snap.skipped["app/pipe"]
    (item,) = select_sources(snap, ["app"])
    assert [p for p, e in item.members] == ["main.py", "util.py"]
    with pytest.raises(ContextError, match="FIFO"):
        select_sources(snap, ["app/pipe"])
    if os.geteuid() == 0:
        os.mknod(str(ctx / "null"), 0o600 | 0o020000, os.makedev(1, 3))
        assert "character device" in take_snapshot(str(ctx)).skipped["null"]


def test_too_deep_a_context_is_refused(ctx, monkeypatch):
    monkeypatch.setattr(snapshot_module, "MAX_DEPTH", 5)
    os.makedirs(str(ctx / "a" / "b" / "c" / "d" / "e" / "f"))
    with pytest.raises(ContextError, match="deep"):
        take_snapshot(str(ctx))


def test_a_file_swapped_after_the_walk_is_refused(ctx):
    snap = take_snapshot(str(ctx))
    entry = snap.entries["app/main.py"]
    (ctx / "app" / "new.py").write_bytes(b"print(1)\n")  # same content, another file
    os.rename(str(ctx / "app" / "new.py"), str(ctx / "app" / "main.py"))
    with pytest.raises(ContextError, match="changed"):
        snap.file_sha256(entry)
    snap = take_snapshot(str(ctx))
    os.rename(str(ctx / "app"), str(ctx / "app2"))
    os.symlink("app2", str(ctx / "app"))  # a directory swapped for a link
    with pytest.raises(ContextError, match="changed"):
        snap.file_sha256(snap.entries["app/main.py"])


# ---- COPY sources -------------------------------------------------------------------------

def test_directory_sources_copy_their_contents(ctx):
    snap, items = _copy(ctx, ["app", "docs/README.md", "/build/keep/"])
    assert [(i.path, i.is_dir) for i in items] == [("app", True), ("docs/README.md", False), ("build/keep", True)]
    assert [p for p, e in items[0].members] == ["main.py", "util.py"]
    assert items[1].members[0][0] == "README.md"
    assert [p for p, e in items[2].members] == ["me.txt"]


def test_wildcards_and_dot_dot_stay_in_the_context(ctx):
    snap = take_snapshot(str(ctx))
    items = select_sources(snap, ["app/*.py", "d?cs/[Rg]*", "*/keep"])
    assert [i.path for i in items] == ["app/main.py", "app/util.py", "docs/README.md", "docs/guide.md", "build/keep"]
    (item,) = select_sources(snap, ["../../app/../docs/guide.md"])
    assert item.path == "docs/guide.md"
    with pytest.raises(ContextError, match="matches nothing"):
        select_sources(snap, ["*.none"])
    with pytest.raises(ContextError, match="no such file"):
        select_sources(snap, ["missing"])


def test_excluded_files_cannot_be_copied(ctx):
    (ctx / ".dockerignore").write_text("docs/*.md\n!docs/README.md\n")
    snap = take_snapshot(str(ctx), load_ignore_rules(str(ctx)))
    with pytest.raises(ContextError, match=r"excluded by .*\.dockerignore"):
        select_sources(snap, ["docs/guide.md"])
    (item,) = select_sources(snap, ["docs"])
    assert [p for p, e in item.members] == ["README.md"]


# ---- the content digest -------------------------------------------------------------------

def _digest(context, sources=(".",)):
    snap, items = _copy(context, list(sources))
    return content_digest(snap, items)


def test_digest_is_stable_under_touch_and_ownership(ctx):
    os.symlink("app/main.py", str(ctx / "link"))
    before = _digest(ctx)
    for dirpath, dirnames, filenames in os.walk(str(ctx)):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (1, 2), follow_symlinks=False)
    os.utime(str(ctx / "link"), (5, 6), follow_symlinks=False)
    assert _digest(ctx) == before
    if os.geteuid() == 0:
        os.chown(str(ctx / "app" / "main.py"), 1234, 5678)
        assert _digest(ctx) == before  # COPY gives 0:0 or --chown: owners never reach the layer


@pytest.mark.parametrize("change", ["content", "mode", "setuid", "link", "new_empty_dir", "rename", "dir_mode"])
def test_digest_changes_with_what_the_copy_makes(ctx, change):
    os.symlink("app/main.py", str(ctx / "link"))
    before = _digest(ctx)
    if change == "content":
        (ctx / "app" / "main.py").write_bytes(b"print(2)\n")  # same size, other bytes
    elif change == "mode":
        os.chmod(str(ctx / "app" / "main.py"), 0o755)
    elif change == "setuid":
        os.chmod(str(ctx / "app" / "main.py"), 0o4644)
    elif change == "link":
        os.unlink(str(ctx / "link"))
        os.symlink("app/util.py", str(ctx / "link"))
    elif change == "new_empty_dir":
        os.mkdir(str(ctx / "empty"))
    elif change == "rename":
        os.rename(str(ctx / "docs" / "guide.md"), str(ctx / "docs" / "guide2.md"))
    elif change == "dir_mode":
        os.chmod(str(ctx / "docs"), 0o700)
    assert _digest(ctx) != before


def test_digest_covers_only_the_selected_sources(ctx):
    before = _digest(ctx, ["app"])
    (ctx / "docs" / "guide.md").write_text("changed\n")
    assert _digest(ctx, ["app"]) == before
    (ctx / "app" / "util.py").write_text("changed\n")
    assert _digest(ctx, ["app"]) != before
    # ignored files are outside the digest too
    (ctx / ".dockerignore").write_text("app/util.py\n")
    rules = load_ignore_rules(str(ctx))
    snap = take_snapshot(str(ctx), rules)
    first = content_digest(snap, select_sources(snap, ["."]))
    (ctx / "app" / "util.py").write_text("changed again\n")
    snap = take_snapshot(str(ctx), rules)
    assert content_digest(snap, select_sources(snap, ["."])) == first


def test_too_many_entries_are_refused(ctx, monkeypatch):
    monkeypatch.setattr(snapshot_module, "MAX_ENTRIES", 5)
    with pytest.raises(ContextError, match="more than 5 entries"):
        take_snapshot(str(ctx))


def test_patterns_are_imported_only_for_a_context_with_an_ignore_file(tmp_path):
    """A no-op build (build.quick) compiles only what it uses: the pattern automata only when
    the context has an ignore file."""
    _tree(tmp_path / "plain", {"a.txt": b"a\n"})
    _tree(tmp_path / "ignoring", {"a.txt": b"a\n", ".dockerignore": b"*.log\n"})
    code = ("import sys; from ansible_collections.undock.oci.plugins.module_utils.build.context.snapshot import open_context; "
            "snapshot = open_context(sys.argv[1]); print(sorted(snapshot.entries)); "
            "print(any(m.endswith('.build.context.patterns') for m in sys.modules))")
    for name, expected in (("plain", "False"), ("ignoring", "True")):
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-1] == expected, (name, proc.stdout)
