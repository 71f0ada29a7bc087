"""RFC 7662 introspection and RFC 7009 revocation, and revocation across hub processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.runtime import build_services
from tests.fixtures.oauth import ISSUER, Hub


def test_introspection_of_an_active_token(hub: Hub) -> None:
    client = hub.register()
    token = hub.token(client)
    response = hub.client.post(
        "/oauth/introspect", data={"token": token}, auth=(client.client_id, client.secret or "")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == client.client_id
    assert body["iss"] == ISSUER
    assert body["organisation"] == "IOM"


def test_introspection_of_a_revoked_token_is_inactive(hub: Hub) -> None:
    client = hub.register()
    token = hub.token(client)
    auth = (client.client_id, client.secret or "")
    assert hub.client.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
    assert hub.client.post("/oauth/introspect", data={"token": token}, auth=auth).json() == {
        "active": False
    }


def test_introspection_of_garbage_is_inactive(hub: Hub) -> None:
    client = hub.register()
    response = hub.client.post(
        "/oauth/introspect", data={"token": "garbage"}, auth=(client.client_id, client.secret or "")
    )
    assert response.json() == {"active": False}


def test_another_clients_token_is_inactive_to_a_client_without_admin(hub: Hub) -> None:
    owner, other = hub.register(), hub.register(organisation="DTV")
    token = hub.token(owner)
    response = hub.client.post(
        "/oauth/introspect", data={"token": token}, auth=(other.client_id, other.secret or "")
    )
    assert response.json() == {"active": False}


def test_introspection_needs_client_authentication(hub: Hub) -> None:
    token = hub.token(hub.register())
    response = hub.client.post("/oauth/introspect", data={"token": token})
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_revocation_needs_client_authentication(hub: Hub) -> None:
    token = hub.token(hub.register())
    response = hub.client.post("/oauth/revoke", data={"token": token})
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_a_client_cannot_revoke_another_clients_token(hub: Hub) -> None:
    """It is answered as garbage is (200), and the token stays valid (docs/decisions/0019)."""
    owner, other = hub.register(), hub.register(organisation="DTV")
    token = hub.token(owner)
    auth = (other.client_id, other.secret or "")
    response = hub.client.post("/oauth/revoke", data={"token": token}, auth=auth)
    garbage = hub.client.post("/oauth/revoke", data={"token": "garbage"}, auth=auth)
    assert response.status_code == garbage.status_code == 200
    assert response.content == garbage.content
    api = hub.client.get("/api/v1/organisations", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200


def test_revoking_twice_and_revoking_garbage_answer_200(hub: Hub) -> None:
    client = hub.register()
    token = hub.token(client)
    auth = (client.client_id, client.secret or "")
    for value in (token, token, "garbage"):
        assert hub.client.post("/oauth/revoke", data={"token": value}, auth=auth).status_code == 200


def test_an_unknown_or_wrong_token_type_hint_is_ignored(hub: Hub) -> None:
    """DESIGN.md: introspection and revocation ignore the hint and search on."""
    client = hub.register()
    token = hub.token(client)
    auth = (client.client_id, client.secret or "")
    for hint in ("refresh_token", "no-such-type"):
        data = {"token": token, "token_type_hint": hint}
        introspected = hub.client.post("/oauth/introspect", data=data, auth=auth)
        assert introspected.status_code == 200
        assert introspected.json()["active"] is True
    revoked = hub.client.post(
        "/oauth/revoke", data={"token": token, "token_type_hint": "refresh_token"}, auth=auth
    )
    assert revoked.status_code == 200
    after = hub.client.post("/oauth/introspect", data={"token": token}, auth=auth)
    assert after.json()["active"] is False


@contextmanager
def replica(hub: Hub, settings: Settings | None = None) -> Iterator[TestClient]:
    """A second hub process on the same database and keys, as replicas behind a balancer."""
    settings = settings or hub.services.settings
    services = build_services(settings)
    try:
        with TestClient(create_app(settings, services=services), base_url=ISSUER) as client:
            yield client
    finally:
        services.close()


def test_a_revocation_is_in_force_in_every_hub_process_at_once(hub: Hub) -> None:
    """Two hubs on one database: revoke on one, refused by the other at once."""
    with replica(hub) as other:
        client = hub.register()
        token = hub.token(client)
        headers = {"Authorization": f"Bearer {token}"}
        assert other.get("/api/v1/organisations", headers=headers).status_code == 200
        auth = (client.client_id, client.secret or "")
        assert hub.client.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
        assert other.get("/api/v1/organisations", headers=headers).status_code == 401


def test_tokens_from_one_replica_validate_on_another(hub: Hub) -> None:
    with replica(hub) as other:
        token = hub.token(hub.register())
        response = other.get("/api/v1/organisations", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


def test_secrets_are_refused_when_configuration_disables_them(hub: Hub) -> None:
    """The hub fixture allows secrets; a replica configured without them refuses the same one."""
    settings = hub.services.settings.model_copy(update={"client_secret_auth": False})
    with replica(hub, settings) as other:
        client = hub.register()
        response = other.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, client.secret or ""),
        )
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        metadata = other.get("/.well-known/oauth-authorization-server").json()
        assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
