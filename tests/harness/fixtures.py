# -*- coding: utf-8 -*-
"""pytest fixtures for real registries and fixture images.

Import them into a conftest with ``from harness.fixtures import *  # noqa``.

Shared (session) registries must not be broken by tests: use ``registry_factory`` for
anything destructive (delete, kill, corrupt storage, restart). The function-scoped
``registry``/``tls_registry``/``basic_registry``/``token_registry`` hand out the session
instance and restart it (same port, same storage) if an earlier test left it dead.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, Iterator, List

import pytest

from .images import LayoutCache, PushedImage, Skopeo, push_all_fixtures, push_large_image
from .pki import PKI, make_pki
from .registry import Registry

__all__ = [
    "pki", "image_cache", "skopeo",
    "session_registry", "session_tls_registry", "session_basic_registry",
    "session_token_registry",
    "registry", "tls_registry", "basic_registry", "token_registry",
    "registry_factory", "fixture_images", "large_image",
]


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> PKI:
    """CA, server (127.0.0.1/localhost), client and standalone self-signed certs."""
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def image_cache(tmp_path_factory) -> LayoutCache:
    """Session cache of the OCI layouts built by the image helpers."""
    return LayoutCache(str(tmp_path_factory.mktemp("layouts")))


@pytest.fixture(scope="session")
def skopeo() -> Skopeo:
    """skopeo runner that knows the flags of harness registries."""
    return Skopeo()


def _session(tmp_path_factory, name: str, kind: str, pki: PKI) -> Iterator[Registry]:
    reg = Registry(kind, str(tmp_path_factory.mktemp(name)), pki=pki)
    try:
        reg.start()
        yield reg
    finally:
        reg.close()


def _alive(reg: Registry) -> Registry:
    if not reg.running:
        reg.start()
    return reg


@pytest.fixture(scope="session")
def session_registry(tmp_path_factory, pki) -> Iterator[Registry]:
    """The shared plain-HTTP registry."""
    yield from _session(tmp_path_factory, "registry-plain", "plain", pki)


@pytest.fixture(scope="session")
def session_tls_registry(tmp_path_factory, pki) -> Iterator[Registry]:
    """The shared HTTPS registry (cert signed by ``pki.ca_cert``)."""
    yield from _session(tmp_path_factory, "registry-tls", "tls", pki)


@pytest.fixture(scope="session")
def session_basic_registry(tmp_path_factory, pki) -> Iterator[Registry]:
    """The shared htpasswd registry over HTTPS (user/pass in ``.username``/``.password``)."""
    yield from _session(tmp_path_factory, "registry-basic", "basic", pki)


@pytest.fixture(scope="session")
def session_token_registry(tmp_path_factory, pki) -> Iterator[Registry]:
    """The shared token-auth registry over HTTP; its issuer is ``.issuer``."""
    yield from _session(tmp_path_factory, "registry-token", "token", pki)


@pytest.fixture
def registry(session_registry) -> Registry:
    """Shared plain-HTTP registry (do not break it: use ``registry_factory``)."""
    return _alive(session_registry)


@pytest.fixture
def tls_registry(session_tls_registry) -> Registry:
    """Shared HTTPS registry; ``.ca_cert`` is the CA to trust."""
    return _alive(session_tls_registry)


@pytest.fixture
def basic_registry(session_basic_registry) -> Registry:
    """Shared htpasswd (bcrypt) registry over HTTPS."""
    return _alive(session_basic_registry)


@pytest.fixture
def token_registry(session_token_registry) -> Registry:
    """Shared token registry; ``.issuer`` (TokenIssuer) has ``requests``, ``log``, ``reset()``."""
    return _alive(session_token_registry)


@pytest.fixture
def registry_factory(tmp_path, pki) -> Iterator[Callable[..., Registry]]:
    """``make(kind="plain", **kwargs) -> Registry``: a fresh, started registry for this test.

    kwargs go to :class:`Registry` (``tls``, ``client_auth``, ``username``, ``password``,
    ``issuer``, ``public_prefix``). All are stopped at teardown.
    """
    made: List[Registry] = []

    def make(kind: str = "plain", **kwargs) -> Registry:
        kwargs.setdefault("pki", pki)
        workdir = os.path.join(str(tmp_path), "registry-%d-%s" % (len(made), kind))
        reg = Registry(kind, workdir, **kwargs)
        made.append(reg)
        return reg.start()

    try:
        yield make
    finally:
        for reg in made:
            reg.close()


@pytest.fixture(scope="session")
def fixture_images(session_registry, image_cache) -> Dict[str, PushedImage]:
    """(a)-(f) pushed once to the session plain registry, as ``fixtures/NAME:latest``.

    Keys: oci, docker, index, list, zstd, whiteout.
    """
    return push_all_fixtures(session_registry, image_cache)


@pytest.fixture(scope="session")
def large_image(session_registry, image_cache) -> PushedImage:
    """(g) ~30 MB of random data in 3 layers on the session plain registry."""
    return push_large_image(session_registry, cache=image_cache)
