"""Byte ranges of sealed content through ``open_plaintext``: real keys, files and database.

The store records every ``open`` (its range, the bytes read, whether the reader was closed), so
the tests can show what a range read touches: the 92-byte header and only the segments that
hold the range, with every reader closed however the read ends. The database is SQLite only:
ranges never touch it beyond the row that ``seal`` writes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from hub.core import db
from hub.tables.vault import SealedObject
from hub.vault import repository
from hub.vault.service import ContentShredded, Vault, open_plaintext, seal, shred
from storage.envelope import (
    FIRST_SEGMENT_PLAINTEXT,
    HEADER_SIZE,
    PREFIX_SIZE,
    SEGMENT_PLAINTEXT,
    SEGMENT_SIZE,
    ciphertext_size,
)
from storage.errors import IntegrityError
from storage.keys import LocalKeyRing
from storage.objects import FilesystemStore, ObjectReader, StreamReader

F = FIRST_SEGMENT_PLAINTEXT
S = SEGMENT_PLAINTEXT
MULTI = F + 2 * S + 1000  # four segments, the last one short


@dataclass
class Opened:
    offset: int
    length: int | None
    read: int = 0
    closed: bool = False


class RecordingStore(FilesystemStore):
    """A filesystem store that records each open; ``before_open`` may change the object first."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.opens: list[Opened] = []
        self.before_open: Callable[[int, str], None] = lambda count, key: None

    def open(self, key: str, *, offset: int = 0, length: int | None = None) -> ObjectReader:
        self.before_open(len(self.opens), key)
        reader = super().open(key, offset=offset, length=length)
        record = Opened(offset, length)
        self.opens.append(record)

        def chunks() -> Iterator[bytes]:
            for chunk in reader:
                record.read += len(chunk)
                yield chunk

        def release() -> None:
            reader.close()
            record.closed = True

        return StreamReader(size=reader.size, chunks=chunks(), release=release)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'ketenhub.db'}")
    db.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> LocalKeyRing:
    return LocalKeyRing.create(tmp_path_factory.mktemp("keys") / "keyring.json")


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory) -> RecordingStore:
    store = RecordingStore(tmp_path_factory.mktemp("objects"))
    store.ensure_ready()
    return store


@pytest.fixture
def store(module_store: RecordingStore) -> RecordingStore:
    """The module's store with a clean record for each test."""
    module_store.opens.clear()
    module_store.before_open = lambda count, key: None
    return module_store


@pytest.fixture
def vault(store: RecordingStore, keys: LocalKeyRing) -> Vault:
    return Vault(store=store, keys=keys)


def _plaintext(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _seal(engine: Engine, vault: Vault, data: bytes) -> SealedObject:
    with db.transaction(engine) as session:
        return seal(session, vault, document_id=uuid.uuid4(), version=1, chunks=[data])


@pytest.fixture(scope="module")
def document(
    engine: Engine, keys: LocalKeyRing, module_store: RecordingStore
) -> tuple[bytes, SealedObject]:
    """One four-segment document shared by the tests that only read."""
    plaintext = _plaintext(MULTI, seed=1)
    return plaintext, _seal(engine, Vault(store=module_store, keys=keys), plaintext)


def _read(vault: Vault, sealed: SealedObject, *, offset: int, length: int | None) -> bytes:
    with open_plaintext(vault, sealed, offset=offset, length=length) as stream:
        data = b"".join(stream)
        assert stream.size == len(data)
        return data


def _flip(store: RecordingStore, sealed: SealedObject, position: int) -> None:
    path = store.path(sealed.object_key)
    damaged = bytearray(path.read_bytes())
    damaged[position] ^= 0x10
    path.write_bytes(damaged)


def _segment_start(index: int) -> int:
    return HEADER_SIZE if index == 0 else PREFIX_SIZE + index * SEGMENT_SIZE


def _all_closed(store: RecordingStore) -> bool:
    return all(record.closed for record in store.opens)


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 1),
        (F - 1, 2),  # across the first segment boundary
        (F + S - 1, 2),  # across the second
        (F + 2 * S, 1000),  # the last segment
        (F + 2 * S + 999, None),  # the last byte, to the end
        (500, MULTI),  # clipped at the end
    ],
)
def test_range_equals_the_slice(
    vault: Vault,
    store: RecordingStore,
    document: tuple[bytes, SealedObject],
    offset: int,
    length: int | None,
) -> None:
    plaintext, sealed = document
    end = MULTI if length is None else offset + length
    assert _read(vault, sealed, offset=offset, length=length) == plaintext[offset:end]
    assert _all_closed(store)


def test_a_range_reads_the_header_then_only_its_segments(
    vault: Vault, store: RecordingStore, document: tuple[bytes, SealedObject]
) -> None:
    plaintext, sealed = document
    with open_plaintext(vault, sealed, offset=F + S + 10, length=20) as stream:
        assert stream.size == 20
        assert b"".join(stream) == plaintext[F + S + 10 : F + S + 30]
    assert store.opens == [
        Opened(0, HEADER_SIZE, read=HEADER_SIZE, closed=True),
        Opened(_segment_start(2), SEGMENT_SIZE, read=SEGMENT_SIZE, closed=True),
    ]


@pytest.mark.parametrize("length", [None, MULTI, MULTI + 1])
def test_the_whole_document_is_one_sequential_read(
    vault: Vault, store: RecordingStore, document: tuple[bytes, SealedObject], length: int | None
) -> None:
    plaintext, sealed = document
    with open_plaintext(vault, sealed, offset=0, length=length) as stream:
        assert stream.size == sealed.plaintext_size
        assert b"".join(stream) == plaintext
    assert store.opens == [Opened(0, None, read=ciphertext_size(MULTI), closed=True)]


def test_an_empty_range_reads_only_the_header(
    vault: Vault, store: RecordingStore, document: tuple[bytes, SealedObject]
) -> None:
    _, sealed = document
    assert _read(vault, sealed, offset=MULTI, length=None) == b""
    assert store.opens == [Opened(0, HEADER_SIZE, read=HEADER_SIZE, closed=True)]


def test_an_empty_document(engine: Engine, vault: Vault) -> None:
    sealed = _seal(engine, vault, b"")
    assert _read(vault, sealed, offset=0, length=0) == b""
    assert _read(vault, sealed, offset=0, length=None) == b""


def test_readers_are_closed_when_the_caller_stops_early(
    vault: Vault, store: RecordingStore, document: tuple[bytes, SealedObject]
) -> None:
    plaintext, sealed = document
    stream = open_plaintext(vault, sealed, offset=F - 1, length=S)
    assert next(iter(stream)) == plaintext[F - 1 : F]
    stream.close()
    assert len(store.opens) == 2
    assert _all_closed(store)


def test_readers_are_closed_when_never_iterated(
    vault: Vault, store: RecordingStore, document: tuple[bytes, SealedObject]
) -> None:
    _, sealed = document
    open_plaintext(vault, sealed, offset=10, length=10).close()
    assert len(store.opens) == 2
    assert _all_closed(store)


@pytest.mark.parametrize(
    ("bounds", "message"),
    [((-1, 10), "offset"), ((0, -1), "length"), ((MULTI + 1, None), "offset")],
    ids=["negative-offset", "negative-length", "offset-past-the-end"],
)
def test_an_invalid_range_is_refused_before_any_read(
    vault: Vault,
    store: RecordingStore,
    document: tuple[bytes, SealedObject],
    bounds: tuple[int, int | None],
    message: str,
) -> None:
    _, sealed = document
    offset, length = bounds
    with pytest.raises(ValueError, match=message):
        open_plaintext(vault, sealed, offset=offset, length=length)
    assert store.opens == []


def test_a_shredded_document_has_no_ranges(engine: Engine, vault: Vault) -> None:
    sealed = _seal(engine, vault, b"laissez-passer")
    with db.transaction(engine) as session:
        row = repository.get(session, sealed.id)
        assert row is not None
        shred(session, vault, row)
    with Session(engine) as session:
        row = repository.get(session, sealed.id)
        assert row is not None
        with pytest.raises(ContentShredded):
            open_plaintext(vault, row, offset=1, length=2)


def test_a_flipped_bit_in_the_range_releases_nothing_of_its_segment(
    engine: Engine, vault: Vault, store: RecordingStore
) -> None:
    plaintext = _plaintext(MULTI, seed=2)
    sealed = _seal(engine, vault, plaintext)
    _flip(store, sealed, _segment_start(2) + 100)
    released = bytearray()
    stream = open_plaintext(vault, sealed, offset=F + 10, length=S)  # segments 1 and 2
    with pytest.raises(IntegrityError):  # noqa: PT012 - counts what came out first
        for piece in stream:
            released += piece
    assert bytes(released) == plaintext[F + 10 : F + S]
    assert _all_closed(store)


def test_a_flipped_bit_in_the_commitment_fails_before_any_byte(
    engine: Engine, vault: Vault, store: RecordingStore
) -> None:
    sealed = _seal(engine, vault, _plaintext(MULTI, seed=3))
    _flip(store, sealed, 20 + 5)
    store.opens.clear()
    with pytest.raises(IntegrityError):
        open_plaintext(vault, sealed, offset=F, length=10)
    assert store.opens == [Opened(0, HEADER_SIZE, read=HEADER_SIZE, closed=True)]


def test_an_object_swapped_between_documents_fails_at_the_header(
    engine: Engine, vault: Vault, store: RecordingStore
) -> None:
    first = _seal(engine, vault, b"A" * 5000)
    second = _seal(engine, vault, b"B" * 5000)
    first.object_key = second.object_key
    store.opens.clear()
    with pytest.raises(IntegrityError):
        open_plaintext(vault, first, offset=100, length=10)
    assert len(store.opens) == 1
    assert _all_closed(store)


def test_a_truncated_object_fails_a_range_in_the_last_segment(
    engine: Engine, vault: Vault, store: RecordingStore
) -> None:
    sealed = _seal(engine, vault, _plaintext(MULTI, seed=4))
    path = store.path(sealed.object_key)
    path.write_bytes(path.read_bytes()[: _segment_start(3)])
    store.opens.clear()
    with pytest.raises(IntegrityError):
        open_plaintext(vault, sealed, offset=F + 2 * S + 10, length=5)
    assert store.opens == [Opened(0, HEADER_SIZE, closed=True)]


def test_an_object_truncated_between_the_two_reads_fails_before_any_byte(
    engine: Engine, vault: Vault, store: RecordingStore
) -> None:
    sealed = _seal(engine, vault, _plaintext(MULTI, seed=5))
    path = store.path(sealed.object_key)
    intact = path.read_bytes()
    store.opens.clear()

    def truncate_before_the_second_open(count: int, key: str) -> None:
        if count == 1:
            path.write_bytes(intact[: _segment_start(3)])

    store.before_open = truncate_before_the_second_open
    with pytest.raises(IntegrityError):
        open_plaintext(vault, sealed, offset=F + 2 * S + 10, length=5)
    assert [record.read for record in store.opens] == [HEADER_SIZE, 0]
    assert _all_closed(store)
