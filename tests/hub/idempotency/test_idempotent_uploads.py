"""``Idempotency-Key`` on ``POST /api/v1/documents``: a retried upload makes one document.

The same key with the same form and content answers the first document again (id, receipt,
``Location``) and stores and records nothing new; another form or content under the key is
422, a malformed key 400, each recorded as ``document.upload``. A first upload that failed
leaves its key free; a document shredded since is 410, never its v-number again. The concurrent
case (409 while the first streams) is tested over a real socket in
``tests/security/test_early_refusal.py``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import count

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from audit.models import AuditEvent
from hub.idempotency.keys import key_hash
from hub.tables.documents import Document
from hub.tables.idempotency import IdempotencyKey
from tests.fixtures.documents import ALL_SCOPES, API, DocumentHub, pdf

_cases = count(4200000001)


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    return module_documents_hub


def new_key() -> str:
    return f'"{uuid.uuid4()}"'


def upload(
    documents_hub: DocumentHub,
    key: str | None,
    v_number: str,
    content: bytes,
    *,
    title: str | None = None,
    document_type: str = "travel_document",
    auth: dict[str, str] | None = None,
) -> httpx.Response:
    headers = dict(auth or documents_hub.auth("IOM"))
    if key is not None:
        headers["Idempotency-Key"] = key
    data = {"document_type": document_type, "v_number": v_number}
    if title is not None:
        data["title"] = title
    return documents_hub.client.post(
        f"{API}/documents",
        data=data,
        files={"file": ("scan.pdf", content, "application/pdf")},
        headers=headers,
    )


def head(documents_hub: DocumentHub) -> int:
    with Session(documents_hub.hub.services.engine) as session:
        return session.exec(select(func.max(AuditEvent.seq))).one() or 0


def upload_events(documents_hub: DocumentHub, since: int) -> list[str]:
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(AuditEvent.outcome).where(
            col(AuditEvent.seq) > since, col(AuditEvent.action) == "document.upload"
        )
        return list(session.exec(statement).all())


def documents_of_case(documents_hub: DocumentHub, case: str) -> int:
    protector = documents_hub.hub.services.protector()
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(func.count()).where(col(Document.v_index) == protector.blind_index(case))
        return session.exec(statement).one()


def test_the_same_upload_again_answers_the_first_document(documents_hub: DocumentHub) -> None:
    case, key, content = str(next(_cases)), new_key(), pdf(seed=1)
    first = upload(documents_hub, key, case, content, title="paspoort")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    since = head(documents_hub)

    again = upload(documents_hub, key, case, content, title="paspoort")

    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == first.json()  # same id, v-number, sha256 and receipt
    assert documents_of_case(documents_hub, case) == 1
    assert upload_events(documents_hub, since) == []


@pytest.mark.parametrize(
    "change",
    [{"content": pdf(seed=2)}, {"title": "another title"}, {"case": "4299999999"}],
    ids=["content", "title", "v_number"],
)
def test_the_same_key_for_another_upload_is_refused(
    documents_hub: DocumentHub, change: dict[str, object]
) -> None:
    case, key, content = str(next(_cases)), new_key(), pdf(seed=1)
    assert upload(documents_hub, key, case, content, title="paspoort").status_code == 201
    since = head(documents_hub)

    other = upload(
        documents_hub,
        key,
        str(change.get("case", case)),
        change.get("content", content),  # type: ignore[arg-type]
        title=str(change.get("title", "paspoort")),
    )

    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("idempotency-key-reused")
    assert upload_events(documents_hub, since) == ["invalid"]
    assert documents_of_case(documents_hub, case) == 1


def test_a_malformed_key_is_refused_before_the_upload(documents_hub: DocumentHub) -> None:
    case = str(next(_cases))
    since = head(documents_hub)
    response = upload(documents_hub, "not-a-string", case, pdf())
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("idempotency-key-malformed")
    assert upload_events(documents_hub, since) == ["invalid"]
    assert documents_of_case(documents_hub, case) == 0


def test_another_clients_key_is_its_own(documents_hub: DocumentHub) -> None:
    case, key, content = str(next(_cases)), new_key(), pdf(seed=3)
    other = documents_hub.hub.register(organisation="IOM", scopes=ALL_SCOPES)
    other_auth = {"Authorization": f"Bearer {documents_hub.hub.token(other)}"}
    first = upload(documents_hub, key, case, content)
    second = upload(documents_hub, key, case, content, auth=other_auth)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert documents_of_case(documents_hub, case) == 2


def test_a_refused_first_upload_leaves_the_key_free(documents_hub: DocumentHub) -> None:
    case, key = str(next(_cases)), new_key()
    refused = upload(documents_hub, key, case, pdf(), document_type="decision")  # IOM may not
    assert refused.status_code == 403, refused.text
    created = upload(documents_hub, key, case, pdf())
    assert created.status_code == 201, created.text
    assert "idempotent-replayed" not in created.headers


def test_after_24_hours_the_key_uploads_a_new_document(documents_hub: DocumentHub) -> None:
    case, key, content = str(next(_cases)), new_key(), pdf(seed=4)
    first = upload(documents_hub, key, case, content)
    with documents_hub.hub.services.engine.begin() as connection:
        connection.execute(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.key_hash) == key_hash(key.strip('"')))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    again = upload(documents_hub, key, case, content)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] != first.json()["id"]
    assert documents_of_case(documents_hub, case) == 2


def test_a_shredded_documents_key_answers_410(documents_hub: DocumentHub) -> None:
    case, key, content = str(next(_cases)), new_key(), pdf(seed=5)
    first = upload(documents_hub, key, case, content)
    deleted = documents_hub.client.delete(
        f"{API}/documents/{first.json()['id']}", headers=documents_hub.auth("IOM")
    )
    assert deleted.status_code == 204, deleted.text
    since = head(documents_hub)

    again = upload(documents_hub, key, case, content)

    assert again.status_code == 410, again.text
    assert again.json()["type"].endswith("idempotent-answer-gone")
    assert case not in again.text
    assert upload_events(documents_hub, since) == ["invalid"]


def test_the_kept_answer_holds_no_v_number(documents_hub: DocumentHub) -> None:
    case, key = str(next(_cases)), new_key()
    assert upload(documents_hub, key, case, pdf(seed=6)).status_code == 201
    with Session(documents_hub.hub.services.engine) as session:
        row = session.exec(
            select(IdempotencyKey).where(col(IdempotencyKey.key_hash) == key_hash(key.strip('"')))
        ).one()
    assert (row.state, row.status, row.operation) == ("done", 201, "document.upload")
    assert case not in repr(row.model_dump())
