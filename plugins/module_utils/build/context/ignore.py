# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ignore files: which one applies, how its lines read, and what they exclude.

Which file (one only, never merged), in buildah's and podman's order:

1. next to the Dockerfile, ``<Dockerfile path>.dockerignore``, else
   ``<Dockerfile path>.containerignore`` (buildah reads both and prefers the
   ``.dockerignore`` one; docker's buildkit knows only ``<Dockerfile>.dockerignore``);
2. at the root of the context, ``.containerignore``, else ``.dockerignore`` (buildah and
   podman read ``.containerignore`` first; docker knows only ``.dockerignore``).

Lines, as moby/patternmatcher's ignorefile.ReadAll reads them: a UTF-8 BOM is dropped, a
line whose first character is ``#`` is a comment, surrounding white space is trimmed, a
leading ``!`` makes an exception (white space after it trimmed too), the pattern is
cleaned like Go's ``filepath.Clean`` (``./a`` and ``a/`` are ``a``, ``a//b`` is ``a/b``)
and a leading ``/`` is dropped. A ``!`` alone is an error.

Evaluation, as patternmatcher's ``MatchesOrParentMatches``: a pattern matches a path when
it matches the path or one of its parent directories; the last pattern that matches
decides (an exception re-includes, any other pattern excludes); no match is included. So a
directory that is excluded excludes what it holds, unless a later exception matches
something below it.
"""

from __future__ import annotations

import errno
import os

from ...common.fileutil import open_regular, read_bounded
from ...storage.rootfs import read_file_in_root
from .errors import ContextError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple
    from .patterns import IgnorePattern

MAX_IGNORE_FILE = 4 * 1024 * 1024
# Go's unicode.IsSpace, which strings.TrimSpace uses
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

CONTEXT_IGNORE_FILES = (".containerignore", ".dockerignore")
DOCKERFILE_IGNORE_SUFFIXES = (".dockerignore", ".containerignore")

if TYPE_CHECKING:
    Matches = Tuple[bool, ...]


def parse_ignore_text(text: str) -> List[str]:
    """The patterns of an ignore file's text, exceptions keeping their ``!``."""
    from .patterns import go_clean  # compiled only for a context that has an ignore file (build.quick)
    patterns = []
    for number, line in enumerate(text.split("\n")):
        if line.endswith("\r"):
            line = line[:-1]
        if number == 0 and line.startswith("\ufeff"):
            line = line[1:]
        if line.startswith("#"):
            continue
        line = line.strip(_GO_SPACE)
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip(_GO_SPACE)
        if line:
            line = go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


class IgnoreRules:
    """Compiled patterns, in order; ``source`` names their file in error messages."""

    def __init__(self, patterns: Sequence[str] = (), source: str = ""):
        self.source = source
        self.patterns: List[IgnorePattern] = []
        self.exceptions: List[bool] = []
        if patterns:
            self._compile(patterns)
        self._always_descend = any(e and p.literal_prefix is None for p, e in zip(self.patterns, self.exceptions))
        self._exception_literals = [p.literal_prefix for p, e in zip(self.patterns, self.exceptions) if e]

    def _compile(self, patterns: Sequence[str]) -> None:
        from .patterns import IgnorePattern, go_clean  # compiled only for a context that has an ignore file
        for raw in patterns:
            text = raw.strip(_GO_SPACE)
            if not text:
                continue
            text = go_clean(text)
            exception = text.startswith("!")
            if exception:
                if len(text) == 1:
                    raise ContextError("%sillegal exclusion pattern \"!\" (a ! needs a pattern after it)" % self._where())
                text = text[1:]
            try:
                self.patterns.append(IgnorePattern(text))
            except ContextError as err:
                raise ContextError("%s%s" % (self._where(), err)) from None
            self.exceptions.append(exception)

    def _where(self) -> str:
        return "%s: " % self.source if self.source else ""

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def evaluate(self, path: str, parent: Optional[Matches] = None) -> Tuple[bool, Matches]:
        """Whether ``path`` is excluded, and which patterns match it (for its children).

        ``parent`` is what this returned for the parent directory (None at the top): a
        pattern that matched the parent matches every path below it.
        """
        if parent is None:
            matches = tuple(pattern.matches(path) for pattern in self.patterns)
        else:
            matches = tuple(above or pattern.matches(path) for above, pattern in zip(parent, self.patterns))
        excluded = False
        for index in range(len(matches) - 1, -1, -1):
            if matches[index]:
                excluded = not self.exceptions[index]
                break
        return excluded, matches

    def excluded(self, path: str) -> bool:
        """Whether the slash-separated context path ``path`` is excluded (parents checked)."""
        parent = None
        parts = path.split("/")
        for depth in range(1, len(parts)):
            dummy, parent = self.evaluate("/".join(parts[:depth]), parent)
        return self.evaluate(path, parent)[0]

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception could re-include something below an excluded ``directory``.

        Below an excluded directory, a path matches every pattern the directory matches,
        and more. Only an exception that matches the path but not the directory can
        re-include it: one with a wildcard, or a plain one that starts with ``directory/``.
        """
        if self._always_descend:
            return True
        below = directory + "/"
        return any(literal.startswith(below) for literal in self._exception_literals)


def _read_context_file(context_dir: str, name: str) -> Optional[bytes]:
    try:
        data = read_file_in_root(context_dir, name, MAX_IGNORE_FILE + 1)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ENOENT:
            return None
        raise ContextError("%s in the build context %s cannot be read: %s"
                           % (name, context_dir, err.strerror or err)) from None
    return data


def _read_host_file(path: str) -> Optional[bytes]:
    if not os.path.lexists(path):
        return None
    try:
        fd = open_regular(path, error=ContextError)
    except OSError as err:
        raise ContextError("%s cannot be read: %s" % (path, err.strerror or err)) from None
    try:
        return read_bounded(fd, MAX_IGNORE_FILE + 1)
    finally:
        os.close(fd)


def find_ignore_file(context_dir: str, dockerfile: Optional[str] = None) -> Tuple[Optional[str], Optional[bytes]]:
    """The ignore file that applies (its path) and its bytes; ``(None, None)`` when none does.

    ``dockerfile`` is the Dockerfile's path on the host (relative paths are relative to the
    context, as buildah takes them), or None for a Dockerfile given as text.
    """
    if dockerfile:
        if not os.path.isabs(dockerfile):
            dockerfile = os.path.join(context_dir, dockerfile)
        for suffix in DOCKERFILE_IGNORE_SUFFIXES:
            data = _read_host_file(dockerfile + suffix)
            if data is not None:
                return dockerfile + suffix, data
    for name in CONTEXT_IGNORE_FILES:
        data = _read_context_file(context_dir, name)
        if data is not None:
            return os.path.join(context_dir, name), data
    return None, None


def load_ignore_rules(context_dir: str, dockerfile: Optional[str] = None) -> IgnoreRules:
    """The rules of the ignore file that applies to this context and Dockerfile (maybe none)."""
    path, data = find_ignore_file(context_dir, dockerfile)
    if path is None or data is None:
        return IgnoreRules()
    if len(data) > MAX_IGNORE_FILE:
        raise ContextError("%s is larger than %d bytes" % (path, MAX_IGNORE_FILE))
    return IgnoreRules(parse_ignore_text(data.decode("utf-8", "surrogateescape")), source=path)
