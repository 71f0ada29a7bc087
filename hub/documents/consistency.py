"""Comparing the object store with the database: orphan objects and rows without objects.

The mechanism behind ``ketenhub storage check`` and ``sweep`` (:mod:`hub.cli.documents`,
whose docstring explains the scale and race rules): the queries on ``sealed_object``, the
streamed scan of the store's listing, and the report they produce.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable

from sqlalchemy import ColumnElement, Engine, func
from sqlmodel import Session, col, select

from hub.core import db
from hub.tables.uploads import UploadPart
from hub.tables.vault import SealedObject
from storage.objects import ObjectInfo, ObjectStore

BATCH: Final = 500
"""Keys per database query: well below every driver's limit on bound parameters."""
KEYS_PER_PASS: Final = 1_000_000
"""Live rows held in memory at once by ``check`` (see the module docstring)."""
DEFAULT_GRACE: Final = 3600.0
MAX_GRACE: Final = 100 * 365 * 86_400.0
SHOWN: Final = 20
"""Findings of each kind that ``check`` prints; the rest are counted."""
_KEY_SPACE: Final = 16**32


@dataclass(frozen=True, slots=True)
class Orphan:
    """An object no live row needs: ``shredded`` when its row is a shredded document's,
    otherwise there is no row at all."""

    info: ObjectInfo
    shredded: bool


@dataclass(frozen=True, slots=True)
class MissingObject:
    """A live row whose object is not in the store: that document cannot be read any more."""

    object_key: str
    document_id: uuid.UUID
    version: int
    created_at: datetime


@dataclass(slots=True)
class Consistency:
    """What ``check`` found. Totals are exact; only the first :data:`SHOWN` of each kind are
    kept for printing."""

    live_rows: int
    passes: int
    objects: int = 0
    object_bytes: int = 0
    orphans: int = 0
    orphan_bytes: int = 0
    oldest_orphan: datetime | None = None
    missing: int = 0
    orphan_samples: list[Orphan] = field(default_factory=list)
    missing_samples: list[MissingObject] = field(default_factory=list)

    def add_orphans(self, orphans: Iterable[Orphan]) -> None:
        for orphan in orphans:
            self.orphans += 1
            self.orphan_bytes += orphan.info.size
            if self.oldest_orphan is None or orphan.info.modified < self.oldest_orphan:
                self.oldest_orphan = orphan.info.modified
            if len(self.orphan_samples) < SHOWN:
                self.orphan_samples.append(orphan)

    def add_missing(self, missing: Iterable[MissingObject]) -> None:
        for row in missing:
            self.missing += 1
            if len(self.missing_samples) < SHOWN:
                self.missing_samples.append(row)


# -- queries ----------------------------------------------------------------------------------
# Each is its own short read-only transaction (deferred on SQLite, so no writer lock is held
# while the store is listed), and therefore sees what was committed just before it.


def _reading(engine: Engine) -> Session:
    return Session(db.read_only(engine))


def _is_live() -> ColumnElement[bool]:
    return col(SealedObject.wrapped_dek).is_not(None)


def count_live_rows(engine: Engine) -> int:
    with _reading(engine) as session:
        return session.exec(select(func.count()).where(_is_live())).one()


def live_keys(engine: Engine, *, low: str, high: str | None, batch: int = BATCH) -> set[bytes]:
    """Object keys (as 16 raw bytes) of the live rows with ``low <= key < high``.

    Keys are fixed-width lowercase hex, which every collation orders as Python does.
    """
    key_column = col(SealedObject.object_key)
    keys: set[bytes] = set()
    last: str | None = None
    while True:
        statement = (
            select(SealedObject.object_key)
            .where(_is_live(), key_column >= low)
            .order_by(key_column)
            .limit(batch)
        )
        if high is not None:
            statement = statement.where(key_column < high)
        if last is not None:
            statement = statement.where(key_column > last)
        with _reading(engine) as session:
            page = session.exec(statement).all()
        keys.update(bytes.fromhex(key) for key in page)
        if len(page) < batch:
            return keys
        last = page[-1]


def shredded_by_key(engine: Engine, keys: Sequence[str]) -> dict[str, bool]:
    """For each key that has a row: whether that row is shredded. Keys without one are absent."""
    if not keys:
        return {}
    statement = select(SealedObject.object_key, col(SealedObject.wrapped_dek).is_(None)).where(
        col(SealedObject.object_key).in_(keys)
    )
    with _reading(engine) as session:
        return {key: bool(shredded) for key, shredded in session.exec(statement).all()}


def still_live(engine: Engine, keys: Sequence[str]) -> list[MissingObject]:
    """The rows of ``keys`` that are live now, oldest first."""
    if not keys:
        return []
    statement = (
        select(SealedObject)
        .where(col(SealedObject.object_key).in_(keys), _is_live())
        .order_by(col(SealedObject.created_at))
    )
    with _reading(engine) as session:
        return [
            MissingObject(row.object_key, row.document_id, row.version, db.as_utc(row.created_at))
            for row in session.exec(statement).all()
        ]


# -- scanning ---------------------------------------------------------------------------------


def upload_parts(engine: Engine, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are parts of a resumable upload in progress (:mod:`hub.uploads`):
    objects without a ``sealed_object`` row that are nevertheless needed."""
    if not keys:
        return set()
    statement = select(UploadPart.object_key).where(col(UploadPart.object_key).in_(keys))
    with _reading(engine) as session:
        return set(session.exec(statement).all())


def _orphans_among(engine: Engine, infos: Sequence[ObjectInfo]) -> Iterator[Orphan]:
    rows = shredded_by_key(engine, [info.key for info in infos])
    parts = upload_parts(engine, [info.key for info in infos if info.key not in rows])
    for info in infos:
        shredded = rows.get(info.key)
        if info.key in parts:
            continue  # an unfinished upload's part: its row is in upload_part
        if shredded is None or shredded:
            yield Orphan(info, shredded=shredded is not None)


def _batched(infos: Iterable[ObjectInfo], size: int) -> Iterator[list[ObjectInfo]]:
    batch: list[ObjectInfo] = []
    for info in infos:
        batch.append(info)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def iter_orphans(engine: Engine, store: ObjectStore, *, batch: int = BATCH) -> Iterator[Orphan]:
    """Every orphan in the store, found a batch of keys at a time; memory is one batch."""
    for infos in _batched(store.iter_objects(), batch):
        yield from _orphans_among(engine, infos)


def key_ranges(passes: int) -> list[tuple[str, str | None]]:
    """``passes`` equal ranges ``[low, high)`` of the key space; the last one is open."""
    bounds = [format(i * _KEY_SPACE // passes, "032x") for i in range(passes)]
    return [(low, bounds[i + 1] if i + 1 < passes else None) for i, low in enumerate(bounds)]


def check_store(
    engine: Engine,
    store: ObjectStore,
    *,
    keys_per_pass: int = KEYS_PER_PASS,
    batch: int = BATCH,
) -> Consistency:
    """Compare the store with the ``sealed_object`` table (see the module docstring)."""
    live_rows = count_live_rows(engine)
    report = Consistency(live_rows=live_rows, passes=max(1, math.ceil(live_rows / keys_per_pass)))
    for low, high in key_ranges(report.passes):
        live = live_keys(engine, low=low, high=high, batch=batch)
        in_range = (
            info
            for info in store.iter_objects()
            if low <= info.key and (high is None or info.key < high)
        )
        for infos in _batched(in_range, batch):
            unknown = []
            for info in infos:
                report.objects += 1
                report.object_bytes += info.size
                key = bytes.fromhex(info.key)
                if key in live:
                    live.remove(key)
                else:
                    unknown.append(info)
            report.add_orphans(_orphans_among(engine, unknown))
        unmatched = iter(live)
        while keys := [key.hex() for key in itertools.islice(unmatched, batch)]:
            report.add_missing(still_live(engine, keys))
    return report


@runtime_checkable
class IncompleteSweeper(Protocol):
    """Both object stores can remove what interrupted writes left (temp files, multipart
    uploads); the :class:`~storage.objects.ObjectStore` protocol does not promise it."""

    def sweep_incomplete(
        self, *, older_than: timedelta = ..., now: datetime | None = None
    ) -> int: ...
