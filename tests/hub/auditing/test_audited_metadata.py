"""Auditors read the metadata of the documents and shares the trail names: through the
documents and shares APIs, never the content, the person only by pseudonym, every read
recorded (decision 0028)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from tests.fixtures.documents import API, DocumentHub, pdf

V_NUMBER = "2345678901"
AUDITOR = ("DTV", "audit:read")


def _last_event(documents_hub: DocumentHub, action: str) -> AuditEvent:
    statement = (
        select(AuditEvent)
        .where(col(AuditEvent.action) == action)
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    )
    with Session(documents_hub.hub.services.engine) as session:
        return session.exec(statement).one()


def _get(documents_hub: DocumentHub, path: str, scopes: tuple[str, str] = AUDITOR) -> Any:
    return documents_hub.client.get(API + path, headers=documents_hub.auth(*scopes))


def test_an_auditor_reads_a_documents_metadata_by_pseudonym(
    module_documents_hub: DocumentHub,
) -> None:
    hub = module_documents_hub
    document = hub.uploaded("IOM", pdf(), v_number=V_NUMBER, title=f"Paspoort {V_NUMBER}")
    response = _get(hub, f"/documents/{document['id']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert V_NUMBER not in response.text
    assert "v_number" not in body
    assert "title" not in body
    pseudonym = hub.hub.services.audit.pseudonym(V_NUMBER)
    assert body["data_subject_id"] == pseudonym
    assert body["data_subject_id_type"] == "vreemdelingennummer"
    assert body["uploader"] == "IOM"
    assert body["sha256"] == document["sha256"]
    assert body["deleted_at"] is None
    read = _last_event(hub, "audit.query")
    assert (read.resource_type, read.resource_id) == ("document", document["id"])
    assert read.outcome == "success"
    assert read.data_subject_id == pseudonym
    # A caseworker still gets the caseworker's answer, the v-number included.
    own = _get(hub, f"/documents/{document['id']}", ("IOM", "documents:read"))
    assert own.json()["v_number"] == V_NUMBER


def test_an_auditor_never_reads_the_content(module_documents_hub: DocumentHub) -> None:
    hub = module_documents_hub
    document = hub.uploaded("IOM", pdf(), v_number=V_NUMBER)
    response = _get(hub, f"/documents/{document['id']}/content")
    assert response.status_code == 403
    assert 'scope="documents:read"' in response.headers["www-authenticate"]
    refused = _last_event(hub, "document.download")
    assert (refused.outcome, refused.detail) == ("denied", "insufficient_scope")


@pytest.mark.parametrize("kind", ["documents", "shares"])
def test_a_missing_id_is_404_and_recorded(module_documents_hub: DocumentHub, kind: str) -> None:
    hub = module_documents_hub
    missing = str(uuid.uuid4())
    response = _get(hub, f"/{kind}/{missing}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    refused = _last_event(hub, "audit.query")
    assert (refused.resource_type, refused.resource_id) == (kind[:-1], missing)
    assert refused.outcome == "not_found"


def test_an_auditor_reads_any_share(module_documents_hub: DocumentHub) -> None:
    hub = module_documents_hub
    document = hub.uploaded("DTV", pdf(), v_number=V_NUMBER)
    created = hub.share("DTV", grantee="BUZA", document_id=document["id"])
    assert created.status_code == 201, created.text
    share = created.json()
    response = _get(hub, f"/shares/{share['id']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["grantor"], body["grantee"]) == ("DTV", "BUZA")
    assert body["document_id"] == document["id"]
    assert body["state"] == "active"
    assert body["purpose"] == "terugkeer"
    assert V_NUMBER not in response.text
    read = _last_event(hub, "audit.query")
    assert (read.resource_type, read.resource_id) == ("share", share["id"])
    assert read.outcome == "success"


def test_a_case_share_names_the_person_by_pseudonym(module_documents_hub: DocumentHub) -> None:
    hub = module_documents_hub
    created = hub.share("DTV", grantee="IOM", v_number=V_NUMBER, document_types=["travel_document"])
    assert created.status_code == 201, created.text
    response = _get(hub, f"/shares/{created.json()['id']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert V_NUMBER not in response.text
    assert body["document_id"] is None
    assert body["document_types"] == ["travel_document"]
    assert body["data_subject_id"] == hub.hub.services.audit.pseudonym(V_NUMBER)


def test_a_caller_with_neither_scope_is_refused_as_before(
    module_documents_hub: DocumentHub,
) -> None:
    hub = module_documents_hub
    document = hub.uploaded("IOM", pdf())
    response = _get(hub, f"/documents/{document['id']}", ("IOM", "documents:write"))
    assert response.status_code == 403
    assert 'scope="documents:read"' in response.headers["www-authenticate"]
    refused = _last_event(hub, "document.read")
    assert (refused.outcome, refused.resource_id) == ("denied", document["id"])
