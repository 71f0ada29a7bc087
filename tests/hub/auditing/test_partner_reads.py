"""Partners read the log's public parts (issue 14 item 2, decision 0030), on both backends.

A gemeente's client, with no ``audit:read``, downloads a shared document and then does what a
partner's own system would: it reads the audit keys, the latest checkpoint and a consistency
proof, fetches the inclusion proof of its own download's event, and checks all of it with a
verifier written from the formats alone (:mod:`tests.fixtures.receipts`). Another party's
event is refused with a 403 problem, and that refusal is recorded.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Final

import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.people import Role
from tests.fixtures.documents import API, DocumentHub, pdf
from tests.fixtures.people import add_person, person_tokens
from tests.fixtures.receipts import (
    check_checkpoint,
    check_consistency,
    check_receipt,
    leaf_hash,
    root_from_inclusion,
)

V_NUMBER: Final = "3456789012"
AUDIT: Final = f"{API}/audit"


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    """One hub per backend for this module (see ``module_documents_hub``)."""
    return module_documents_hub


def _get(documents_hub: DocumentHub, headers: dict[str, str], path: str, **params: Any) -> Any:
    return documents_hub.client.get(f"{AUDIT}{path}", params=params, headers=headers)


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _shared_download(documents_hub: DocumentHub, grantee: str) -> tuple[str, Any]:
    """IOM's upload, shared with ``grantee`` by DTV, downloaded by ``grantee``."""
    content = pdf(30_000, seed=sum(grantee.encode()))
    document_id = documents_hub.uploaded("IOM", content, v_number=V_NUMBER)["id"]
    shared = documents_hub.share("DTV", grantee=grantee, document_id=document_id)
    assert shared.status_code == 201, shared.text
    download = documents_hub.content(grantee, document_id)
    assert download.status_code == 200
    return document_id, download


def _refusals(documents_hub: DocumentHub, seq: str) -> list[AuditEvent]:
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(AuditEvent).where(
            col(AuditEvent.action) == "audit.query",
            col(AuditEvent.resource_id) == seq,
            col(AuditEvent.outcome) == "denied",
        )
        return list(session.exec(statement).all())


def test_a_gemeente_verifies_its_download_receipt_against_the_log(
    documents_hub: DocumentHub,
) -> None:
    gemeente = documents_hub.auth("GM0363")  # the client that downloads, without audit:read
    first = _get(documents_hub, gemeente, "/checkpoints/latest")
    assert first.status_code == 200, first.text
    document_id, download = _shared_download(documents_hub, "GM0363")
    receipt_note = _b64(download.headers["audit-receipt"]).decode("utf-8")

    keys = _get(documents_hub, gemeente, "/keys")
    assert keys.status_code == 200, keys.text
    current = next(k for k in keys.json()["keys"] if k["current"])
    verifier_key = current["verifier_key"]
    receipt = check_receipt(receipt_note, verifier_key)

    own = _get(documents_hub, gemeente, f"/events/{receipt.seq}")
    assert own.status_code == 200, own.text
    body = own.json()
    leaf = body["event"]["leaf"]
    assert leaf_hash(leaf) == receipt.leaf_hash
    assert (leaf["action"], leaf["resource_id"], leaf["organisation"]) == (
        "document.download",
        document_id,
        "GM0363",
    )
    assert leaf["content_sha256"] == hashlib.sha256(download.content).hexdigest()
    assert leaf["content_size"] == len(download.content)
    checkpoint = check_checkpoint(body["checkpoint"]["note"], verifier_key)
    assert checkpoint.tree_size == body["tree_size"] > receipt.seq
    proof = [_b64(h) for h in body["hashes"]]
    assert root_from_inclusion(receipt.seq, checkpoint.tree_size, receipt.leaf_hash, proof) == (
        checkpoint.root_hash
    )

    # The checkpoint the gemeente kept before is extended by the newer one: no split view.
    kept = check_checkpoint(first.json()["note"], verifier_key)
    consistency = _get(
        documents_hub,
        gemeente,
        "/consistency",
        **{"from": kept.tree_size, "to": checkpoint.tree_size},
    )
    assert consistency.status_code == 200, consistency.text
    check_consistency(
        kept.tree_size,
        checkpoint.tree_size,
        kept.root_hash,
        checkpoint.root_hash,
        [_b64(h) for h in consistency.json()["hashes"]],
    )
    # A forged root for the kept size does not pass the same proof.
    with pytest.raises(AssertionError):
        check_consistency(
            kept.tree_size,
            checkpoint.tree_size,
            bytes(32),
            checkpoint.root_hash,
            [_b64(h) for h in consistency.json()["hashes"]],
        )


def test_another_partys_event_is_a_recorded_403(documents_hub: DocumentHub) -> None:
    document_id, _ = _shared_download(documents_hub, "GM0344")
    with Session(documents_hub.hub.services.engine) as session:
        upload = session.exec(
            select(AuditEvent).where(
                col(AuditEvent.resource_id) == document_id,
                col(AuditEvent.action) == "document.upload",
            )
        ).one()
    gemeente = documents_hub.auth("GM0344", "documents:read")
    refused = _get(documents_hub, gemeente, f"/events/{upload.seq}")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "not one of the caller's own" in refused.json()["detail"]
    assert "leaf" not in refused.text
    [denied] = _refusals(documents_hub, str(upload.seq))
    assert (denied.organisation, denied.resource_type) == ("GM0344", "audit_event")
    # The uploader itself reads it, and an auditor reads any event.
    assert (
        _get(documents_hub, documents_hub.auth("IOM"), f"/events/{upload.seq}").status_code == 200
    )
    auditor = documents_hub.auth("DTV", "audit:read")
    assert _get(documents_hub, auditor, f"/events/{upload.seq}").status_code == 200


def test_another_client_of_the_same_organisation_is_another_party(
    documents_hub: DocumentHub,
) -> None:
    _, download = _shared_download(documents_hub, "COA")
    seq = download.headers["audit-seq"]
    colleague = documents_hub.auth("COA", "documents:read shares:write")
    assert _get(documents_hub, colleague, f"/events/{seq}").status_code == 403
    assert _get(documents_hub, documents_hub.auth("COA"), f"/events/{seq}").status_code == 200


def test_every_authenticated_caller_reads_the_public_parts_but_not_the_rest(
    documents_hub: DocumentHub,
) -> None:
    for scopes in ("metrics:read", "shares:write", "documents:write"):
        caller = documents_hub.auth("DTV", scopes)
        assert _get(documents_hub, caller, "/keys").status_code == 200
        assert _get(documents_hub, caller, "/checkpoints/latest").status_code == 200
        assert (
            _get(documents_hub, caller, "/consistency", **{"from": 1, "to": 2}).status_code == 200
        )
        for path in ("/events", "/export", "/stats"):
            refused = _get(documents_hub, caller, path)
            assert refused.status_code == 403, path
            assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    # Without a token nothing is public: the log's public parts are for partners.
    assert documents_hub.client.get(f"{AUDIT}/keys").status_code == 401
    # The partner's input is checked as the auditor's is.
    caller = documents_hub.auth("DTV", "documents:read")
    assert _get(documents_hub, caller, "/consistency", **{"from": 3, "to": 2}).status_code == 422
    assert _get(documents_hub, caller, "/events/9007199254740991").status_code == 404


def test_a_person_reads_its_own_events_not_its_colleagues(documents_hub: DocumentHub) -> None:
    services = documents_hub.hub.services
    person = add_person(services, organisation="IND", username="ind.partnerreads")
    access, _ = person_tokens(services, person)
    as_person = {"Authorization": f"Bearer {access}"}
    assert Role.CASEWORKER in person.roles
    document_id = documents_hub.uploaded("IND", pdf(4_000, seed=77), v_number=V_NUMBER)["id"]
    by_client = documents_hub.content("IND", document_id)
    by_person = documents_hub.client.get(
        f"{API}/documents/{document_id}/content", headers=as_person
    )
    assert by_person.status_code == 200, by_person.text
    own = _get(documents_hub, as_person, f"/events/{by_person.headers['audit-seq']}")
    assert own.status_code == 200, own.text
    assert own.json()["event"]["leaf"]["actor_id"] == "ind.partnerreads"
    colleague = _get(documents_hub, as_person, f"/events/{by_client.headers['audit-seq']}")
    assert colleague.status_code == 403
