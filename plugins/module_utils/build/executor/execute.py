# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One stage of a Dockerfile on a ``Build``: its instructions in order, with the layer cache.

With ``layers`` every instruction ends a layer (``Build.commit``: none when nothing
changed, and the history entry is then an ``empty_layer``), and each filesystem instruction
(RUN, COPY, ADD) is looked up in the cache first by its key (build.cachekey): the
key of the instruction before, the instruction after expansion, the stage's build args, and
the content digest of what it copies. A hit takes the recorded layer, history and config
without running anything; a record is written only after its layer was committed, so a
failed instruction is never cached. Without ``layers``, nothing is cached and the stage is
committed once, at its end.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from ...storage.rootfs import resolve_in_root
from ...storage.trees import remove_tree
from ..builder import Build
from ..cachekey import step_cache_key
from ..dockerfile.document import parse_dockerfile
from ..dockerfile.errors import DockerfileError
from ..dockerfile.instructions import Add, Arg, Copy, Instruction, Maintainer, Run, SourceContent, Workdir
from ..dockerfile.mounts import parse_mount
from ..dockerfile.shell import Lex
from ..errors import BuildError
from ..files import Destination, parse_chmod, resolve_chown
from .config_steps import NOP, apply_config_instruction
from .mounts import run_mounts
from .sources import context_selection, heredoc_sources, rootfs_sources, stage_items
from .stages import stage_index
from .state import BuildState

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

DEFAULT_SHELL = ["/bin/sh", "-c"]
NETWORKS = {"default": "host", "host": "host", "none": "none"}
SCRIPTS = "/run/heredoc/"  # where a heredoc script with a #! line is bound for its RUN (its stub never stays)


class StageExecutor:
    """Runs the instructions of stage ``index`` on ``build`` (see the module docstring)."""

    def __init__(self, state: BuildState, index: int, build: Build, key: str):
        self.state = state
        self.index = index
        self.build = build
        self.key = key
        self.lex = Lex(state.dockerfile.escape)
        self.args: Dict[str, str] = {}
        self.stage: Dict[str, Any] = {"shell": list(build.config.get("config", {}).get("Shell") or DEFAULT_SHELL),
                                      "cmd_set": False}
        self.scratch = tempfile.mkdtemp(prefix="sources-", dir=build.container.dir)
        self.declared: set = set()
        self.author = ""
        self.base_name = ""  # FROM's image as expanded, for the first history comment
        self.from_stage = False  # FROM names a stage: the first comment names its id
        self.first_key = key
        self.workdir: Optional[str] = None  # a WORKDIR not made yet: made by the next RUN, COPY or ADD
        self.private = os.path.join(build.container.run_root, "builds", build.container.id, "private")

    # -- environment ---------------------------------------------------------------------
    def env(self) -> Dict[str, str]:
        """What words expand with: the stage's args, then the config's Env over them."""
        values = dict(self.args)
        for item in self.build.config.get("config", {}).get("Env") or []:
            name, dummy, value = item.partition("=")
            values[name] = value
        return values

    def _arg(self, instruction: Arg) -> str:
        parts = []
        for definition in instruction.args:
            name = definition.key
            if name in self.state.build_args:
                value: Optional[str] = self.state.build_args[name]
                self.state.used_args.add(name)
            elif definition.default is not None:
                value = self.lex.process_word(definition.default, self.env())
            elif name in self.state.global_args:
                value = self.state.global_args[name]
            else:
                value = self.state.predefined.get(name)
            if value is not None:
                self.args[name] = value
            self.declared.add(name)
            parts.append(name if value is None else "%s=%s" % (name, value))
        self.build.note(NOP + "ARG " + " ".join(sorted(self.declared)))  # buildah's words: every ARG so far
        return "ARG " + json.dumps(parts)

    # -- history: buildah's comment (the image before) and author ----------------------
    def _annotate(self, entries: List[Dict[str, Any]], before: str) -> None:
        for entry in entries:
            if self.author:
                entry["author"] = self.author
            if not self.state.layers:
                continue
            if before != self.first_key or self.from_stage:
                entry["comment"] = "FROM " + before.split(":")[-1]  # the image before, by id, as buildah
            elif self.base_name != "scratch":
                entry["comment"] = "FROM " + self.base_name

    # -- the stage -----------------------------------------------------------------------
    def run_all(self, instructions: List[Instruction]) -> None:
        config = self.build.config.setdefault("config", {})
        triggers = config.pop("OnBuild", None) or []
        if triggers:
            instructions = self._triggers(triggers) + list(instructions)
        for instruction in instructions:
            self.one(instruction)
        if not self.state.layers:
            self.build.commit()

    def _triggers(self, triggers: List[str]) -> List[Instruction]:
        text = "\n".join(["FROM scratch"] + [str(t) for t in triggers]) + "\n"
        try:
            parsed = parse_dockerfile(text)
        except DockerfileError as err:
            raise BuildError("ONBUILD trigger of the base image: %s" % err.problem) from None
        return parsed.stages[0].instructions

    def one(self, instruction: Instruction) -> None:
        try:
            if isinstance(instruction, (Run, Copy, Add)):
                self._filesystem(instruction)
                return
            before, start = self.key, len(self.build.pending)
            if isinstance(instruction, Arg):
                text = self._arg(instruction)
            elif isinstance(instruction, Workdir):
                text = self._workdir(instruction)
            else:
                text = apply_config_instruction(self.build, instruction, self.lex, self.env(), self.stage,
                                                self.build.settings.image_format)
                if isinstance(instruction, Maintainer):
                    self.author = instruction.maintainer
            self._annotate(self.build.pending[start:], before)
            self.key = step_cache_key(self.key, text, self.args)
            if self.state.layers:
                self.build.commit()
        except DockerfileError:
            raise
        except BuildError as err:
            raise DockerfileError("%s: %s" % (instruction.name, err), instruction.line, instruction.end_line) from None

    def _filesystem(self, instruction: Instruction) -> None:
        plan = self._plan(instruction)
        key = step_cache_key(self.key, plan["text"], self.args, plan.get("content"))
        build = self.build
        if self.state.layers and self.state.cache is not None:
            record = self.state.cache.get(key)
            if record is not None:
                build.reuse(record)
                self.state.log.append("cached: %s" % plan["created_by"])
                self.key = key
                self.workdir = None  # the recorded layer has it
                return
        if "link" in plan:
            self._linked(plan, key)
            return
        start, pending = len(build.history), len(build.pending)
        layer_count = len(build.container.layers)
        if self.workdir is not None:
            rootfs = build.container.mount()
            if not os.path.lexists(resolve_in_root(rootfs, self.workdir)):
                Destination(rootfs, self.workdir).close()
        self.workdir = None
        plan["do"]()
        self._annotate(build.pending[pending:], self.key)
        self.key = key
        if not self.state.layers:
            return
        build.commit()
        if self.state.cache is not None:
            made = None
            if len(build.container.layers) > layer_count:
                made = {"desc": build.container.layers[-1], "diff_id": build.container.diff_ids[-1]}
                self._keep_blob(made["desc"])
            self.state.cache.put(key, made, build.history[start:], build.config, build.annotations)

    def _linked(self, plan: Dict[str, Any], key: str) -> None:
        """COPY --link / ADD --link: the files are copied into an empty tree (with a pending
        WORKDIR's directory), never into the image, so no link of the image is followed and
        nothing below is read. With ``layers`` the tree is a layer of its own, cached under a
        key of its own (the copy, never the parent's key): a change above it keeps its blob."""
        build, cache = self.build, self.state.cache
        own_layer = self.state.layers and not build.settings.squash
        link_key = step_cache_key("link", plan["link"], self.args, plan.get("content"))
        found = cache.get(link_key) if own_layer and cache is not None else None
        start = len(build.history)
        tree = tempfile.mkdtemp(prefix="link-", dir=self.scratch)
        try:
            os.chmod(tree, 0o755)
            if found is None:
                if self.workdir is not None:
                    Destination(tree, self.workdir).close()
                plan["do"](into=tree)
            layer, entry = build.link(tree, plan["created_by"], own_layer=own_layer,
                                      layer=found["layer"] if found is not None else None)
        finally:
            remove_tree(tree)
        if found is not None:
            entry["created_by"] = found["history"][-1]["created_by"]
            self.state.log.append("linked, cached: %s" % entry["created_by"])
        self.workdir = None
        self._annotate([entry], self.key)
        self.key = key
        if not own_layer or cache is None or layer is None:
            return
        if found is None:
            self._keep_blob(layer["desc"])
            cache.put(link_key, layer, [entry], {}, {})
        cache.put(key, layer, build.history[start:], build.config, build.annotations)

    def _keep_blob(self, desc: Dict[str, Any]) -> None:
        """Put a new layer's blob in the store at once, so that its cache record counts in the
        next build even when no image holds it (an intermediate stage's layer): until the
        store's garbage collection takes it."""
        path = self.build.container.blobs.get(desc["digest"])
        if path is None:
            return

        def opener(offset: int) -> Tuple[Any, int]:
            handle = open(path, "rb")  # pylint: disable=consider-using-with
            handle.seek(offset)
            return handle, offset
        self.state.store.ingest_blob(desc, opener)

    # -- plans: what an instruction will do, known before doing it (for its cache key) ---
    def _plan(self, instruction: Instruction) -> Dict[str, Any]:
        if isinstance(instruction, Run):
            return self._plan_run(instruction)
        return self._plan_copy(instruction)

    def _workdir(self, instruction: Workdir) -> str:
        """WORKDIR changes the config (an empty layer, as buildah); its directory is made by the
        next RUN, COPY or ADD, in that instruction's layer."""
        path = self.lex.process_word(instruction.path, self.env())
        if not path:
            raise BuildError("WORKDIR needs a path")
        current = str(self.build.config.get("config", {}).get("WorkingDir") or "/")
        full = os.path.normpath(path if path.startswith("/") else os.path.join(current, path))
        self.build.configure({"working_dir": full}, created_by=NOP + instruction.original.strip())
        self.workdir = full
        return "WORKDIR " + full

    def _run_argv(self, instruction: Run) -> List[str]:
        command = instruction.command or []
        if not instruction.shell_form:
            return list(command)
        text = command[0]
        docs = instruction.heredocs
        if len(docs) == 1 and text.strip().lstrip("<").lstrip("-").strip("'\"") == docs[0].name:
            if docs[0].content.startswith("#!"):
                return [SCRIPTS + docs[0].name]  # run by its interpreter line, as buildkit does
            return list(self.stage["shell"]) + [docs[0].content]
        for doc in docs:
            text += "\n" + doc.content + doc.name
        return list(self.stage["shell"]) + [text]

    def _plan_run(self, instruction: Run) -> Dict[str, Any]:
        env = self.env()
        try:
            mounts = [parse_mount(spec, lambda word: self.lex.process_word(word, env)) for spec in instruction.mount_specs]
        except ValueError as err:
            raise BuildError("--mount: %s" % err) from None
        argv = self._run_argv(instruction)
        network = NETWORKS[instruction.network]
        written = instruction.original.strip()[3:].strip()
        used = sorted(self.args.items())
        prefix = "|%d %s " % (len(used), " ".join("%s=%s" % kv for kv in used)) if used else ""
        created_by = prefix + "/bin/sh -c " + written  # buildah's words, whatever the SHELL
        text = json.dumps({"run": argv, "mounts": instruction.mount_specs, "network": instruction.network,
                           "shell_form": instruction.shell_form})
        config_env = {i.partition("=")[0] for i in self.build.config.get("config", {}).get("Env") or []}
        run_env = {k: v for k, v in self.args.items() if k not in config_env}

        def do() -> None:
            runtime_mounts, extra_env = run_mounts(
                mounts, secrets=self.state.secrets, store_root=self.state.store.root, private=self.private,
                context_dir=self.state.context_dir, root_of=self._root_of)
            if argv[0].startswith(SCRIPTS):
                script = os.path.join(self.private, "script")
                with open(script, "w", encoding="utf-8") as handle:
                    handle.write(instruction.heredocs[0].content)
                os.chmod(script, 0o755)
                runtime_mounts.append({"type": "bind", "source": script, "target": argv[0], "read_only": True})
            try:
                self.build.run(argv, env=dict(run_env, **extra_env), network=network, mounts=runtime_mounts,
                               created_by=created_by)
            finally:
                remove_tree(self.private)  # secret copies go as soon as the RUN ends
        return {"text": text, "created_by": created_by, "do": do}

    def _root_of(self, name: str) -> str:
        found = stage_index(self.state.dockerfile, name, self.index)
        if found is not None:
            if found not in self.state.results:
                raise BuildError("stage %s is not built (it must come before this one)" % name)
            return self.state.results[found].rootfs
        if self.state.image_root is None:
            raise BuildError("%s is neither a stage nor an image" % name)
        return self.state.image_root(name)

    def _plan_copy(self, instruction: Any) -> Dict[str, Any]:
        if getattr(instruction, "parents", False) or instruction.excludes:
            raise BuildError("--parents and --exclude (labs features of dockerfile 1.7) are not supported")
        if getattr(instruction, "keep_git_dir", None) is not None or getattr(instruction, "unpack", None) is not None:
            raise BuildError("--keep-git-dir and --unpack are not supported")
        env = self.env()

        def word(text: str) -> str:
            return self.lex.process_word(text, env)
        sources = [word(s) for s in instruction.sources]
        dest = word(instruction.dest)
        chown = word(instruction.chown) if instruction.chown else None
        chmod = parse_chmod(word(instruction.chmod)) if instruction.chmod else None
        is_add = isinstance(instruction, Add)
        from_ = getattr(instruction, "from_", "")
        contents = [(c.path, word(c.data) if c.expand else c.data) for c in instruction.contents]
        urls = [s for s in sources if is_add and (s.startswith("http://") or s.startswith("https://"))]
        local = [s for s in sources if s not in urls]
        content_parts: List[Tuple[str, str]] = []
        items = None
        if from_:
            root = self._root_of(word(from_))
            found = stage_index(self.state.dockerfile, word(from_), self.index)
            origin = self.state.results[found].key if found is not None else self.state.images[word(from_)][1]
            content_parts.append(("from", origin))
        elif local:
            items, digest = context_selection(self.state.snapshot, local)
            content_parts.append(("context", digest))
        if contents:
            content_parts.append(("heredoc", json.dumps(contents)))
        name = "ADD" if is_add else "COPY"
        given = (("from", from_), ("chown", chown), ("chmod", instruction.chmod))
        flags = "".join("--%s=%s " % (k, v) for k, v in given if v)
        created_by = NOP + "%s %s%s %s" % (name, flags, " ".join(sources + ["<<" + p for p, d in contents]), dest)
        text = json.dumps({"instruction": name, "sources": sources, "heredocs": [p for p, d in contents], "dest": dest,
                           "from": from_, "chown": chown, "chmod": chmod, "checksum": getattr(instruction, "checksum", ""),
                           **({"link": True} if instruction.link else {})})

        def do(into: Optional[str] = None) -> None:
            paths: List[str] = []
            if from_:
                paths = rootfs_sources(root, local, word(from_))
            elif items is not None:
                paths = stage_items(self.state.snapshot, items, self.scratch)
            if contents:
                paths += heredoc_sources([SourceContent(p, d, False) for p, d in contents], self.scratch)[0]
            every = paths + urls
            kind = "multi" if len(every) != 1 else "dir" if os.path.isdir(every[0]) and not os.path.islink(every[0]) \
                else "file"
            digest = hashlib.sha256(json.dumps(content_parts + [("urls", urls)]).encode()).hexdigest()
            created_by = NOP + "%s %s:%s in %s " % (name, kind, digest, dest)  # buildah's words
            if is_add:
                self.build.add(paths + urls, dest, chown, chmod, getattr(instruction, "checksum", "") or None,
                               created_by=created_by, into=into)
            else:
                self.build.copy(paths, dest if len(paths) == 1 or dest.endswith("/") else dest + "/", chown, chmod,
                                created_by=created_by, into=into)
            plan["created_by"] = created_by
        plan = {"text": text, "created_by": created_by, "content": json.dumps(content_parts) if content_parts else None,
                "do": do}
        if instruction.link:
            # the linked layer's own key: what it copies and where, never the layers below; a name
            # in --chown is resolved in the image now, so the key holds the ids it gives
            owner = resolve_chown(self.build.container.mount(), chown)
            plan["link"] = json.dumps({"copy": json.loads(text), "owner": owner,
                                       "workdir": self.build.config.get("config", {}).get("WorkingDir") or "/",
                                       "make": self.workdir})
        return plan
