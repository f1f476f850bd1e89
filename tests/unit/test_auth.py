from __future__ import annotations

from ansible_collections.undock.oci.plugins.module_utils.registry.auth import (
    TokenCache, basic_header, parse_www_authenticate)


def test_bearer_challenge():
    [challenge] = parse_www_authenticate(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push"')
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example.com/token"
    assert challenge.params["service"] == "registry.example.com"
    assert challenge.params["scope"] == "repository:a/b:pull,push"


def test_several_challenges_and_basic():
    challenges = parse_www_authenticate('Basic realm="Registry Realm", Bearer realm="https://x/t",service=s')
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].realm == "Registry Realm"
    assert challenges[1].params == {"realm": "https://x/t", "service": "s"}


def test_escaped_quotes():
    [challenge] = parse_www_authenticate(r'Bearer realm="https://x/t?a=\"b\""')
    assert challenge.realm == 'https://x/t?a="b"'


def test_basic_header():
    assert basic_header("user", "pa:ss") == "Basic dXNlcjpwYTpzcw=="


def test_token_cache_expiry():
    cache = TokenCache()
    key = ("r", "s", ("repository:a:pull",), "u")
    cache.put(key, "tok", 300)
    assert cache.get(key) == "tok"
    cache.put(key, "old", 0)
    assert cache.get(key) is None  # expires within the safety margin
