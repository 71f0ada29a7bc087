"""Every bad tus request gets its own 4xx, says why, carries Tus-Resumable, and is recorded."""

from __future__ import annotations

import base64
import hashlib
import uuid

import httpx
import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.tables.uploads import Upload, UploadPart
from tests.fixtures.documents import API, DocumentHub, pdf, png
from tests.hub.uploads.tus import OCTETS, TUS, Tus, encode_metadata


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    return module_documents_hub


def last_event(documents_hub: DocumentHub) -> AuditEvent:
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
        return session.exec(statement).one()


def upload_row(documents_hub: DocumentHub, location: str) -> Upload | None:
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    with Session(documents_hub.hub.services.engine) as session:
        return session.get(Upload, upload_id)


def assert_problem(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.json()["detail"]


# -- creation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 400, "Upload-Length is required"),
        ({"Upload-Length": "-1"}, 400, "non-negative decimal"),
        ({"Upload-Length": "1e3"}, 400, "non-negative decimal"),
        ({"Upload-Length": "10", "Upload-Defer-Length": "1"}, 400, "Upload-Defer-Length"),
        ({"Upload-Length": "10", "Upload-Metadata": "document_type !!!"}, 400, "not base64"),
        (
            {"Upload-Length": "10", "Upload-Metadata": "v_number MQ==,v_number MQ=="},
            400,
            "appears twice",
        ),
        ({"Upload-Length": "10", "Upload-Metadata": ""}, 422, "document_type, v_number"),
    ],
)
def test_a_malformed_creation_is_refused_and_recorded(
    documents_hub: DocumentHub, headers: dict[str, str], status: int, words: str
) -> None:
    tus = Tus(documents_hub)
    response = documents_hub.client.post(f"{API}/uploads", headers=tus.headers(**headers))
    assert_problem(response, status, words)
    event = last_event(documents_hub)
    assert event.action == "upload.create"
    assert event.outcome == "invalid"


def test_a_creation_without_tus_resumable_is_400(documents_hub: DocumentHub) -> None:
    headers = {**documents_hub.auth("IOM"), "Upload-Length": "10"}
    response = documents_hub.client.post(f"{API}/uploads", headers=headers)
    assert_problem(response, 400, "Tus-Resumable is required")


def test_a_creation_of_another_tus_version_is_412_with_the_version(
    documents_hub: DocumentHub,
) -> None:
    headers = {**documents_hub.auth("IOM"), "Upload-Length": "10", "Tus-Resumable": "0.2.2"}
    response = documents_hub.client.post(f"{API}/uploads", headers=headers)
    assert_problem(response, 412, "Tus-Resumable: 1.0.0")
    assert response.headers["tus-version"] == "1.0.0"


def test_a_bad_v_number_is_422_and_the_trail_has_no_v_number(documents_hub: DocumentHub) -> None:
    response = Tus(documents_hub).create(100, v_number="12345")
    assert_problem(response, 422, "exactly 10 digits")


def test_an_unknown_type_is_422(documents_hub: DocumentHub) -> None:
    assert_problem(Tus(documents_hub).create(100, document_type="nope"), 422, "unknown document")


def test_a_type_the_organisation_may_not_upload_is_403(documents_hub: DocumentHub) -> None:
    response = Tus(documents_hub, "GM0363").create(100)
    assert_problem(response, 403, "may not upload")
    assert last_event(documents_hub).outcome == "denied"


def test_more_than_the_type_allows_is_413_at_creation(documents_hub: DocumentHub) -> None:
    maximum = documents_hub.hub.services.policy.document_type("travel_document")
    assert maximum is not None
    response = Tus(documents_hub).create(maximum.max_size + 1)
    assert_problem(response, 413, "larger than the limit")


def test_an_empty_upload_is_422(documents_hub: DocumentHub) -> None:
    assert_problem(Tus(documents_hub).create(0), 422, "empty")


def test_a_token_without_documents_write_is_403(documents_hub: DocumentHub) -> None:
    headers = {**documents_hub.auth("IOM", "documents:read"), **TUS, "Upload-Length": "10"}
    response = documents_hub.client.post(f"{API}/uploads", headers=headers)
    assert response.status_code == 403
    assert response.headers["tus-resumable"] == "1.0.0"


def test_no_token_is_401_with_tus_resumable(documents_hub: DocumentHub) -> None:
    response = documents_hub.client.post(f"{API}/uploads", headers={**TUS, "Upload-Length": "1"})
    assert response.status_code == 401
    assert response.headers["tus-resumable"] == "1.0.0"


def test_creation_answers_location_expiry_and_keeps_no_v_number_in_clear(
    documents_hub: DocumentHub,
) -> None:
    response = Tus(documents_hub).create(100, v_number="5550001234")
    assert response.status_code == 201, response.text
    assert response.headers["location"].startswith("/api/v1/uploads/")
    assert response.headers["upload-expires"].endswith(" GMT")
    upload = upload_row(documents_hub, response.headers["location"])
    assert upload is not None
    assert b"5550001234" not in upload.v_number_sealed
    assert upload.v_index != "5550001234"
    event = last_event(documents_hub)
    assert (event.action, event.outcome) == ("upload.create", "success")


def test_options_describes_the_server_without_a_token(documents_hub: DocumentHub) -> None:
    response = documents_hub.client.options(f"{API}/uploads")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-resumable"] == "1.0.0"
    assert "creation" in response.headers["tus-extension"].split(",")
    assert "termination" in response.headers["tus-extension"].split(",")
    assert response.headers["tus-checksum-algorithm"] == "sha256,sha1"
    assert int(response.headers["tus-max-size"]) >= 2 << 30


# -- PATCH ----------------------------------------------------------------------------------------


def test_a_wrong_offset_is_409_and_keeps_nothing(documents_hub: DocumentHub) -> None:
    tus = Tus(documents_hub)
    location = tus.created(100)
    assert tus.patch(location, 0, pdf(10)).status_code == 204
    assert_problem(tus.patch(location, 0, pdf(10)), 409, "the upload is at 10")
    assert tus.head(location).headers["upload-offset"] == "10"
    assert last_event(documents_hub).action == "upload.append"


def test_a_wrong_content_type_is_415(documents_hub: DocumentHub) -> None:
    tus = Tus(documents_hub)
    location = tus.created(100)
    response = documents_hub.client.patch(
        location,
        content=pdf(10),
        headers=tus.headers(**{"Content-Type": "application/pdf", "Upload-Offset": "0"}),
    )
    assert_problem(response, 415, "application/offset+octet-stream")


def test_a_missing_offset_is_400(documents_hub: DocumentHub) -> None:
    tus = Tus(documents_hub)
    location = tus.created(100)
    response = documents_hub.client.patch(location, content=b"x", headers=tus.headers(**OCTETS))
    assert_problem(response, 400, "Upload-Offset is required")


def test_a_body_past_the_length_is_413_and_nothing_of_it_is_kept(
    documents_hub: DocumentHub,
) -> None:
    tus = Tus(documents_hub)
    content = pdf(2_500_000)
    location = tus.created(len(content) - 1)
    assert_problem(tus.patch(location, 0, content), 413, "still expected")
    head = tus.head(location)
    assert head.headers["upload-offset"] == "0"


def test_a_chunked_body_past_the_length_is_413_and_keeps_no_part(
    documents_hub: DocumentHub,
) -> None:
    tus = Tus(documents_hub)
    content = pdf(2_500_000)
    location = tus.created(len(content) - 1)
    response = documents_hub.client.patch(
        location,
        content=iter([content[:1_500_000], content[1_500_000:]]),  # no Content-Length
        headers=tus.headers(**OCTETS, **{"Upload-Offset": "0"}),
    )
    assert_problem(response, 413, "past the Upload-Length")
    upload = upload_row(documents_hub, location)
    assert upload is not None
    with Session(documents_hub.hub.services.engine) as session:
        parts = session.exec(select(UploadPart).where(UploadPart.upload_id == upload.id)).all()
    assert parts == []
    assert tus.head(location).headers["upload-offset"] == "0"


def test_content_the_type_does_not_take_is_415_and_ends_the_upload(
    documents_hub: DocumentHub,
) -> None:
    tus = Tus(documents_hub)
    location = tus.created(100)
    response = tus.patch(location, 0, b"<html>" + b"x" * 94)
    assert_problem(response, 415, "unrecognised")
    assert upload_row(documents_hub, location) is None
    assert tus.head(location).status_code == 404


def test_a_checksum_mismatch_is_460_and_the_chunk_is_discarded(
    documents_hub: DocumentHub,
) -> None:
    tus = Tus(documents_hub)
    content = pdf(1_200_000)
    location = tus.created(len(content))
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    response = tus.patch(location, 0, content, **{"Upload-Checksum": f"sha256 {wrong}"})
    assert_problem(response, 460, "does not match")
    assert tus.head(location).headers["upload-offset"] == "0"
    right = base64.b64encode(hashlib.sha1(content).digest()).decode()
    done = tus.patch(location, 0, content, **{"Upload-Checksum": f"sha1 {right}"})
    assert done.status_code == 204, done.text
    assert documents_hub.content("IOM", done.headers["ketenhub-document-id"]).content == content


@pytest.mark.parametrize(
    ("value", "words"),
    [("md5 AAAA", "algorithm must be"), ("sha256 !!", "not base64"), ("sha256 AAAA", "length")],
)
def test_a_malformed_checksum_is_400(documents_hub: DocumentHub, value: str, words: str) -> None:
    tus = Tus(documents_hub)
    location = tus.created(10)
    assert_problem(tus.patch(location, 0, pdf(10), **{"Upload-Checksum": value}), 400, words)


def test_a_complete_upload_takes_no_more_patches_and_head_names_the_document(
    documents_hub: DocumentHub,
) -> None:
    tus = Tus(documents_hub)
    content = png(5000)
    location = tus.created(len(content))
    done = tus.patch(location, 0, content)
    assert done.status_code == 204
    document_id = done.headers["ketenhub-document-id"]
    assert "audit-leaf-hash" in done.headers
    assert_problem(tus.patch(location, len(content), b""), 409, "complete")
    head = tus.head(location)
    assert head.status_code == 200
    assert head.headers["upload-offset"] == str(len(content))
    assert head.headers["ketenhub-document-id"] == document_id
    assert head.headers["cache-control"] == "no-store"
    assert_problem(tus.delete(location), 409, "complete")
    upload = upload_row(documents_hub, location)
    assert upload is not None
    # The document holds the key and the v-number now; no copy outlives its shredding here.
    assert (upload.wrapped_dek, upload.v_number_sealed, upload.tail) == (None, None, None)


# -- who may touch it -----------------------------------------------------------------------------


def test_another_caller_gets_404_for_every_method(documents_hub: DocumentHub) -> None:
    location = Tus(documents_hub).created(100)
    other = Tus(documents_hub, "DTV")
    assert other.head(location).status_code == 404
    assert_problem(other.patch(location, 0, pdf(10)), 404, "no such upload")
    assert_problem(other.delete(location), 404, "no such upload")
    never = f"{API}/uploads/{uuid.uuid4()}"
    assert_problem(other.patch(never, 0, pdf(10)), 404, "no such upload")
    assert Tus(documents_hub).head(location).headers["upload-offset"] == "0"


def test_termination_deletes_the_upload_and_its_parts(documents_hub: DocumentHub) -> None:
    tus = Tus(documents_hub)
    content = pdf(3_000_000)
    location = tus.created(len(content))
    assert tus.patch(location, 0, content[:2_200_000]).status_code == 204
    upload = upload_row(documents_hub, location)
    assert upload is not None
    with Session(documents_hub.hub.services.engine) as session:
        keys = session.exec(
            select(UploadPart.object_key).where(UploadPart.upload_id == upload.id)
        ).all()
    assert keys
    store = documents_hub.hub.services.vault.store
    assert tus.delete(location).status_code == 204
    event = last_event(documents_hub)
    assert (event.action, event.outcome) == ("upload.terminate", "success")
    assert tus.head(location).status_code == 404
    assert upload_row(documents_hub, location) is None
    for key in keys:
        assert all(info.key != key for info in store.iter_objects())


def test_metadata_keys_the_hub_does_not_read_are_ignored(documents_hub: DocumentHub) -> None:
    metadata = encode_metadata(
        document_type="travel_document", v_number="1234567890", filetype="application/pdf"
    )
    assert Tus(documents_hub).create(10, metadata=metadata).status_code == 201
