"""hub.web.routes in process: a route with a body authenticates before the body is read, and
the token is validated once per request.

The served hub is attacked in tests/security/test_api4_resource_consumption.py.
"""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from auth.tokens import Principal
from hub.auditing.endpoints import router as auditing
from hub.documents.endpoints import router as documents
from hub.organisations.endpoints import router as organisations
from hub.policy.endpoints import router as policy
from hub.shares.endpoints import router as shares
from hub.web.routes import TokenFirstRoute, needs_token
from tests.fixtures.oauth import Hub

SEARCH = "/api/v1/documents/search"
NOT_JSON = b"{this is not json"


def test_no_token_is_401_before_the_body_is_parsed(hub: Hub) -> None:
    response = hub.client.post(
        SEARCH, content=NOT_JSON, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401  # not the 422 that parsing the body would give
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_bad_token_is_401_before_the_body_is_parsed(hub: Hub) -> None:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer not.a.token"}
    response = hub.client.post(SEARCH, content=NOT_JSON, headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_valid_token_then_the_body_is_parsed(hub: Hub) -> None:
    token = hub.token(hub.register(organisation="DTV"))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    response = hub.client.post(SEARCH, content=NOT_JSON, headers=headers)
    assert response.status_code == 422


def test_the_token_is_validated_once_per_request(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    token = hub.token(hub.register(organisation="DTV"))
    validator = hub.client.app.state.token_validator  # type: ignore[attr-defined]
    validate = validator.validate
    calls: list[str] = []

    def counted(raw: str) -> Principal:
        calls.append(raw)
        principal: Principal = validate(raw)
        return principal

    monkeypatch.setattr(validator, "validate", counted)
    response = hub.client.post(
        SEARCH, json={"v_number": "1234567890"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert calls == [token]


@pytest.mark.parametrize(
    "router",
    [documents, shares, policy, auditing, organisations],
    ids=["documents", "shares", "policy", "auditing", "organisations"],
)
def test_every_route_with_a_body_and_a_token_authenticates_first(router: APIRouter) -> None:
    for route in router.routes:
        assert isinstance(route, APIRoute)
        if route.body_field is not None and needs_token(route.dependant):
            assert isinstance(route, TokenFirstRoute), route.path
