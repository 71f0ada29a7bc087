"""Abandoned uploads: 404 once expired, swept with their parts (``upload.expire``); and the
orphan sweep never takes an unfinished upload's parts for orphans."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.core import db
from hub.documents.consistency import check_store, iter_orphans
from hub.tables.uploads import Upload, UploadPart
from hub.trail.context import system_context
from hub.uploads.expiry import expire_uploads
from hub.vault.service import retire_kek, rewrap_all
from storage.errors import KeyRingError
from tests.fixtures.documents import DocumentHub, pdf
from tests.hub.uploads.tus import Tus


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    return module_documents_hub


def started(documents_hub: DocumentHub) -> tuple[str, uuid.UUID, list[str]]:
    """An upload with 2.2 MB of 3 MB in: two segments sealed in a part, the rest in its tail."""
    tus = Tus(documents_hub)
    content = pdf(3_000_000)
    location = tus.created(len(content))
    assert tus.patch(location, 0, content[:2_200_000]).status_code == 204
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    with Session(documents_hub.hub.services.engine) as session:
        keys = list(
            session.exec(
                select(UploadPart.object_key).where(col(UploadPart.upload_id) == upload_id)
            ).all()
        )
    assert keys
    return location, upload_id, keys


def stored_keys(documents_hub: DocumentHub) -> set[str]:
    return {info.key for info in documents_hub.hub.services.vault.store.iter_objects()}


def test_the_orphan_sweep_leaves_an_unfinished_uploads_parts(documents_hub: DocumentHub) -> None:
    _, _, keys = started(documents_hub)
    services = documents_hub.hub.services
    orphans = {orphan.info.key for orphan in iter_orphans(services.engine, services.vault.store)}
    assert not orphans & set(keys)
    report = check_store(services.engine, services.vault.store)
    assert not {sample.info.key for sample in report.orphan_samples} & set(keys)


def test_an_expired_upload_is_404_before_it_is_swept(documents_hub: DocumentHub) -> None:
    location, upload_id, _ = started(documents_hub)
    with Session(documents_hub.hub.services.engine) as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        upload.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(upload)
        session.commit()
    tus = Tus(documents_hub)
    assert tus.head(location).status_code == 404
    assert tus.patch(location, 2_200_000, pdf(10)).status_code == 404


def test_the_sweep_removes_expired_uploads_and_their_parts(documents_hub: DocumentHub) -> None:
    location, upload_id, keys = started(documents_hub)
    services = documents_hub.hub.services
    later = datetime.now(UTC) + timedelta(seconds=services.settings.upload_expiry + 60)
    assert expire_uploads(services, system_context("test"), clock=lambda: later) >= 1
    with Session(services.engine) as session:
        assert session.get(Upload, upload_id) is None
        events = session.exec(
            select(AuditEvent).where(
                col(AuditEvent.action) == "upload.expire",
                col(AuditEvent.resource_id) == str(upload_id),
            )
        ).all()
    assert len(events) == 1
    assert events[0].detail == "2200000 of 3000000 bytes"
    assert events[0].data_subject_id is not None
    assert not stored_keys(documents_hub) & set(keys)
    assert Tus(documents_hub).head(location).status_code == 404


def test_the_sweep_leaves_live_uploads(documents_hub: DocumentHub) -> None:
    location, upload_id, keys = started(documents_hub)
    services = documents_hub.hub.services
    expire_uploads(services, system_context("test"))
    with Session(services.engine) as session:
        assert session.get(Upload, upload_id) is not None
    assert set(keys) <= stored_keys(documents_hub)
    assert Tus(documents_hub).head(location).headers["upload-offset"] == "2200000"


def test_a_kek_is_not_retired_while_an_unfinished_upload_needs_it(
    documents_hub: DocumentHub,
) -> None:
    location, _, _ = started(documents_hub)
    services = documents_hub.hub.services
    old = services.vault.keys.current_kek_id()
    services.vault.keys.rotate()
    with db.transaction(services.engine) as session:
        rewrap_all(session, services.vault)
    with (
        db.transaction(services.engine) as session,
        pytest.raises(KeyRingError, match="unfinished"),
    ):
        retire_kek(session, services.vault, old)
    content = pdf(3_000_000)
    tus = Tus(documents_hub)
    done = tus.patch(location, 2_200_000, content[2_200_000:])
    assert done.status_code == 204, done.text
