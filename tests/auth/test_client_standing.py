"""Clients that may no longer act: disabled ones, those of a disabled organisation, and those
whose scopes break the separation of duties; and when a client was last used.

Disabling a client in the database is what ``ketenhub client disable`` does from another
process; ``services.oauth.standing.invalidate()`` then stands for the cut-off passing, whose
bound ``tests/hub/tokens/test_standing.py`` checks with a controlled clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from sqlalchemy import update
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.models import OAuthClient
from hub.clients.service import disable_client, enable_client
from hub.core import db
from hub.core.db import as_utc
from hub.core.errors import Unprocessable
from hub.directory import organisations_repository as repository
from hub.organisations.service import set_enabled
from tests.fixtures.oauth import AUDIENCE, ISSUER, Hub, RegisteredClient
from tests.fixtures.secrets import register_secret

API_ROUTES = ("/api/v1/organisations", "/api/v1/documents", "/api/v1/policy")


def _get(hub: Hub, token: str, path: str = API_ROUTES[0]) -> int:
    return hub.client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code


def _last_event(hub: Hub, action: str) -> AuditEvent:
    with Session(hub.services.engine) as session:
        statement = (
            select(AuditEvent)
            .where(col(AuditEvent.action) == action)
            .order_by(col(AuditEvent.seq).desc())
        )
        event = session.exec(statement).first()
    assert event is not None
    return event


def _row(hub: Hub, client: RegisteredClient) -> OAuthClient:
    with Session(hub.services.engine) as session:
        row = session.get(OAuthClient, client.client_id)
        assert row is not None
        return row


def _basic(client: RegisteredClient) -> tuple[str, str]:
    return (client.client_id, client.secret or "")


def test_a_disabled_clients_tokens_stop_working(hub: Hub) -> None:
    client = hub.register(scopes="documents:read")
    token = hub.token(client)
    assert all(_get(hub, token, path) == 200 for path in API_ROUTES)
    with db.transaction(hub.services.engine) as session:
        disable_client(session, client.client_id)
    hub.services.oauth.standing.invalidate()
    for path in API_ROUTES:
        assert _get(hub, token, path) == 401, path
    response = hub.client.get(API_ROUTES[0], headers={"Authorization": f"Bearer {token}"})
    assert response.json()["detail"] == "the token's client is disabled"


def next_second() -> None:
    """Wait for the clock's next whole second: a token's ``iat`` is in whole seconds, and one
    issued in the second of a disabling is taken for one issued before it."""
    time.sleep(1.01 - time.time() % 1)


def test_enabling_a_client_again_does_not_bring_back_its_old_tokens(hub: Hub) -> None:
    client, admin = hub.register(), hub.register(organisation="DTV", scopes="admin")
    old = hub.token(client)
    with db.transaction(hub.services.engine) as session:
        disable_client(session, client.client_id)
    hub.services.oauth.standing.invalidate()
    introspected = hub.client.post("/oauth/introspect", data={"token": old}, auth=_basic(admin))
    assert introspected.json() == {"active": False}

    with db.transaction(hub.services.engine) as session:
        enable_client(session, client.client_id)
    hub.services.oauth.standing.invalidate()
    response = hub.client.get(API_ROUTES[0], headers={"Authorization": f"Bearer {old}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the token was issued before its client was last disabled"
    next_second()
    assert _get(hub, hub.token(client)) == 200


def test_a_client_of_a_disabled_organisation_gets_no_token(hub: Hub) -> None:
    client = hub.register(organisation="KMAR")
    with db.transaction(hub.services.engine) as session:
        kmar = repository.get(session, "KMAR")
        assert kmar is not None
        set_enabled(session, kmar, enabled=False, now=datetime.now(UTC))
    # Read in the token request's transaction: refused at once, on every replica.
    assertion = hub.token_response(client)
    assert (assertion.status_code, assertion.json()["error"]) == (400, "invalid_client")
    event = _last_event(hub, "token.issue")
    assert (event.outcome, event.actor_id, event.organisation) == (
        "denied",
        client.client_id,
        "KMAR",
    )
    basic = hub.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=_basic(client)
    )
    assert (basic.status_code, basic.json()["error"]) == (401, "invalid_client")


def test_a_registration_that_mixes_the_duties_gets_no_token(hub: Hub) -> None:
    """A row from before the rule (add_client refuses such scopes now)."""
    client = hub.register(organisation="DTV", scopes="documents:read")
    with db.transaction(hub.services.engine) as session:
        session.execute(
            update(OAuthClient)
            .where(col(OAuthClient.client_id) == client.client_id)
            .values(scopes="audit:read documents:read")
        )
    for requested in ({}, {"scope": "documents:read"}, {"scope": "audit:read"}):
        response = hub.token_response(client, **requested)
        assert response.status_code == 400, requested
        assert response.json()["error"] == "invalid_scope"
        assert "separation of duties" in response.json()["error_description"]
    event = _last_event(hub, "token.issue")
    assert (event.outcome, event.actor_id, event.detail) == (
        "denied",
        client.client_id,
        "invalid_scope",
    )
    with db.transaction(hub.services.engine) as session:
        disable_client(session, client.client_id)
    with (
        pytest.raises(Unprocessable, match="separation of duties"),
        db.transaction(hub.services.engine) as session,
    ):
        enable_client(session, client.client_id)


def _forged(hub: Hub, **claims: Any) -> str:
    key, alg = hub.services.oauth.signing.signing_key()
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "sub": "dtv-legacy",
        "aud": AUDIENCE,
        "client_id": "dtv-legacy",
        "iat": now,
        "exp": now + 300,
        "jti": f"jti-{time.monotonic_ns()}",
        "organisation": "DTV",
        **claims,
    }
    token = jwt.encode({"alg": alg, "typ": "at+jwt", "kid": key.kid}, body, key, algorithms=[alg])
    register_secret(token, "forged access token")
    return token


def test_a_token_that_mixes_the_duties_is_refused(hub: Hub) -> None:
    """Issued before the rule, say: signed by the hub, but no client may hold both."""
    assert _get(hub, _forged(hub, scope="documents:read")) == 200  # the baseline
    assert _get(hub, _forged(hub, scope="audit:read documents:read")) == 401
    assert _get(hub, _forged(hub, scope="metrics:read documents:read")) == 401


def test_issuing_a_token_sets_last_used_to_the_minute(hub: Hub) -> None:
    client = hub.register()
    assert _row(hub, client).last_used_at is None
    before = time.time()
    hub.token(client)
    first = _row(hub, client).last_used_at
    assert first is not None
    assert before - 1 <= as_utc(first).timestamp() <= time.time() + 1
    hub.token(client)  # within the minute: no write
    assert _row(hub, client).last_used_at == first
    refused = hub.token_response(client, scope="admin")
    assert refused.status_code == 400  # a refusal is no use
    assert _row(hub, client).last_used_at == first
