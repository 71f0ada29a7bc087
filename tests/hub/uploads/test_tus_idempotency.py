"""``Idempotency-Key`` on tus creation (``upload.create``): a retried creation answers the first
upload's Location again, another request with the key is 422, a terminated upload's key 410."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import Session, func, select

from hub.tables.uploads import Upload
from tests.fixtures.documents import DocumentHub, pdf
from tests.hub.uploads.tus import Tus


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    return module_documents_hub


def key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


def uploads(documents_hub: DocumentHub) -> int:
    with Session(documents_hub.hub.services.engine) as session:
        return session.exec(select(func.count()).select_from(Upload)).one()


def test_a_retried_creation_answers_the_first_upload_again(documents_hub: DocumentHub) -> None:
    tus, headers = Tus(documents_hub), key()
    first = tus.create(1000, **headers)
    assert first.status_code == 201, first.text
    before = uploads(documents_hub)
    again = tus.create(1000, **headers)
    assert again.status_code == 201, again.text
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["upload-expires"] == first.headers["upload-expires"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["tus-resumable"] == "1.0.0"
    assert uploads(documents_hub) == before
    # A retried creation learns where the upload stands now, to go on from there.
    assert tus.patch(first.headers["location"], 0, pdf(400)).status_code == 204
    assert tus.create(1000, **headers).headers["upload-offset"] == "400"


def test_the_key_with_another_length_or_v_number_is_422(documents_hub: DocumentHub) -> None:
    tus, headers = Tus(documents_hub), key()
    assert tus.create(1000, **headers).status_code == 201
    assert tus.create(1001, **headers).status_code == 422
    other = tus.create(1000, v_number="1234567891", **headers)
    assert other.status_code == 422
    assert "another request" in other.json()["detail"]


def test_another_clients_key_is_its_own(documents_hub: DocumentHub) -> None:
    headers = key()
    first = Tus(documents_hub).create(1000, **headers)
    other = Tus(documents_hub, "DTV").create(1000, **headers)
    assert other.status_code == 201
    assert other.headers["location"] != first.headers["location"]
    assert "idempotent-replayed" not in other.headers


def test_a_terminated_uploads_key_answers_410(documents_hub: DocumentHub) -> None:
    tus, headers = Tus(documents_hub), key()
    first = tus.create(1000, **headers)
    assert tus.delete(first.headers["location"]).status_code == 204
    gone = tus.create(1000, **headers)
    assert gone.status_code == 410, gone.text


def test_a_malformed_key_is_400(documents_hub: DocumentHub) -> None:
    response = Tus(documents_hub).create(1000, **{"Idempotency-Key": "not-quoted"})
    assert response.status_code == 400, response.text


def test_a_refused_creation_keeps_no_key(documents_hub: DocumentHub) -> None:
    tus, headers = Tus(documents_hub), key()
    assert tus.create(1000, v_number="123", **headers).status_code == 422
    assert tus.create(1000, **headers).status_code == 201
