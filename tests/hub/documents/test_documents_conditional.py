"""Conditional requests on a document's content (RFC 9110 §13), on both backends.

DESIGN.md: "A ``304 Not Modified`` is recorded as a metadata read (``document.read``), without
decrypting." A client that holds the content and asks again with ``If-None-Match`` gets a 304
that never reads the object (proved here by taking the object away first), and the trail gets
a ``document.read`` instead of another download. ``If-Match`` that matches no current tag is
412, recorded as an invalid request. Visibility comes first: no precondition tells an
invisible document from a missing one. And HEAD ignores ``Range`` (§14.2).
"""

from __future__ import annotations

import uuid
from typing import Final

import httpx
import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.tables.vault import SealedObject
from tests.fixtures.documents import API, DocumentHub, pdf

READ_ONLY: Final = "documents:read"


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    """One hub per backend for this module (see ``module_documents_hub``)."""
    return module_documents_hub


def events_of(documents_hub: DocumentHub, document_id: str) -> list[AuditEvent]:
    with Session(documents_hub.hub.services.engine) as session:
        statement = (
            select(AuditEvent)
            .where(col(AuditEvent.resource_id) == document_id)
            .order_by(col(AuditEvent.seq))
        )
        return list(session.exec(statement).all())


def summary(events: list[AuditEvent]) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.outcome, e.detail) for e in events]


def remove_object(documents_hub: DocumentHub, document_id: str) -> None:
    """Take the stored object away behind the hub's back: whatever reads it now fails."""
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(SealedObject).where(
            col(SealedObject.document_id) == uuid.UUID(document_id)
        )
        key = session.exec(statement).one().object_key
    documents_hub.hub.services.store.delete(key)


def content(
    documents_hub: DocumentHub,
    document_id: str,
    *,
    method: str = "GET",
    organisation: str = "IOM",
    headers: list[tuple[str, str]] | None = None,
) -> httpx.Response:
    return documents_hub.client.request(
        method,
        f"{API}/documents/{document_id}/content",
        headers=[*documents_hub.auth(organisation).items(), *(headers or [])],
    )


def assert_not_modified(response: httpx.Response, tag: str) -> None:
    """RFC 9110 §15.4.5: no content, the validator, the cache directives; none of the
    representation's metadata (length, type, digest, file name)."""
    assert response.status_code == 304, response.text
    assert response.content == b""
    assert response.headers["etag"] == tag
    assert response.headers["cache-control"] == "private, no-store"
    for name in ("content-length", "content-type", "repr-digest", "content-disposition"):
        assert name not in response.headers, name
    assert int(response.headers["audit-seq"]) >= 0


# -- If-None-Match: 304 -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_304_never_reads_the_object(documents_hub: DocumentHub, method: str) -> None:
    uploaded = documents_hub.uploaded("IOM", pdf())
    tag = f'"{uploaded["sha256"]}"'
    remove_object(documents_hub, uploaded["id"])

    answer = content(documents_hub, uploaded["id"], method=method, headers=[("If-None-Match", tag)])
    assert_not_modified(answer, tag)
    # The object is gone indeed: a GET that has to read it cannot be served.
    assert content(documents_hub, uploaded["id"]).status_code == 500


def test_repeat_downloads_with_if_none_match_are_metadata_reads(documents_hub: DocumentHub) -> None:
    uploaded = documents_hub.uploaded("IOM", pdf())
    first = content(documents_hub, uploaded["id"])
    assert first.status_code == 200
    tag = first.headers["etag"]
    download = events_of(documents_hub, uploaded["id"])[-1]
    assert download.action == "document.download"

    seqs = []
    for _ in range(3):
        again = content(documents_hub, uploaded["id"], headers=[("If-None-Match", tag)])
        assert_not_modified(again, tag)
        seqs.append(int(again.headers["audit-seq"]))

    added = events_of(documents_hub, uploaded["id"])[-3:]
    assert added[0].seq > download.seq
    assert summary(added) == [("document.read", "success", "not modified")] * 3
    # Each 304 names its own event, which records the rule that let the caller see it.
    assert [e.seq for e in added] == seqs
    assert {e.policy_rule for e in added} == {download.policy_rule}


@pytest.mark.parametrize(
    "field",
    [
        "{tag}",
        "W/{tag}",  # weak comparison: W/ does not matter
        "*",
        '"other", {tag}',
        '"a,b" ,, W/{tag}',
    ],
)
def test_if_none_match_that_matches_is_304(documents_hub: DocumentHub, field: str) -> None:
    uploaded = documents_hub.uploaded("IOM", pdf())
    tag = f'"{uploaded["sha256"]}"'
    answer = content(
        documents_hub, uploaded["id"], headers=[("If-None-Match", field.format(tag=tag))]
    )
    assert_not_modified(answer, tag)


def test_if_none_match_sent_on_two_lines_is_one_list(documents_hub: DocumentHub) -> None:
    uploaded = documents_hub.uploaded("IOM", pdf())
    tag = f'"{uploaded["sha256"]}"'
    answer = content(
        documents_hub,
        uploaded["id"],
        headers=[("If-None-Match", '"other"'), ("If-None-Match", tag)],
    )
    assert_not_modified(answer, tag)


def test_if_none_match_that_does_not_match_serves_the_content(documents_hub: DocumentHub) -> None:
    data = pdf()
    uploaded = documents_hub.uploaded("IOM", data)
    answer = content(documents_hub, uploaded["id"], headers=[("If-None-Match", '"stale"')])
    assert answer.status_code == 200
    assert answer.content == data
    actions = summary(events_of(documents_hub, uploaded["id"]))
    assert actions[-1] == ("document.download", "success", None)


@pytest.mark.parametrize("byte_range", ["bytes=0-9", "bytes=999999-"])  # the second is 416
def test_preconditions_come_before_the_range(documents_hub: DocumentHub, byte_range: str) -> None:
    uploaded = documents_hub.uploaded("IOM", pdf())
    tag = f'"{uploaded["sha256"]}"'
    answer = content(
        documents_hub, uploaded["id"], headers=[("If-None-Match", tag), ("Range", byte_range)]
    )
    assert_not_modified(answer, tag)
    failed = content(
        documents_hub, uploaded["id"], headers=[("If-Match", '"stale"'), ("Range", byte_range)]
    )
    assert failed.status_code == 412


# -- If-Match: 412 ------------------------------------------------------------------------------


def test_if_match_with_the_current_tag_serves_it(documents_hub: DocumentHub) -> None:
    data = pdf()
    uploaded = documents_hub.uploaded("IOM", data)
    tag = f'"{uploaded["sha256"]}"'
    for field in (tag, "*", f'"other", {tag}'):
        answer = content(documents_hub, uploaded["id"], headers=[("If-Match", field)])
        assert answer.status_code == 200, field
        assert answer.content == data
    ranged = content(
        documents_hub, uploaded["id"], headers=[("If-Match", tag), ("Range", "bytes=0-9")]
    )
    assert ranged.status_code == 206
    assert ranged.content == data[:10]


@pytest.mark.parametrize(
    ("method", "action"), [("GET", "document.download"), ("HEAD", "document.read")]
)
def test_if_match_that_does_not_match_is_412_and_recorded(
    documents_hub: DocumentHub, method: str, action: str
) -> None:
    uploaded = documents_hub.uploaded("IOM", pdf())
    tag = f'"{uploaded["sha256"]}"'
    # W/ of the current tag: If-Match compares strongly, so a weak tag never matches.
    for field in ('"stale"', f"W/{tag}"):
        before = len(events_of(documents_hub, uploaded["id"]))
        answer = content(
            documents_hub, uploaded["id"], method=method, headers=[("If-Match", field)]
        )
        assert answer.status_code == 412, field
        assert answer.headers["content-type"] == "application/problem+json"
        if method == "GET":
            assert answer.json()["type"] == "urn:ketenhub:problem:precondition-failed"
        assert "etag" not in answer.headers
        added = events_of(documents_hub, uploaded["id"])[before:]
        assert summary(added) == [(action, "invalid", "precondition failed")]
        assert added[0].organisation == "IOM"


def test_if_match_is_evaluated_before_if_none_match(documents_hub: DocumentHub) -> None:
    uploaded = documents_hub.uploaded("IOM", pdf())
    tag = f'"{uploaded["sha256"]}"'
    failed = content(
        documents_hub, uploaded["id"], headers=[("If-Match", '"stale"'), ("If-None-Match", tag)]
    )
    assert failed.status_code == 412
    both = content(
        documents_hub, uploaded["id"], headers=[("If-Match", tag), ("If-None-Match", tag)]
    )
    assert_not_modified(both, tag)


# -- malformed preconditions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"), [("If-None-Match", "abc"), ("If-Match", '*, "a"'), ("If-Match", 'w/"a"')]
)
def test_a_malformed_precondition_is_400_and_recorded(
    documents_hub: DocumentHub, name: str, value: str
) -> None:
    uploaded = documents_hub.uploaded("IOM", pdf())
    before = len(events_of(documents_hub, uploaded["id"]))
    answer = content(documents_hub, uploaded["id"], headers=[(name, value)])
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "urn:ketenhub:problem:malformed-precondition"
    assert name in problem["detail"]
    added = events_of(documents_hub, uploaded["id"])[before:]
    assert summary(added) == [("document.download", "invalid", "malformed precondition")]


# -- visibility first ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "precondition",
    [("If-None-Match", "*"), ("If-Match", '"stale"'), ("If-None-Match", "malformed")],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_preconditions_never_tell_an_invisible_document_from_a_missing_one(
    documents_hub: DocumentHub, precondition: tuple[str, str], method: str
) -> None:
    invisible = documents_hub.uploaded("IOM", pdf())["id"]
    missing = str(uuid.uuid4())
    answers = [
        content(documents_hub, doc, method=method, organisation="GM0344", headers=[precondition])
        for doc in (invisible, missing)
    ]
    assert [a.status_code for a in answers] == [404, 404]
    headers = [{k: v for k, v in a.headers.items() if k != "content-length"} for a in answers]
    assert headers[0] == headers[1]
    if method == "GET":
        bodies = [a.json() for a in answers]
        for body in bodies:
            body.pop("instance")
        assert bodies[0] == bodies[1]
    refused = summary(events_of(documents_hub, invisible))[-1]
    assert refused[1:] == ("not_found", "not visible")


# -- HEAD and Range ---------------------------------------------------------------------------


def test_head_ignores_range(documents_hub: DocumentHub) -> None:
    data = pdf(10_000)
    uploaded = documents_hub.uploaded("IOM", data)
    for value in ("bytes=0-9", "bytes=-5", f"bytes={len(data)}-"):  # the last would be 416
        answer = content(documents_hub, uploaded["id"], method="HEAD", headers=[("Range", value)])
        assert answer.status_code == 200, value
        assert answer.headers["content-length"] == str(len(data))
        assert "content-range" not in answer.headers
        assert answer.content == b""
    actions = summary(events_of(documents_hub, uploaded["id"]))[-3:]
    assert actions == [("document.read", "success", "head")] * 3


# -- the OpenAPI description ------------------------------------------------------------------


def test_the_openapi_document_describes_304_and_412(documents_hub: DocumentHub) -> None:
    document = documents_hub.client.get("/openapi.json").json()
    item = document["paths"][f"{API}/documents/{{document_id}}/content"]
    for method in ("get", "head"):
        responses = item[method]["responses"]
        assert "content" not in responses["304"]
        assert "ETag" in responses["304"]["headers"]
        assert "application/problem+json" in responses["412"]["content"]
        headers = {p["name"] for p in item[method]["parameters"] if p["in"] == "header"}
        assert {"If-Match", "If-None-Match"} <= headers
    assert "206" not in item["head"]["responses"]
    assert "416" not in item["head"]["responses"]
