"""``Idempotency-Key`` on ``POST /api/v1/shares``: a retried grant makes one share.

The same key with the same body answers the first share again (its id, ``Location`` and
receipt) and makes and records nothing new; with another body 422, while the first still runs
409, malformed 400, each refusal recorded as ``share.create``. Keys are the caller's own and
live 24 hours.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from audit.models import AuditEvent
from hub.idempotency.keys import key_hash
from hub.idempotency.service import Claim, Idempotency
from hub.tables.idempotency import IdempotencyKey
from hub.tables.shares import Share
from tests.fixtures.documents import ALL_SCOPES, API, DocumentHub, pdf

_cases = count(4100000001)


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    return module_documents_hub


def new_key() -> str:
    return f'"{uuid.uuid4()}"'


def grant(
    documents_hub: DocumentHub,
    body: dict[str, Any],
    key: str | None,
    *,
    auth: dict[str, str] | None = None,
) -> httpx.Response:
    headers = dict(auth or documents_hub.auth("DTV"))
    if key is not None:
        headers["Idempotency-Key"] = key
    return documents_hub.client.post(f"{API}/shares", json=body, headers=headers)


def case_body(case: str | None = None, **changes: Any) -> dict[str, Any]:
    body = {
        "grantee": "GM0363",
        "v_number": case or str(next(_cases)),
        "document_types": ["travel_document"],
        "purpose": "terugkeer",
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    return {**body, **changes}


def events(documents_hub: DocumentHub, since: int, action: str = "share.create") -> list[str]:
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(AuditEvent.outcome).where(
            col(AuditEvent.seq) > since, col(AuditEvent.action) == action
        )
        return list(session.exec(statement).all())


def head(documents_hub: DocumentHub) -> int:
    with Session(documents_hub.hub.services.engine) as session:
        return session.exec(select(func.max(AuditEvent.seq))).one() or 0


def shares_of_case(documents_hub: DocumentHub, case: str) -> int:
    protector = documents_hub.hub.services.protector()
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(func.count()).where(col(Share.v_index) == protector.blind_index(case))
        return session.exec(statement).one()


def test_the_same_key_and_body_answer_the_first_share_again(documents_hub: DocumentHub) -> None:
    body, key = case_body(), new_key()
    first = grant(documents_hub, body, key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    since = head(documents_hub)

    again = grant(documents_hub, body, key)

    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == first.json()  # the same share, v-number and receipt
    assert shares_of_case(documents_hub, body["v_number"]) == 1
    assert events(documents_hub, since) == []  # a replay records nothing


def test_a_document_share_is_replayed_too(documents_hub: DocumentHub) -> None:
    document = documents_hub.uploaded("IOM", pdf(), v_number=str(next(_cases)))["id"]
    body = {
        "grantee": "GM0363",
        "document_id": document,
        "purpose": "terugkeer",
        "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
    }
    key = new_key()
    first = grant(documents_hub, body, key)
    again = grant(documents_hub, body, key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_body_is_refused(documents_hub: DocumentHub) -> None:
    body, key = case_body(), new_key()
    assert grant(documents_hub, body, key).status_code == 201
    since = head(documents_hub)

    other = grant(documents_hub, {**body, "purpose": "opvang"}, key)

    assert other.status_code == 422, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"].endswith("idempotency-key-reused")
    assert events(documents_hub, since) == ["invalid"]
    assert shares_of_case(documents_hub, body["v_number"]) == 1


def test_the_same_meaning_written_otherwise_is_the_same_request(
    documents_hub: DocumentHub,
) -> None:
    """The fingerprint is of the parsed body: the same instant in another offset, the same
    request."""
    expires = datetime.now(UTC) + timedelta(days=30)
    body, key = case_body(expires_at=expires.isoformat()), new_key()
    first = grant(documents_hub, body, key)
    offset = expires.astimezone(UTC).astimezone(datetime.now().astimezone().tzinfo)
    shifted = {**body, "expires_at": offset.isoformat()}
    assert grant(documents_hub, shifted, key).json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    "key",
    [b"plain-token", b'""', b'"' + b"x" * 256 + b'"', '"caf\u00e9"'.encode("latin-1")],
    ids=repr,
)
def test_a_malformed_key_is_refused_and_recorded(documents_hub: DocumentHub, key: bytes) -> None:
    body = case_body()
    since = head(documents_hub)
    headers = [
        (b"Authorization", documents_hub.auth("DTV")["Authorization"].encode()),
        (b"Idempotency-Key", key),
    ]
    response = documents_hub.client.post(f"{API}/shares", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("idempotency-key-malformed")
    assert events(documents_hub, since) == ["invalid"]
    assert shares_of_case(documents_hub, body["v_number"]) == 0


def test_a_key_still_in_progress_is_refused(documents_hub: DocumentHub) -> None:
    body, key = case_body(), new_key()
    client = documents_hub.hub.register(organisation="DTV", scopes=ALL_SCOPES)
    auth = {"Authorization": f"Bearer {documents_hub.hub.token(client)}"}
    # The first request, on another replica, has claimed the key and not finished.
    running = Idempotency(
        documents_hub.hub.services.engine,
        caller=f"client::{client.client_id}",
        operation="share.create",
    ).begin(key.strip('"'), None)
    assert isinstance(running, Claim)
    since = head(documents_hub)

    response = grant(documents_hub, body, key, auth=auth)

    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("idempotency-key-in-progress")
    assert events(documents_hub, since) == ["invalid"]
    assert shares_of_case(documents_hub, body["v_number"]) == 0


def test_another_clients_key_is_its_own(documents_hub: DocumentHub) -> None:
    key = new_key()
    other = documents_hub.hub.register(organisation="DTV", scopes=ALL_SCOPES)
    other_auth = {"Authorization": f"Bearer {documents_hub.hub.token(other)}"}
    first = grant(documents_hub, case_body(), key)
    second = grant(documents_hub, case_body(), key, auth=other_auth)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


def test_a_failed_first_request_leaves_the_key_free(documents_hub: DocumentHub) -> None:
    key = new_key()
    refused = grant(documents_hub, case_body(grantee="NOSUCHORG"), key)
    assert refused.status_code == 422, refused.text
    assert "idempotency" not in refused.json()["type"]
    body = case_body()
    created = grant(documents_hub, body, key)
    assert created.status_code == 201, created.text
    assert "idempotent-replayed" not in created.headers


def test_after_24_hours_the_key_makes_a_new_share(documents_hub: DocumentHub) -> None:
    body, key = case_body(), new_key()
    first = grant(documents_hub, body, key)
    with documents_hub.hub.services.engine.begin() as connection:
        connection.execute(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.key_hash) == key_hash(key.strip('"')))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    again = grant(documents_hub, body, key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in again.headers


def test_the_first_answer_is_kept_without_the_v_number(documents_hub: DocumentHub) -> None:
    body, key = case_body(), new_key()
    assert grant(documents_hub, body, key).status_code == 201
    with Session(documents_hub.hub.services.engine) as session:
        row = session.exec(
            select(IdempotencyKey).where(col(IdempotencyKey.key_hash) == key_hash(key.strip('"')))
        ).one()
    assert row.state == "done"
    assert body["v_number"] not in repr(row.model_dump())


def test_the_openapi_document_describes_the_header(documents_hub: DocumentHub) -> None:
    paths = documents_hub.client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/documents", "/api/v1/shares"):
        operation = paths[path]["post"]
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "Idempotency-Key" in names, path
        assert {"400", "409", "422"} <= set(operation["responses"]), path
