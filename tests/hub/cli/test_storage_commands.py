"""``ketenhub storage check`` and ``ketenhub storage sweep``, run for real against a hub.

Each test runs on SQLite with the filesystem store and on PostgreSQL with SeaweedFS (the
``documents_hub`` fixture). Documents are uploaded through the API; the damage a crash or an
operator would do is then arranged behind the hub's back: an object written straight into the
store (an upload that died before its commit), an object deleted (data loss), a row shredded
whose object stayed (a shred that died before its delete). The commands run as subprocesses
with the hub's settings in ``KETENHUB_*`` variables, as an operator would run them.

The filesystem store's objects are aged with ``os.utime``. S3 objects cannot be backdated, so
there the test waits a moment and sweeps with a one-second grace instead.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from hub.cli.documents import check_store, key_ranges
from hub.tables.documents import Document
from hub.tables.vault import SealedObject
from storage.errors import ObjectNotFound
from storage.objects import FilesystemStore, ObjectInfo, ObjectStore, S3Store
from tests.fixtures.cli import ketenhub_env, run_ketenhub
from tests.fixtures.documents import API, DocumentHub, pdf
from tests.fixtures.stores import FilesystemBackend, S3Backend, S3Server, drop_bucket

FILESYSTEM_ONLY = pytest.mark.parametrize("documents_hub", ["sqlite+filesystem"], indirect=True)


# -- helpers: running the command against the hub, and damaging what it checks -----------------


def command_env(documents_hub: DocumentHub) -> dict[str, str]:
    """The ``KETENHUB_*`` environment of the hub under test: its database, store and keys."""
    settings = documents_hub.hub.services.settings
    overrides = {
        "KETENHUB_ENVIRONMENT": settings.environment.value,
        "KETENHUB_DATABASE_URL": settings.resolved_database_url,
        "KETENHUB_ISSUER": settings.issuer,
    }
    s3 = settings.s3_connection
    if s3 is not None:
        overrides |= {
            "KETENHUB_STORAGE_URL": f"s3://{s3.bucket}",
            "KETENHUB_S3_ENDPOINT": s3.endpoint,
            "KETENHUB_S3_ACCESS_KEY": s3.access_key.get_secret_value(),
            "KETENHUB_S3_SECRET_KEY": s3.secret_key.get_secret_value(),
        }
    return ketenhub_env(settings.data_dir, **overrides)


def ketenhub(
    documents_hub: DocumentHub, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_ketenhub(command_env(documents_hub), *args, check=check)


def object_key(documents_hub: DocumentHub, document_id: str) -> str:
    statement = select(SealedObject.object_key).where(
        SealedObject.document_id == uuid.UUID(document_id)
    )
    with Session(documents_hub.hub.services.engine) as session:
        return session.exec(statement).one()


def exists(documents_hub: DocumentHub, key: str) -> bool:
    try:
        documents_hub.hub.services.store.stat(key)
    except ObjectNotFound:
        return False
    return True


def put_orphan(documents_hub: DocumentHub) -> str:
    """An object without a row, as an upload leaves it when it dies before its commit."""
    return documents_hub.hub.services.store.put([secrets.token_bytes(1000)]).key


def backdate(documents_hub: DocumentHub, key: str, age: timedelta) -> None:
    store = documents_hub.hub.services.store
    assert isinstance(store, FilesystemStore)
    moment = (datetime.now(UTC) - age).timestamp()
    os.utime(store.root / key[:2] / key, (moment, moment))


def make_old(documents_hub: DocumentHub, *keys: str) -> str:
    """Make ``keys`` older than a grace period; returns that grace, for ``--grace``."""
    if isinstance(documents_hub.hub.services.store, FilesystemStore):
        for key in keys:
            backdate(documents_hub, key, timedelta(hours=2))
        return "3600"
    time.sleep(1.1)  # S3 cannot backdate: wait, and sweep with a grace shorter than the wait
    return "1"


def shred_row_only(documents_hub: DocumentHub, document_id: str) -> None:
    """Shred a document in the database but leave its object: a crash before the delete."""
    now = datetime.now(UTC)
    ident = uuid.UUID(document_id)
    with Session(documents_hub.hub.services.engine) as session:
        session.exec(
            update(SealedObject)
            .where(col(SealedObject.document_id) == ident)
            .values(wrapped_dek=None, shredded_at=now)
        )
        session.exec(
            update(Document)
            .where(col(Document.id) == ident)
            .values(deleted_at=now, v_number_sealed=None)
        )
        session.commit()


def upload(documents_hub: DocumentHub, content: bytes | None = None) -> str:
    document: str = documents_hub.uploaded("IOM", content or pdf())["id"]
    return document


# -- check --------------------------------------------------------------------------------------


def test_check_reports_a_consistent_store_and_exits_0(documents_hub: DocumentHub) -> None:
    upload(documents_hub)
    upload(documents_hub)
    result = ketenhub(documents_hub, "storage", "check")
    assert result.returncode == 0
    assert "objects      2" in result.stdout
    assert "live rows    2" in result.stdout
    assert "rows without objects: 0" in result.stdout
    assert "objects without rows: 0" in result.stdout
    assert "the object store and the database are consistent" in result.stdout
    assert result.stderr == ""


def test_check_reports_an_orphan_with_its_age_and_warns(documents_hub: DocumentHub) -> None:
    upload(documents_hub)
    orphan = put_orphan(documents_hub)
    if isinstance(documents_hub.hub.services.store, FilesystemStore):
        backdate(documents_hub, orphan, timedelta(hours=3, minutes=5))
        age = re.escape("written 3h 5m ago")
    else:
        age = r"written \d+s ago"  # S3 cannot backdate: just written
    result = ketenhub(documents_hub, "storage", "check")
    assert result.returncode == 0  # orphans are harmless until swept
    assert "objects without rows: 1 (1000 B" in result.stdout
    assert re.search(rf"{orphan}\s+1000 B\s+{age}\s+without a row", result.stdout)
    assert "warning: 1 objects without rows" in result.stderr
    assert "consistent" not in result.stdout


def test_check_reports_a_row_whose_object_is_missing_and_exits_1(
    documents_hub: DocumentHub,
) -> None:
    kept = upload(documents_hub)
    lost = upload(documents_hub)
    documents_hub.hub.services.store.delete(object_key(documents_hub, lost))
    result = ketenhub(documents_hub, "storage", "check", check=False)
    assert result.returncode == 1
    assert "rows without objects: 1" in result.stdout
    assert f"document {lost} version 0: object {object_key(documents_hub, lost)} missing" in (
        result.stdout
    )
    assert kept not in result.stdout
    assert "1 rows without objects: those documents cannot be read any more" in result.stderr


def test_check_counts_a_shredded_rows_leftover_object_as_an_orphan(
    documents_hub: DocumentHub,
) -> None:
    document = upload(documents_hub)
    shred_row_only(documents_hub, document)
    result = ketenhub(documents_hub, "storage", "check")
    assert "rows without objects: 0" in result.stdout  # a shredded row needs no object
    assert "objects without rows: 1" in result.stdout
    assert f"{object_key(documents_hub, document)}" in result.stdout
    assert "of a shredded document" in result.stdout


def test_check_fails_when_the_store_itself_is_gone(documents_hub: DocumentHub) -> None:
    upload(documents_hub)
    store = documents_hub.hub.services.store
    if isinstance(store, FilesystemStore):
        shutil.rmtree(store.root)
    else:
        assert isinstance(store, S3Store)
        drop_bucket(S3Server.from_environment("seaweed").admin(), store.bucket)
    result = ketenhub(documents_hub, "storage", "check", check=False)
    assert result.returncode == 1
    assert "StoreUnavailable" in result.stderr or "BucketMissing" in result.stderr
    assert "consistent" not in result.stdout
    assert "Traceback" not in result.stderr


def test_check_in_several_passes_finds_what_one_pass_finds(documents_hub: DocumentHub) -> None:
    documents = [upload(documents_hub) for _ in range(4)]
    services = documents_hub.hub.services
    services.store.delete(object_key(documents_hub, documents[0]))
    shred_row_only(documents_hub, documents[1])
    orphan = put_orphan(documents_hub)

    one = check_store(services.engine, services.store)
    several = check_store(services.engine, services.store, keys_per_pass=1, batch=2)
    assert (one.passes, several.passes) == (1, 3)
    for report in (one, several):
        assert report.live_rows == 3
        assert report.objects == 4  # two live documents, the shredded one's, the orphan
        assert [m.document_id for m in report.missing_samples] == [uuid.UUID(documents[0])]
        assert sorted(o.info.key for o in report.orphan_samples) == sorted(
            [orphan, object_key(documents_hub, documents[1])]
        )


class ActsWhileListed:
    """A store that runs ``action`` when it is listed: another replica at work mid-check."""

    def __init__(self, store: ObjectStore, action: Callable[[], object]) -> None:
        self._store = store
        self._action = action

    def iter_objects(self) -> Iterator[ObjectInfo]:
        self._action()
        yield from self._store.iter_objects()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_check_does_not_report_a_document_deleted_during_the_check_as_lost(
    documents_hub: DocumentHub,
) -> None:
    document = upload(documents_hub)
    services = documents_hub.hub.services

    def delete() -> None:
        response = documents_hub.client.delete(
            f"{API}/documents/{document}", headers=documents_hub.auth("IOM")
        )
        assert response.status_code == 204

    report = check_store(
        services.engine, cast(ObjectStore, ActsWhileListed(services.store, delete))
    )
    assert not exists(documents_hub, object_key(documents_hub, document))
    assert report.missing == 0
    assert report.orphans == 0


def test_check_does_not_report_an_upload_committed_during_the_check_as_orphan(
    documents_hub: DocumentHub,
) -> None:
    upload(documents_hub)
    services = documents_hub.hub.services
    added: list[str] = []
    store = ActsWhileListed(services.store, lambda: added.append(upload(documents_hub)))
    report = check_store(services.engine, cast(ObjectStore, store))
    assert report.live_rows == 1  # counted before the upload
    assert report.objects == 2
    assert report.orphans == 0
    assert report.missing == 0


def test_key_ranges_cover_the_key_space_once() -> None:
    ranges = key_ranges(3)
    assert ranges[0][0] == "0" * 32
    assert ranges[-1][1] is None
    assert [high for _, high in ranges[:-1]] == [low for low, _ in ranges[1:]]
    assert key_ranges(1) == [("0" * 32, None)]


# -- sweep --------------------------------------------------------------------------------------


def test_sweep_keeps_an_orphan_younger_than_the_grace(documents_hub: DocumentHub) -> None:
    orphan = put_orphan(documents_hub)
    result = ketenhub(documents_hub, "storage", "sweep")
    assert exists(documents_hub, orphan)
    assert "removed 0 orphan objects" in result.stdout
    assert "kept 1 objects without rows written less than 3600 s ago" in result.stdout


def test_sweep_removes_an_orphan_older_than_the_grace(documents_hub: DocumentHub) -> None:
    orphan = put_orphan(documents_hub)
    grace = make_old(documents_hub, orphan)
    result = ketenhub(documents_hub, "storage", "sweep", "--grace", grace)
    assert not exists(documents_hub, orphan)
    assert f"removed {orphan}" in result.stdout
    assert "removed 1 orphan objects (1000 B)" in result.stdout
    assert "objects without rows: 0" in ketenhub(documents_hub, "storage", "check").stdout


@FILESYSTEM_ONLY
def test_sweep_measures_the_grace_per_object(documents_hub: DocumentHub) -> None:
    old, young = put_orphan(documents_hub), put_orphan(documents_hub)
    backdate(documents_hub, old, timedelta(minutes=40))
    backdate(documents_hub, young, timedelta(minutes=20))
    result = ketenhub(documents_hub, "storage", "sweep", "--grace", "1800")
    assert not exists(documents_hub, old)
    assert exists(documents_hub, young)
    assert "kept 1 objects without rows written less than 1800 s ago" in result.stdout


def test_sweep_removes_a_shredded_rows_leftover_object_whatever_its_age(
    documents_hub: DocumentHub,
) -> None:
    document = upload(documents_hub)
    key = object_key(documents_hub, document)
    shred_row_only(documents_hub, document)
    result = ketenhub(documents_hub, "storage", "sweep")  # the default grace: one hour
    assert not exists(documents_hub, key)
    assert f"removed {key}" in result.stdout
    assert "of a shredded document" in result.stdout


def test_sweep_never_removes_an_object_of_a_live_row(documents_hub: DocumentHub) -> None:
    content = pdf(5000)
    document = upload(documents_hub, content)
    grace = make_old(documents_hub, object_key(documents_hub, document))
    result = ketenhub(documents_hub, "storage", "sweep", "--grace", grace)
    assert "removed 0 orphan objects" in result.stdout
    response = documents_hub.content("IOM", document)
    assert response.status_code == 200
    assert response.content == content


def test_sweep_dry_run_removes_nothing(documents_hub: DocumentHub, tmp_path: Path) -> None:
    orphan = put_orphan(documents_hub)
    document = upload(documents_hub)
    leftover = object_key(documents_hub, document)
    shred_row_only(documents_hub, document)
    grace = make_old(documents_hub, orphan)
    result = ketenhub(documents_hub, "storage", "sweep", "--dry-run", "--grace", grace)
    assert f"would remove {orphan}" in result.stdout
    assert f"would remove {leftover}" in result.stdout
    assert "would remove 2 orphan objects" in result.stdout
    assert "incomplete writes are not looked at in a dry run" in result.stdout
    assert exists(documents_hub, orphan)
    assert exists(documents_hub, leftover)


def test_sweep_removes_abandoned_incomplete_writes(
    documents_hub: DocumentHub, tmp_path: Path
) -> None:
    store = documents_hub.hub.services.store
    if isinstance(store, FilesystemStore):
        backend: FilesystemBackend | S3Backend = FilesystemBackend(tmp_path)
        backend.leave_incomplete_write(store)
        (temp,) = store.root.rglob(".*.tmp")
        moment = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
        os.utime(temp, (moment, moment))
        grace = "3600"
    else:
        assert isinstance(store, S3Store)
        backend = S3Backend(S3Server.from_environment("seaweed"))
        backend.leave_incomplete_write(store)
        time.sleep(1.1)
        grace = "1"
    assert len(backend.leftovers(store)) == 1
    result = ketenhub(documents_hub, "storage", "sweep", "--grace", grace)
    assert backend.leftovers(store) == []
    assert "removed 1 incomplete writes" in result.stdout


@pytest.mark.parametrize("grace", ["-1", "nan", "inf", "an hour"])
def test_sweep_refuses_a_grace_that_is_not_a_sane_number_of_seconds(
    tmp_path: Path, grace: str
) -> None:
    result = run_ketenhub(
        ketenhub_env(tmp_path / "var"), "storage", "sweep", "--grace", grace, check=False
    )
    assert result.returncode == 2
    assert "--grace" in result.stderr
    assert "Traceback" not in result.stderr
