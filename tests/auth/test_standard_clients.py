"""The OAuth clients partners use, at their documented default settings, against a real hub
process over HTTP (issue 14, item 1; decision 0029).

- authlib's ``OAuth2Client`` (httpx) with ``PrivateKeyJWT``: its assertions live an hour, carry
  ``aud`` = the URL posted to (or the token endpoint when given one) and are signed RS256 unless
  told otherwise; an RSA client needs nothing else, an EC client passes ``alg="ES256"``.
  ``introspect_token`` and ``revoke_token`` work with any ``token_type_hint`` (RFC 7009 §2.1,
  RFC 7662 §2.1), and a revoked token is refused by the API.
- requests-oauthlib's ``BackendApplicationClient`` with ``fetch_token`` and a client assertion
  the partner signs itself, with ``aud`` = the issuer, as the hub advises.
- A client registered with ``ketenhub client add --jwks-uri``: keys served by the partner.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.errors import InvalidKeyTypeError
from joserfc.jwk import ECKey, RSAKey
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from tests.fixtures.cli import run_ketenhub
from tests.fixtures.client_keys import ClientKeyServer
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.secrets import register_secret
from tests.fixtures.served import SecurityHub, start_hub

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, postgres_databases: PostgresDatabases
) -> Iterator[SecurityHub]:
    with start_hub(tmp_path_factory.mktemp("standard-clients"), "sqlite", postgres_databases) as h:
        yield h


def _register(hub: SecurityHub, tmp_path: Path, *keys_source: str) -> str:
    """A new IOM client through the CLI, as an administrator registers a partner."""
    result = run_ketenhub(
        hub.env,
        "client",
        "add",
        "--org",
        "IOM",
        "--name",
        "IOM case system",
        "--scopes",
        "documents:read",
        *keys_source,
    )
    client_id: str = result.stdout.split()[1]
    assert result.stdout.startswith("client_id")
    return client_id


def _register_keys(hub: SecurityHub, tmp_path: Path, key: RSAKey | ECKey) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return _register(hub, tmp_path, "--jwks", str(path))


def _remember(key: RSAKey | ECKey) -> None:
    for member in ("d", "p", "q", "dp", "dq", "qi"):
        value = key.as_dict(private=True).get(member)
        if isinstance(value, str):
            register_secret(value, "partner private key")


def _documents(hub: SecurityHub, token: str) -> int:
    response = httpx.get(
        hub.url("/api/v1/documents"), headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code


def _authlib(hub: SecurityHub, client_id: str, key: Any, auth: PrivateKeyJWT) -> OAuth2Client:
    # The documented way: the same method for the token, introspection and revocation
    # endpoints (authlib's default for revocation would otherwise be client_secret_basic).
    return OAuth2Client(
        client_id=client_id,
        client_secret=key,
        token_endpoint_auth_method=auth,
        revocation_endpoint_auth_method=auth,
        timeout=30,
    )


def test_authlib_with_an_rsa_key_at_its_pure_defaults(hub: SecurityHub, tmp_path: Path) -> None:
    """RS256, an hour's assertion, aud = the token endpoint for every call (given one)."""
    key = RSAKey.generate_key(2048, {"kid": "iom-rsa-1"}, private=True)
    _remember(key)
    client_id = _register_keys(hub, tmp_path, key)
    token_endpoint = hub.url("/oauth/token")
    with _authlib(hub, client_id, key, PrivateKeyJWT(token_endpoint)) as client:
        token = client.fetch_token(token_endpoint, grant_type="client_credentials")
        access = token["access_token"]
        register_secret(access, "access token")
        assert token["token_type"].lower() == "bearer"
        assert _documents(hub, access) == 200

        introspected = client.introspect_token(hub.url("/oauth/introspect"), token=access)
        assert introspected.status_code == 200, introspected.text
        assert introspected.json()["active"] is True
        assert introspected.json()["client_id"] == client_id

        revoked = client.revoke_token(
            hub.url("/oauth/revoke"), token=access, token_type_hint="refresh_token"
        )
        assert revoked.status_code == 200, revoked.text
        assert _documents(hub, access) == 401
        after = client.introspect_token(hub.url("/oauth/introspect"), token=access)
        assert after.json() == {"active": False}


def test_authlib_with_an_ec_key_and_es256_and_the_url_it_posts_to(hub: SecurityHub) -> None:
    """The demo's EC key: ``alg="ES256"``, no endpoint given, so each assertion's aud is the URL
    of the endpoint being called; a wrong ``token_type_hint`` is ignored."""
    demo = hub.client("demo-iom")
    key = ECKey.import_key(demo["private_jwk"])
    with _authlib(hub, "demo-iom", key, PrivateKeyJWT(alg="ES256")) as client:
        token = client.fetch_token(
            hub.url("/oauth/token"), grant_type="client_credentials", scope="documents:read"
        )
        access = token["access_token"]
        register_secret(access, "access token")
        assert token["scope"] == "documents:read"
        introspected = client.introspect_token(
            hub.url("/oauth/introspect"), token=access, token_type_hint="bogus"
        )
        assert introspected.json()["active"] is True
        revoked = client.revoke_token(hub.url("/oauth/revoke"), token=access, token_type_hint="x")
        assert revoked.status_code == 200
        assert _documents(hub, access) == 401
        inactive = client.introspect_token(hub.url("/oauth/introspect"), token=access)
        assert inactive.json() == {"active": False}


def test_authlib_with_an_ec_key_at_the_rs256_default_is_told_why(hub: SecurityHub) -> None:
    """Without ``alg="ES256"`` authlib cannot sign with an EC key at all: the partner learns it
    before anything is sent (docs/api.md says to pass the alg, or register an RSA key)."""
    key = ECKey.import_key(hub.client("demo-iom")["private_jwk"])
    with (
        _authlib(hub, "demo-iom", key, PrivateKeyJWT()) as client,
        pytest.raises(InvalidKeyTypeError, match="'RS256' requires 'RSA' key"),
    ):
        client.fetch_token(hub.url("/oauth/token"), grant_type="client_credentials")


def test_requests_oauthlib_with_a_client_assertion_for_the_issuer(
    hub: SecurityHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # oauthlib refuses http unless told; the test hub is not behind TLS.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    demo = hub.client("demo-iom")
    key = ECKey.import_key(demo["private_jwk"])
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "ES256", "kid": key.kid},
        {
            "iss": "demo-iom",
            "sub": "demo-iom",
            "aud": hub.base_url,  # the issuer: what the hub advises partners to send
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
        },
        key,
        algorithms=["ES256"],
    )
    register_secret(assertion, "client assertion")
    session = OAuth2Session(client=BackendApplicationClient(client_id="demo-iom"))
    token = session.fetch_token(
        hub.url("/oauth/token"),
        include_client_id=True,  # else requests-oauthlib adds HTTP Basic with an empty secret
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=assertion,
        timeout=30,
    )
    register_secret(token["access_token"], "access token")
    assert session.get(hub.url("/api/v1/documents"), timeout=30).status_code == 200


def test_a_client_registered_with_a_jwks_uri_gets_a_token(hub: SecurityHub, tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", {"kid": "iom-2026-12"}, private=True)
    _remember(key)
    with ClientKeyServer() as keys_server:
        keys_server.serve(key)
        client_id = _register(hub, tmp_path, "--jwks-uri", keys_server.url)
        with _authlib(hub, client_id, key, PrivateKeyJWT(alg="ES256")) as client:
            token = client.fetch_token(hub.url("/oauth/token"), grant_type="client_credentials")
            register_secret(token["access_token"], "access token")
            assert _documents(hub, token["access_token"]) == 200
        assert keys_server.requests == 1
    listed = json.loads(run_ketenhub(hub.env, "client", "list", "--json").stdout)
    row = next(r for r in listed if r["client_id"] == client_id)
    assert row["jwks_uri"] == keys_server.url
    assert row["methods"] == ["private_key_jwt"]


def test_a_missing_grant_type_is_invalid_request_on_the_wire(hub: SecurityHub) -> None:
    response = httpx.post(
        hub.url("/oauth/token"),
        data={"scope": "documents:read"},
        auth=("demo-iom", hub.client("demo-iom")["client_secret"]),
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
