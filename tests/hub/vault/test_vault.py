"""Sealed content end to end: object store, key ring and database together."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError
from sqlmodel import Session

from hub.core import db
from hub.tables.vault import SealedObject
from hub.vault import repository
from hub.vault.service import (
    ContentShredded,
    Vault,
    open_plaintext,
    retire_kek,
    rewrap_all,
    seal,
    shred,
)
from storage import envelope
from storage.errors import IntegrityError, KeyRingError, ObjectNotFound
from storage.keys import LocalKeyRing
from storage.objects import FilesystemStore, ObjectStore

SIZES = [0, 1, envelope.FIRST_SEGMENT_PLAINTEXT, envelope.FIRST_SEGMENT_PLAINTEXT + 1, 3_000_000]


def _chunks(data: bytes, size: int = 100_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _read(vault: Vault, sealed: SealedObject) -> bytes:
    with open_plaintext(vault, sealed) as stream:
        return b"".join(stream)


@pytest.fixture
def keys(tmp_path: Path) -> LocalKeyRing:
    return LocalKeyRing.create(tmp_path / "keys" / "keyring.json")


@pytest.fixture
def vault(object_store: ObjectStore, keys: LocalKeyRing) -> Vault:
    return Vault(store=object_store, keys=keys)


@pytest.fixture
def fs_vault(tmp_path: Path, keys: LocalKeyRing) -> Vault:
    store = FilesystemStore(tmp_path / "objects")
    store.ensure_ready()
    return Vault(store=store, keys=keys)


def _seal(engine: Engine, vault: Vault, data: bytes, *, version: int = 1) -> SealedObject:
    with db.transaction(engine) as session:
        return seal(session, vault, document_id=uuid.uuid4(), version=version, chunks=_chunks(data))


def test_seal_and_open_on_every_store_and_database(migrated_engine: Engine, vault: Vault) -> None:
    data = os.urandom(3_000_000)
    sealed = _seal(migrated_engine, vault, data)
    assert sealed.plaintext_size == len(data)
    assert sealed.sha256 == hashlib.sha256(data).hexdigest()
    assert sealed.kek_id == vault.keys.current_kek_id()
    with Session(migrated_engine) as session:
        stored = repository.get(session, sealed.id)
        assert stored is not None
        assert _read(vault, stored) == data


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes(migrated_engine: Engine, fs_vault: Vault, size: int) -> None:
    data = os.urandom(size)
    assert _read(fs_vault, _seal(migrated_engine, fs_vault, data)) == data


def test_stored_object_is_ciphertext_of_the_expected_size(
    migrated_engine: Engine, fs_vault: Vault
) -> None:
    data = b"laissez-passer " * 10_000
    sealed = _seal(migrated_engine, fs_vault, data)
    with fs_vault.store.open(sealed.object_key) as reader:
        stored = b"".join(reader)
    assert len(stored) == envelope.ciphertext_size(len(data))
    assert b"laissez-passer" not in stored
    assert stored[4:20].hex() == sealed.dek_id


def test_rollback_deletes_the_object(migrated_engine: Engine, fs_vault: Vault) -> None:
    keys_seen: list[str] = []

    def seal_then_fail() -> None:
        with db.transaction(migrated_engine) as session:
            sealed = seal(
                session, fs_vault, document_id=uuid.uuid4(), version=1, chunks=[b"x" * 10]
            )
            keys_seen.append(sealed.object_key)
            raise RuntimeError("the audit write failed")

    with pytest.raises(RuntimeError):
        seal_then_fail()
    with pytest.raises(ObjectNotFound):
        fs_vault.store.stat(keys_seen[0])
    assert list(fs_vault.store.iter_objects()) == []


def test_a_failed_insert_deletes_the_object_at_once(
    migrated_engine: Engine, fs_vault: Vault
) -> None:
    document_id = uuid.uuid4()
    with db.transaction(migrated_engine) as session:
        seal(session, fs_vault, document_id=document_id, version=1, chunks=[b"first"])
    with Session(migrated_engine) as session, pytest.raises(DatabaseIntegrityError):
        seal(session, fs_vault, document_id=document_id, version=1, chunks=[b"duplicate"])
    assert len(list(fs_vault.store.iter_objects())) == 1


def test_shred_destroys_the_key_then_deletes_the_object(
    migrated_engine: Engine, fs_vault: Vault
) -> None:
    sealed = _seal(migrated_engine, fs_vault, b"travel document")
    with db.transaction(migrated_engine) as session:
        row = repository.get(session, sealed.id)
        assert row is not None
        shred(session, fs_vault, row)
        # Before commit the key is gone from the row but the object is still there.
        fs_vault.store.stat(sealed.object_key)
    with Session(migrated_engine) as session:
        row = repository.get(session, sealed.id)
        assert row is not None
        assert row.wrapped_dek is None
        assert row.shredded_at is not None
        with pytest.raises(ContentShredded):
            open_plaintext(fs_vault, row)
    with pytest.raises(ObjectNotFound):
        fs_vault.store.stat(sealed.object_key)


def test_a_rolled_back_shred_keeps_key_and_object(migrated_engine: Engine, fs_vault: Vault) -> None:
    sealed = _seal(migrated_engine, fs_vault, b"decision")

    def shred_then_fail() -> None:
        with db.transaction(migrated_engine) as session:
            row = repository.get(session, sealed.id)
            assert row is not None
            shred(session, fs_vault, row)
            raise RuntimeError("the audit write failed")

    with pytest.raises(RuntimeError):
        shred_then_fail()
    with Session(migrated_engine) as session:
        row = repository.get(session, sealed.id)
        assert row is not None
        assert _read(fs_vault, row) == b"decision"


def test_the_database_refuses_a_shredded_row_that_keeps_its_key(
    migrated_engine: Engine, fs_vault: Vault
) -> None:
    sealed = _seal(migrated_engine, fs_vault, b"x")
    with Session(migrated_engine) as session:
        row = repository.get(session, sealed.id)
        assert row is not None
        row.shredded_at = row.created_at
        session.add(row)
        with pytest.raises(DatabaseIntegrityError, match="shredded_has_no_key"):
            session.flush()


def test_a_truncated_object_fails_before_any_byte(
    migrated_engine: Engine, fs_vault: Vault, tmp_path: Path
) -> None:
    sealed = _seal(migrated_engine, fs_vault, os.urandom(3_000_000))
    path = tmp_path / "objects" / sealed.object_key[:2] / sealed.object_key
    path.write_bytes(path.read_bytes()[: envelope.SEGMENT_SIZE * 2 + envelope.PREFIX_SIZE])
    with pytest.raises(IntegrityError):
        open_plaintext(fs_vault, sealed)


def test_an_object_swapped_between_documents_fails(
    migrated_engine: Engine, fs_vault: Vault
) -> None:
    """A row pointing at another document's object (same size) never yields its content."""
    first = _seal(migrated_engine, fs_vault, b"A" * 5000)
    second = _seal(migrated_engine, fs_vault, b"B" * 5000)
    first.object_key = second.object_key
    with pytest.raises(IntegrityError):
        _read(fs_vault, first)


def test_an_edited_dek_id_fails(migrated_engine: Engine, fs_vault: Vault) -> None:
    sealed = _seal(migrated_engine, fs_vault, b"case information")
    sealed.dek_id = "00" * 16
    with pytest.raises(IntegrityError):
        _read(fs_vault, sealed)


def test_rotation_and_rewrap(migrated_engine: Engine, fs_vault: Vault) -> None:
    keys = fs_vault.keys
    assert isinstance(keys, LocalKeyRing)
    old_kek = keys.current_kek_id()
    before = _seal(migrated_engine, fs_vault, b"sealed before rotation")
    new_kek = keys.rotate()
    after = _seal(migrated_engine, fs_vault, b"sealed after rotation")
    assert before.kek_id == old_kek
    assert after.kek_id == new_kek
    assert _read(fs_vault, before) == b"sealed before rotation"

    object_before = b"".join(fs_vault.store.open(before.object_key))
    with db.transaction(migrated_engine) as session:
        with pytest.raises(KeyRingError, match="still wrapped"):
            retire_kek(session, fs_vault, old_kek)
        assert rewrap_all(session, fs_vault, batch_size=1) == 1
        assert rewrap_all(session, fs_vault) == 0
        retire_kek(session, fs_vault, old_kek)

    with Session(migrated_engine) as session:
        moved = repository.get(session, before.id)
        assert moved is not None
        assert moved.kek_id == new_kek
        assert moved.rewrapped_at is not None
        assert _read(fs_vault, moved) == b"sealed before rotation"
    assert b"".join(fs_vault.store.open(before.object_key)) == object_before
    assert [k.kek_id for k in keys.keks()] == [new_kek]


def test_wrap_counts_come_from_the_database(migrated_engine: Engine, fs_vault: Vault) -> None:
    for _ in range(3):
        _seal(migrated_engine, fs_vault, b"x")
    with Session(migrated_engine) as session:
        assert repository.wrap_counts(session) == {fs_vault.keys.current_kek_id(): 3}
