# -*- coding: utf-8 -*-
"""Where buildkit's public Dockerfile test data lives, and how its case files are read.

The data (moby/buildkit, Apache-2.0) is not copied into this repository: it sits in the
workplace's shared directory, beside the checkout (``REPO/../shared/testdata``; from a git
worktree under ``wt/NAME`` that is ``REPO/../../shared``). ``UNDOCK_BUILDKIT_TESTDATA``
overrides the search. Missing data is an error, never a skip: a parser test that runs no
case proves nothing.
"""

from __future__ import annotations

import os
from typing import Dict, List, NamedTuple, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBDIR = os.path.join("shared", "testdata", "buildkit-dockerfile")


def data_dir() -> str:
    """The buildkit-dockerfile data directory; raises if it cannot be found."""
    override = os.environ.get("UNDOCK_BUILDKIT_TESTDATA")
    candidates = [override] if override else [
        os.path.join(REPO, "..", SUBDIR),
        os.path.join(REPO, "..", "..", SUBDIR),
    ]
    for path in candidates:
        if os.path.isfile(os.path.join(path, "shell", "envVarTest")):
            return os.path.normpath(path)
    raise RuntimeError("buildkit's Dockerfile test data is missing: looked in %s "
                       "(set UNDOCK_BUILDKIT_TESTDATA to its directory)" % ", ".join(map(os.path.normpath, candidates)))


def parser_cases(negative: bool = False) -> List[str]:
    """Names of the parser test directories (each holds a Dockerfile, and a result if positive)."""
    root = os.path.join(data_dir(), "parser", "testfiles-negative" if negative else "testfiles")
    names = sorted(name for name in os.listdir(root) if os.path.isfile(os.path.join(root, name, "Dockerfile")))
    if not names:
        raise RuntimeError("no parser cases under %s" % root)
    return names


def parser_case_path(name: str, negative: bool = False) -> str:
    return os.path.join(data_dir(), "parser", "testfiles-negative" if negative else "testfiles", name)


class EnvVarCase(NamedTuple):
    line: int
    platform: str
    source: str
    expected: str


def env_var_cases() -> List[EnvVarCase]:
    """envVarTest: ``PLATFORM|input|expected`` lines, with the README's trimming rules."""
    cases = []
    with open(os.path.join(data_dir(), "shell", "envVarTest"), encoding="utf-8") as handle:
        for number, line in enumerate(handle.read().split("\n"), 1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.strip().split("|")
            if len(fields) != 3:
                raise RuntimeError("envVarTest line %d: not PLATFORM|input|expected: %r" % (number, line))
            platform, source, expected = (field.strip() for field in fields)
            if platform not in ("A", "U", "W"):
                raise RuntimeError("envVarTest line %d: platform %r" % (number, platform))
            cases.append(EnvVarCase(number, platform, source, expected))
    return cases


class WordsCase(NamedTuple):
    line: int
    source: str
    expected: Tuple[str, ...]
    env: Tuple[Tuple[str, str], ...]


def words_cases() -> List[WordsCase]:
    """wordsTest: ``input | word,word`` lines; ``ENV k=v`` lines add to the later cases' env."""
    cases = []
    env: Dict[str, str] = {}
    with open(os.path.join(data_dir(), "shell", "wordsTest"), encoding="utf-8") as handle:
        for number, line in enumerate(handle.read().split("\n"), 1):
            if line.startswith("#") or line == "":
                continue
            if line.startswith("ENV "):
                key, _sep, value = line[3:].lstrip(" ").partition("=")  # trailing spaces matter
                env[key] = value
                continue
            fields = line.split("|")
            if len(fields) != 2:
                raise RuntimeError("wordsTest line %d: not exactly one |: %r" % (number, line))
            expected = tuple(fields[1].lstrip(" ").split(","))
            cases.append(WordsCase(number, fields[0].strip(), expected, tuple(env.items())))
    return cases
