"""Clients registered with a ``jwks_uri``: the hub fetches their keys from the partner's own key
server (real HTTP, :class:`~tests.fixtures.client_keys.ClientKeyServer`), so the partner rotates
its keys without the hub's administrator; the fetch is bounded (deadline, JSON and public keys
only, a cache within [60 s, 1 h], one refetch per interval for an unknown ``kid``) and any failure
is ``invalid_client`` with a description, never a 500 (decision 0029).

The hub's cache is given a clock the test moves, so that "a minute later" needs no sleeping.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from auth.client_auth import JWKS_URI_REFETCH_INTERVAL, ClientKeySets
from hub.clients.service import add_client
from hub.core import db
from hub.core.errors import Unprocessable
from tests.fixtures.client_keys import ClientKeyServer
from tests.fixtures.oauth import Hub, RegisteredClient, make_assertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys_server() -> Iterator[ClientKeyServer]:
    with ClientKeyServer() as server:
        yield server


@pytest.fixture
def clock(hub: Hub) -> Clock:
    """The hub's cache of client key sets, on a clock the test moves (fetches time out in half
    a second, failures are remembered for ten)."""
    clock = Clock()
    hub.services.oauth.client_keys = ClientKeySets(
        allow_http=True, timeout=0.5, failure_ttl=10.0, monotonic=clock
    )
    return clock


def _key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", {"kid": kid, "alg": "ES256"}, private=True)


def _register(hub: Hub, uri: str) -> RegisteredClient:
    with db.transaction(hub.services.engine) as session:
        new = add_client(
            session,
            organisation="IOM",
            name="IOM case system",
            scopes="documents:read",
            processing_activity="terugkeer",
            jwks_uri=uri,
            allow_http_jwks_uri=True,
        )
    assert new.private_jwk is None
    assert new.client.jwks is None
    return RegisteredClient(new.client.client_id, None, None, "IOM", new.client.scopes)


def _token_response(hub: Hub, client: RegisteredClient, key: Any, alg: str = "ES256") -> Any:
    return hub.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_assertion(client, key=key, alg=alg),
        },
    )


def _refused(response: Any, description: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client"
    assert description in response.json()["error_description"]


def test_a_client_rotates_its_own_key_and_keeps_getting_tokens(
    hub: Hub, keys_server: ClientKeyServer, clock: Clock
) -> None:
    old, new = _key("2026-11"), _key("2026-12")
    keys_server.serve(old)
    client = _register(hub, keys_server.url)
    assert _token_response(hub, client, old).status_code == 200
    assert _token_response(hub, client, old).status_code == 200
    assert keys_server.requests == 1  # cached

    keys_server.serve(new)  # the partner rotates: the old key is withdrawn
    # Just fetched: an unknown kid does not make the hub ask again yet, however many come.
    _refused(_token_response(hub, client, new), "does not verify")
    for _ in range(5):
        _refused(_token_response(hub, client, _key(secrets.token_hex(4))), "does not verify")
    assert keys_server.requests == 1

    clock.now += JWKS_URI_REFETCH_INTERVAL
    assert _token_response(hub, client, new).status_code == 200
    assert keys_server.requests == 2
    _refused(_token_response(hub, client, old), "does not verify")  # withdrawn means gone


def test_an_rsa_key_set_works_as_well(hub: Hub, keys_server: ClientKeyServer, clock: Clock) -> None:
    key = RSAKey.generate_key(2048, {"kid": "rsa-1"}, private=True)
    keys_server.serve(key)
    client = _register(hub, keys_server.url)
    assert _token_response(hub, client, key, alg="RS256").status_code == 200
    assert _token_response(hub, client, key, alg="PS256").status_code == 200


@pytest.mark.parametrize(
    ("cache_control", "kept"),
    [
        (None, 300.0),  # no advice: five minutes
        ("public, max-age=120", 120.0),
        ("max-age=5", 60.0),  # at least a minute: a partner cannot make every token a fetch
        ("max-age=999999", 3600.0),  # at most an hour: a withdrawn key does not linger
        ("no-store", 300.0),
    ],
)
def test_cache_control_max_age_is_honoured_within_a_minute_and_an_hour(
    hub: Hub, keys_server: ClientKeyServer, clock: Clock, cache_control: str | None, kept: float
) -> None:
    key = _key("k")
    keys_server.cache_control = cache_control
    keys_server.serve(key)
    client = _register(hub, keys_server.url)
    assert _token_response(hub, client, key).status_code == 200
    clock.now += kept - 1
    assert _token_response(hub, client, key).status_code == 200
    assert keys_server.requests == 1
    clock.now += 2
    assert _token_response(hub, client, key).status_code == 200
    assert keys_server.requests == 2


@pytest.mark.parametrize(
    "failure",
    [
        "server error",
        "too slow",
        "not JSON by type",
        "not JSON",
        "a private key",
        "not a set",
        "a redirect",
    ],
)
def test_a_key_server_that_fails_is_invalid_client_never_a_500(
    hub: Hub,
    keys_server: ClientKeyServer,
    clock: Clock,
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = _key("k")
    keys_server.serve(key, private=failure == "a private key")
    if failure == "server error":
        keys_server.status = 500
    elif failure == "too slow":
        keys_server.delay = 3.0
    elif failure == "not JSON by type":
        keys_server.content_type = "text/html"
    elif failure == "not JSON":
        keys_server.body = b"<html>keys</html>"
    elif failure == "not a set":
        keys_server.body = b'["keys"]'
    elif failure == "a redirect":  # never followed: it could point anywhere, inside too
        keys_server.status, keys_server.location = 302, keys_server.url + "?elsewhere"
    client = _register(hub, keys_server.url)
    with caplog.at_level(logging.WARNING, logger="auth.tokens"):
        _refused(_token_response(hub, client, key), "cannot be retrieved from its jwks_uri")
    assert f"key set fetch from {keys_server.url} failed" in caplog.text
    assert keys_server.requests == 1  # a redirect is not followed
    # The failure is remembered: a flood of assertions is not a flood of fetches.
    _refused(_token_response(hub, client, key), "cannot be retrieved")
    assert keys_server.requests == 1
    # Once the partner mends its server, and the failure is forgotten, tokens come again.
    keys_server.serve(key)
    clock.now += 11
    assert _token_response(hub, client, key).status_code == 200


def test_a_hub_that_allows_only_https_never_fetches_plain_http(
    hub: Hub, keys_server: ClientKeyServer
) -> None:
    """Production's cache refuses an http jwks_uri even if the database holds one (registered
    in development, say): no request leaves the hub."""
    hub.services.oauth.client_keys = ClientKeySets(allow_http=False)
    key = _key("k")
    keys_server.serve(key)
    client = _register(hub, keys_server.url)
    _refused(_token_response(hub, client, key), "jwks_uri is not accepted")
    assert keys_server.requests == 0


@pytest.mark.parametrize(
    ("uri", "allow_http", "problem"),
    [
        ("http://partner.example/jwks.json", False, "must use https outside demo mode"),
        ("ftp://partner.example/jwks.json", True, "must use https"),
        ("https:///jwks.json", False, "names no host"),
        ("https://user:pw@partner.example/jwks.json", False, "no credentials"),
        ("https://partner.example/jwks.json#k", False, "no fragment"),
        ("https://partner.example/" + "k" * 2048, False, "printable ASCII"),
        ("https://partner.example/jwks .json", False, "no spaces"),
        ("https://partner.example:99999/", False, "not a valid URL"),
    ],
)
def test_a_jwks_uri_is_checked_at_registration(
    hub: Hub, uri: str, allow_http: bool, problem: str
) -> None:
    with pytest.raises(Unprocessable, match=problem), db.transaction(hub.services.engine) as s:
        add_client(
            s,
            organisation="IOM",
            name="IOM case system",
            scopes="documents:read",
            processing_activity="terugkeer",
            jwks_uri=uri,
            allow_http_jwks_uri=allow_http,
        )


def test_keys_come_from_exactly_one_source(hub: Hub) -> None:
    key = _key("k")
    with (
        pytest.raises(Unprocessable, match="or a jwks_uri"),
        db.transaction(hub.services.engine) as session,
    ):
        add_client(
            session,
            organisation="IOM",
            name="IOM case system",
            scopes="documents:read",
            processing_activity="terugkeer",
            jwks={"keys": [key.as_dict(private=False)]},
            jwks_uri="https://partner.example/jwks.json",
        )
