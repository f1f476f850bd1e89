# -*- coding: utf-8 -*-
"""Real-registry fixtures from tests/harness (see tests/harness/fixtures.py)."""

import os
import sys

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TESTS not in sys.path:  # also works under --import-mode=importlib
    sys.path.insert(0, _TESTS)

from harness.fixtures import *  # noqa: E402,F401,F403
