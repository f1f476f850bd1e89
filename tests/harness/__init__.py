# -*- coding: utf-8 -*-
"""Test harness: real docker-registry processes, a token issuer, a test PKI and fixture
images pushed with skopeo. Imported as the top-level package ``harness`` (tests/ is on
sys.path); fixtures are in :mod:`harness.fixtures`.
"""
