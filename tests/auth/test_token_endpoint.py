"""The token endpoint: client authentication, scopes, and the tokens it issues."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from httpx import Response
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlmodel import Session, select

from auth.models import UsedAssertion
from auth.server import prune
from hub.clients.service import disable_client
from hub.core import db
from storage.keys import LocalKeyRing
from tests.fixtures.oauth import AUDIENCE, ISSUER, TOKEN_URL, Hub, make_assertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _assert_oauth_error(response: object, status: int, error: str) -> None:
    """RFC 6749 §5.2: invalid_client is 401 when the client used the Authorization header,
    400 when it authenticated in the body (a client assertion)."""
    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def _claims(token: str) -> tuple[dict[str, object], dict[str, object]]:
    header, payload = token.split(".")[:2]
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def test_private_key_jwt_issues_an_rfc9068_token(hub: Hub) -> None:
    client = hub.register(scopes="documents:read documents:write")
    response = hub.token_response(client, scope="documents:read")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "documents:read"
    assert "refresh_token" not in body
    assert 0 < body["expires_in"] <= 3600
    header, claims = _claims(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] in {"PS256", "ES256"}
    assert isinstance(header["kid"], str)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == claims["client_id"] == client.client_id
    assert claims["scope"] == "documents:read"
    assert claims["organisation"] == "IOM"
    assert claims["processing_activity"] == "urn:ketenhub:verwerkingsactiviteit:terugkeer"
    assert isinstance(claims["jti"], str)
    assert int(claims["exp"]) - int(claims["iat"]) <= 3600  # type: ignore[call-overload]


def test_token_verifies_against_the_published_jwks(hub: Hub) -> None:
    token = hub.token(hub.register())
    keys = KeySet.import_key_set(hub.client.get("/oauth/jwks").json())
    decoded = jwt.decode(token, keys, algorithms=["PS256", "ES256"])
    assert decoded.claims["iss"] == ISSUER


def test_no_scope_requested_gives_all_allowed_scopes(hub: Hub) -> None:
    client = hub.register(scopes="documents:read shares:write")
    assert hub.token_response(client).json()["scope"] == "documents:read shares:write"


def test_client_secret_basic_when_enabled(hub: Hub) -> None:
    client = hub.register()
    assert client.secret is not None
    response = hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_assertions_in_every_accepted_algorithm(hub: Hub, alg: str) -> None:
    key = (
        ECKey.generate_key("P-256", {"kid": "k1"}, private=True)
        if alg == "ES256"
        else RSAKey.generate_key(2048, {"kid": "k1"}, private=True)
    )
    client = hub.register(jwks={"keys": [key.as_dict(private=False)]})
    assertion = make_assertion(client, key=key, alg=alg)
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    assert response.status_code == 200, response.text


def test_assertion_audience_may_be_the_issuer(hub: Hub) -> None:
    client = hub.register()
    assertion = make_assertion(client, audience=ISSUER)
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    assert response.status_code == 200, response.text


def test_replayed_assertion_jti_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    assertion = make_assertion(client, jti="once-only")
    first = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    assert first.status_code == 200
    again = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    _assert_oauth_error(again, 400, "invalid_client")


def test_assertion_with_the_wrong_audience_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    assertion = make_assertion(client, audience="https://elsewhere.example/oauth/token")
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    _assert_oauth_error(response, 400, "invalid_client")


def test_assertion_expiring_too_far_ahead_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    assertion = make_assertion(client, lifetime=3600 + 120)
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    _assert_oauth_error(response, 400, "invalid_client")
    assert "3600s" in response.json()["error_description"]


def test_an_assertion_of_an_hour_is_accepted_and_its_jti_kept_until_it_expires(hub: Hub) -> None:
    """authlib's client signs assertions that live an hour (decision 0029): accepted, and its
    jti is remembered until then, so a replay within the hour is refused after any pruning."""
    client = hub.register()
    assertion = make_assertion(client, lifetime=3600, jti="an-hour")
    first = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    assert first.status_code == 200, first.text
    with Session(hub.services.engine) as session:
        prune(session, now=datetime.now(UTC) + timedelta(minutes=59))
        session.commit()
        assert session.exec(select(UsedAssertion.jti)).all() == ["an-hour"]
    again = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    _assert_oauth_error(again, 400, "invalid_client")


def test_a_missing_grant_type_is_invalid_request(hub: Hub) -> None:
    """RFC 6749 §5.2: a missing required parameter is invalid_request, not an unsupported
    grant type."""
    client = hub.register()
    response = hub.client.post(
        "/oauth/token",
        data={
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_assertion(client),
        },
    )
    _assert_oauth_error(response, 400, "invalid_request")
    assert "grant_type" in response.json()["error_description"]


def test_expired_assertion_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    assertion = make_assertion(client, lifetime=-120)
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    _assert_oauth_error(response, 400, "invalid_client")


def test_assertion_signed_by_another_key_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    stranger = ECKey.generate_key("P-256", {"kid": "stranger"}, private=True)
    assertion = make_assertion(client, key=stranger)
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    _assert_oauth_error(response, 400, "invalid_client")


def test_assertion_with_iss_not_sub_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    assertion = make_assertion(client, claims={"iss": "someone-else"})
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
    )
    _assert_oauth_error(response, 400, "invalid_client")


def test_disabled_client_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    with db.transaction(hub.services.engine) as session:
        disable_client(session, client.client_id)
    _assert_oauth_error(hub.token_response(client), 400, "invalid_client")


def test_wrong_secret_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    response = hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, "not-the-secret"),
    )
    _assert_oauth_error(response, 401, "invalid_client")


def test_unknown_client_is_invalid_client(hub: Hub) -> None:
    response = hub.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x")
    )
    _assert_oauth_error(response, 401, "invalid_client")


def test_scope_not_allowed_is_invalid_scope(hub: Hub) -> None:
    client = hub.register(scopes="documents:read")
    _assert_oauth_error(hub.token_response(client, scope="audit:read"), 400, "invalid_scope")


def test_unknown_scope_is_invalid_scope(hub: Hub) -> None:
    client = hub.register()
    _assert_oauth_error(hub.token_response(client, scope="everything"), 400, "invalid_scope")


def test_unsupported_grant_type(hub: Hub) -> None:
    client = hub.register()
    response = hub.token_response(client, grant_type="password")
    _assert_oauth_error(response, 400, "unsupported_grant_type")


def test_malformed_form_is_invalid_request(hub: Hub) -> None:
    response = hub.client.post(
        "/oauth/token",
        content=b"\xff\xfe&&==",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_oauth_error(response, 400, "invalid_request")


def test_json_body_is_invalid_request(hub: Hub) -> None:
    response = hub.client.post("/oauth/token", json={"grant_type": "client_credentials"})
    _assert_oauth_error(response, 400, "invalid_request")


def test_oversized_body_is_refused(hub: Hub) -> None:
    response = hub.client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&x=" + b"a" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_oauth_error(response, 413, "invalid_request")


def test_oversized_assertion_is_refused(hub: Hub) -> None:
    client = hub.register()
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion="a." * 5000 + "a"
    )
    _assert_oauth_error(response, 400, "invalid_request")
    assert "too long" in response.json()["error_description"]


def test_garbage_assertion_is_invalid_client(hub: Hub) -> None:
    client = hub.register()
    response = hub.token_response(
        client, client_assertion_type=ASSERTION_TYPE, client_assertion="!!!.@@@.###"
    )
    _assert_oauth_error(response, 400, "invalid_client")


def test_garbage_basic_auth_is_invalid_client(hub: Hub) -> None:
    response = hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic %%%not-base64%%%"},
    )
    _assert_oauth_error(response, 401, "invalid_client")


def test_get_on_the_token_endpoint_is_an_oauth_error(hub: Hub) -> None:
    response = hub.client.get("/oauth/token")
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"


def test_metadata_has_the_rfc8414_fields(hub: Hub) -> None:
    metadata = hub.client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == TOKEN_URL
    assert metadata["jwks_uri"] == f"{ISSUER}/oauth/jwks"
    assert "response_types_supported" in metadata
    assert "client_credentials" in metadata["grant_types_supported"]
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert set(metadata["token_endpoint_auth_signing_alg_values_supported"]) == {
        "RS256",
        "PS256",
        "ES256",
    }


def test_jwks_has_the_rfc7517_fields_and_no_private_members(hub: Hub) -> None:
    response = hub.client.get("/oauth/jwks")
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert {"kty", "kid", "alg", "use"} <= set(key)
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_signing_key_rotation_keeps_old_tokens_valid(hub: Hub) -> None:
    client = hub.register()
    before = hub.token(client)
    with db.transaction(hub.services.engine) as session:
        hub.services.oauth.signing.rotate(session)
    after = hub.token(client)
    assert _claims(before)[0]["kid"] != _claims(after)[0]["kid"]
    assert len(hub.client.get("/oauth/jwks").json()["keys"]) == 2
    for token in (before, after):
        response = hub.client.get(
            "/api/v1/organisations", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200


def test_a_key_two_rotations_old_is_no_longer_accepted(hub: Hub) -> None:
    client = hub.register()
    oldest = hub.token(client)
    with db.transaction(hub.services.engine) as session:
        hub.services.oauth.signing.rotate(session)
        hub.services.oauth.signing.rotate(session)
    response = hub.client.get(
        "/api/v1/organisations", headers={"Authorization": f"Bearer {oldest}"}
    )
    assert response.status_code == 401


def test_used_assertions_expire_from_the_replay_cache(hub: Hub) -> None:
    client = hub.register()
    hub.token(client)
    with Session(hub.services.engine) as session:
        assert len(session.exec(select(UsedAssertion)).all()) == 1
        prune(session, now=datetime.now(UTC) + timedelta(minutes=10))
        session.commit()
        assert session.exec(select(UsedAssertion)).all() == []
    assert time.time() > 0


def test_an_unusable_signing_key_is_an_oauth_server_error(hub: Hub) -> None:
    """A key ring that lost the KEK sealing the signing key: OAuth's JSON, no internals."""
    ring_path = hub.services.settings.resolved_key_file
    ring_path.unlink()
    LocalKeyRing.create(ring_path)
    hub.services.keys.check()  # reload the (now different) ring at once
    hub.services.oauth.signing.invalidate()
    response = hub.token_response(hub.register())
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "kek-" not in response.text
