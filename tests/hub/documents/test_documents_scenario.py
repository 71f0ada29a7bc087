"""The issue's scenario end to end, on both backends, and the HTTP semantics of a download.

IOM uploads a travel document; gemeente Amsterdam (GM0363) cannot see it; DTV shares the case
with GM0363 for 30 days; GM0363 downloads exactly the bytes IOM uploaded; gemeente Utrecht
(GM0344) still cannot see it; DTV revokes; GM0363 cannot see it again. Then the audit trail
must tell that story, step by step, with the purpose, the rule and the pseudonym of the person,
and never the v-number itself.

Besides: byte ranges across the first segment boundary of the encryption format (1,048,520
plaintext bytes), suffix and unsatisfiable ranges, HEAD, a 404 for an invisible document that
cannot be told apart from a 404 for one that never existed, and the refusal a partner meets
before any of that: a token without the scope the endpoint needs.
"""

from __future__ import annotations

import base64
import hashlib
import statistics
import time
import uuid
from typing import Any, Final

import httpx
import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from storage.envelope import FIRST_SEGMENT_PLAINTEXT, SEGMENT_PLAINTEXT
from tests.fixtures.documents import API, DocumentHub, pdf

V_NUMBER: Final = "1234567890"
MIB: Final = 1 << 20


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    """One hub per backend for this module (see ``module_documents_hub``)."""
    return module_documents_hub


def events_after(documents_hub: DocumentHub, seq: int) -> list[AuditEvent]:
    with Session(documents_hub.hub.services.engine) as session:
        statement = (
            select(AuditEvent).where(col(AuditEvent.seq) > seq).order_by(col(AuditEvent.seq))
        )
        return list(session.exec(statement).all())


def last_seq(documents_hub: DocumentHub) -> int:
    events = events_after(documents_hub, -1)
    return events[-1].seq if events else -1


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def test_the_issue_scenario_end_to_end(documents_hub: DocumentHub) -> None:
    services = documents_hub.hub.services
    for org in ("IOM", "DTV", "GM0363", "GM0344"):
        documents_hub.token(org)  # now, so that no token.issue event falls among the steps
    start = last_seq(documents_hub)
    content = pdf(300_000)

    uploaded = documents_hub.uploaded("IOM", content, v_number=V_NUMBER)
    document_id = uploaded["id"]
    assert documents_hub.content("GM0363", document_id).status_code == 404
    created = documents_hub.share(
        "DTV",
        grantee="GM0363",
        v_number=V_NUMBER,
        document_types=["travel_document"],
        # Not the client's own activity (terugkeer), so the trail shows the share's purpose.
        purpose="opvang",
        days=30,
    )
    assert created.status_code == 201, created.text
    share_id = created.json()["id"]
    download = documents_hub.content("GM0363", document_id)
    assert documents_hub.content("GM0344", document_id).status_code == 404
    revoked = documents_hub.client.delete(
        f"{API}/shares/{share_id}", headers=documents_hub.auth("DTV")
    )
    assert revoked.status_code == 204
    assert documents_hub.content("GM0363", document_id).status_code == 404

    assert download.status_code == 200
    assert download.content == content
    assert hashlib.sha256(download.content).hexdigest() == uploaded["sha256"]
    assert download.headers["content-length"] == str(len(content)) == str(uploaded["size"])
    assert download.headers["etag"] == f'"{uploaded["sha256"]}"'
    assert download.headers["repr-digest"] == f"sha-256=:{b64_sha256(content)}:"

    steps = [
        e
        for e in events_after(documents_hub, start)
        if e.action.split(".")[0] in {"document", "share"}
    ]
    assert [(e.action, e.outcome, e.organisation) for e in steps] == [
        ("document.upload", "success", "IOM"),
        ("document.download", "not_found", "GM0363"),
        ("share.create", "success", "DTV"),
        ("document.download", "success", "GM0363"),
        ("document.download", "not_found", "GM0344"),
        ("share.revoke", "success", "DTV"),
        ("document.download", "not_found", "GM0363"),
    ]
    upload, _, share, shared_download, _, revoke, _ = steps
    assert upload.policy_rule == "travel_document.upload[IOM]"
    assert share.policy_rule is not None
    assert "travel_document.share[DTV]" in share.policy_rule.split(",")
    assert shared_download.policy_rule == f"share[{share_id}]"
    assert shared_download.processing_activity_id == services.settings.purpose_uri("opvang")
    assert share.processing_activity_id == services.settings.purpose_uri("opvang")
    assert {e.resource_id for e in steps if e.action.startswith("document.")} == {document_id}
    assert share.resource_id == revoke.resource_id == share_id
    pseudonym = services.audit.pseudonym(V_NUMBER)
    assert pseudonym != V_NUMBER
    for event in steps:
        assert (event.data_subject_id, event.data_subject_id_type) == (
            pseudonym,
            "vreemdelingennummer",
        ), event
    assert download.headers["audit-seq"] == str(shared_download.seq)

    receipt = uploaded["receipt"]
    assert receipt["seq"] == upload.seq
    assert receipt["leaf_hash"] == base64.b64encode(upload.leaf_hash).decode("ascii")
    assert f"seq {upload.seq}\n" in receipt["note"]

    for event in events_after(documents_hub, -1):
        assert V_NUMBER not in repr(event.model_dump()), event.seq


def test_ranges_across_the_segment_boundary_and_head(documents_hub: DocumentHub) -> None:
    content = pdf(3 * MIB)
    size = len(content)
    document_id = documents_hub.uploaded("IOM", content)["id"]

    def ranged(value: str) -> httpx.Response:
        return documents_hub.content("IOM", document_id, Range=value)

    boundaries = (FIRST_SEGMENT_PLAINTEXT, FIRST_SEGMENT_PLAINTEXT + SEGMENT_PLAINTEXT)
    for boundary in boundaries:
        first, last = boundary - 100, boundary + 99
        response = ranged(f"bytes={first}-{last}")
        assert response.status_code == 206
        assert response.content == content[first : last + 1]
        assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert response.headers["content-length"] == "200"
        # The digest is of the whole representation, also on a 206 (RFC 9530).
        assert response.headers["repr-digest"] == f"sha-256=:{b64_sha256(content)}:"

    suffix = ranged("bytes=-1000")
    assert suffix.status_code == 206
    assert suffix.content == content[-1000:]
    assert suffix.headers["content-range"] == f"bytes {size - 1000}-{size - 1}/{size}"

    tail = ranged(f"bytes={FIRST_SEGMENT_PLAINTEXT}-")
    assert tail.status_code == 206
    assert tail.content == content[FIRST_SEGMENT_PLAINTEXT:]

    unsatisfiable = ranged(f"bytes={size}-")
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
    assert unsatisfiable.headers["content-type"] == "application/problem+json"

    head = documents_hub.client.head(
        f"{API}/documents/{document_id}/content", headers=documents_hub.auth("IOM")
    )
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(size)
    assert head.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
    assert head.headers["repr-digest"] == f"sha-256=:{b64_sha256(content)}:"
    assert head.headers["accept-ranges"] == "bytes"


def _comparable(response: httpx.Response) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = response.json()
    body.pop("instance")
    return response.status_code, body, dict(response.headers)


def test_an_invisible_document_answers_exactly_like_a_missing_one(
    documents_hub: DocumentHub,
) -> None:
    """Same status, body (apart from ``instance``, the request's own path) and headers, for
    metadata and content. The times are measured and printed, not asserted: wall-clock time on
    a shared test machine is no evidence either way."""
    invisible = documents_hub.uploaded("IOM", pdf())["id"]
    missing = str(uuid.uuid4())
    headers = documents_hub.auth("GM0344")
    for suffix in ("", "/content"):
        answers = [
            documents_hub.client.get(f"{API}/documents/{document_id}{suffix}", headers=headers)
            for document_id in (invisible, missing)
        ]
        assert answers[0].status_code == 404
        assert _comparable(answers[0]) == _comparable(answers[1])

    timings: dict[str, list[float]] = {invisible: [], missing: []}
    for _ in range(100):
        for document_id, times in timings.items():
            began = time.perf_counter()
            documents_hub.client.get(f"{API}/documents/{document_id}", headers=headers)
            times.append(time.perf_counter() - began)
    print(
        f"[{documents_hub.backend}] median 404: invisible "
        f"{statistics.median(timings[invisible]) * 1000:.2f} ms, missing "
        f"{statistics.median(timings[missing]) * 1000:.2f} ms"
    )


# -- scopes ------------------------------------------------------------------------------------


def test_a_token_without_the_needed_scope_is_refused_and_recorded(
    documents_hub: DocumentHub,
) -> None:
    """403 with an RFC 6750 ``insufficient_scope`` challenge naming the scope, one ``denied``
    audit event per refusal, and nothing done."""
    doc = documents_hub.uploaded("IOM", pdf())["id"]
    share = documents_hub.share("DTV", grantee="BUZA", document_id=doc).json()["id"]
    form = {
        "data": {"document_type": "travel_document", "v_number": "1234567890"},
        "files": {"file": ("a.pdf", pdf(), "application/pdf")},
    }
    read, write, both = "documents:read", "documents:write", "documents:read documents:write"
    cases: list[tuple[str, str, str, str, str, str, dict[str, object]]] = [
        ("IOM", read, "POST", "/documents", "documents:write", "document.upload", form),
        ("IOM", read, "DELETE", f"/documents/{doc}", "documents:write", "document.delete", {}),
        ("IOM", write, "GET", f"/documents/{doc}", "documents:read", "document.read", {}),
        (
            "IOM",
            write,
            "GET",
            f"/documents/{doc}/content",
            "documents:read",
            "document.download",
            {},
        ),
        ("IOM", write, "GET", "/documents", "documents:read", "document.list", {}),
        # An auditor reads any document's metadata (decision 0028), never its content.
        (
            "DTV",
            "audit:read",
            "GET",
            f"/documents/{doc}/content",
            "documents:read",
            "document.download",
            {},
        ),
        ("DTV", "audit:read", "GET", "/documents", "documents:read", "document.list", {}),
        ("DTV", both, "POST", "/shares", "shares:write", "share.create", {"json": {}}),
        ("DTV", both, "DELETE", f"/shares/{share}", "shares:write", "share.revoke", {}),
    ]
    for org, scopes, method, path, needed, action, extra in cases:
        before = len(denials(documents_hub))
        response = documents_hub.client.request(
            method,
            API + path,
            headers=documents_hub.auth(org, scopes),
            **extra,  # type: ignore[arg-type]
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert f'scope="{needed}"' in challenge
        recorded = denials(documents_hub)[before:]
        assert len(recorded) == 1, (method, path)
        assert recorded[0].organisation == org
        assert recorded[0].action == action
    # Nothing was done: the document is there, and still shared with BUZA.
    assert documents_hub.content("IOM", doc).status_code == 200
    assert documents_hub.content("BUZA", doc).status_code == 200


def denials(documents_hub: DocumentHub) -> list[AuditEvent]:
    statement = (
        select(AuditEvent)
        .where(col(AuditEvent.detail) == "insufficient_scope", col(AuditEvent.outcome) == "denied")
        .order_by(col(AuditEvent.seq))
    )
    with Session(documents_hub.hub.services.engine) as session:
        return list(session.exec(statement).all())


def test_a_refused_download_list_or_search_is_recorded_as_what_it_was(
    documents_hub: DocumentHub,
) -> None:
    """DESIGN.md: every action is recorded, denials included, with its object (the BIO
    minimum); a refused download is a refused download of that document."""
    doc = documents_hub.uploaded("IOM", pdf())["id"]
    headers = documents_hub.auth("IOM", "documents:write")
    client = documents_hub.client
    before = len(denials(documents_hub))
    client.get(f"{API}/documents/{doc}/content", headers=headers)
    client.get(f"{API}/documents", headers=headers)
    client.post(f"{API}/documents/search", json={"v_number": "1234567890"}, headers=headers)
    recorded = [(e.action, e.resource_id) for e in denials(documents_hub)[before:]]
    assert recorded == [
        ("document.download", doc),
        ("document.list", None),
        ("document.search", None),
    ]
