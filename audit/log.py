"""The append-only audit log in the database: appending events, and reading roots and proofs.

Appending happens inside the caller's transaction (:meth:`AuditLog.append`), so an event is
committed together with the change it records, or not at all; if the audit write fails, the
caller's transaction fails with it.

One order across every hub process
----------------------------------
``seq`` must be gap-free and agree with the tree, across every replica. The log therefore
serialises appends in the database, for as long as the appending transaction lasts:

* PostgreSQL: ``pg_advisory_xact_lock`` on a fixed key, released at commit or rollback. A head
  row locked with ``SELECT … FOR UPDATE`` would need UPDATE privilege on an audit table, which
  the hub's role does not have.
* SQLite: the hub opens every transaction with ``BEGIN IMMEDIATE`` (see :mod:`hub.core.db`), so a
  transaction that appends already holds the single writer lock.

Under the lock the log reads its head (the last ``seq`` and its leaf hash), appends, and
writes every perfect subtree the append completed to ``audit_node``. A process keeps the
frontier of the tree it last saw; it reuses it only when the head in the database is the one
it remembers, and otherwise rebuilds it from ``O(log n)`` stored nodes in one query.

Observing appends
-----------------
An :class:`AppendObserver`, if one is given, is told of every append: the event as recorded and
how long the append waited for the lock (:class:`AppendTiming`). The log itself measures
nothing more and knows nothing of what the observer does with it (the hub turns it into
metrics); the lock is held until the caller's transaction ends, which only the caller sees.

Proofs
------
Proof generation in :mod:`audit.merkle` asks for stored subtree hashes one at a time. Which ones
it asks for depends only on the sizes and indices, never on the hashes, so the log runs it
twice: once to learn the coordinates, once after fetching all of them in a single query.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import Connection, insert, select, text, tuple_
from sqlmodel import Session

from audit import merkle
from audit.events import Event, leaf_hash_of
from audit.models import AuditEvent, AuditNode

__all__ = ["AppendObserver", "AppendTiming", "AuditLog", "LogHead", "Recorded", "read_nodes"]

_LOCK_KEY: Final = int.from_bytes(
    hashlib.sha256(b"ketenhub.audit.append").digest()[:8], "big", signed=True
)
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_NODES = AuditNode.__table__  # type: ignore[attr-defined]
_ZERO: Final = bytes(32)
T = TypeVar("T")

Coordinates = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Recorded:
    """An appended event: its position, its stored leaf and the leaf's hash."""

    seq: int
    leaf: dict[str, Any]
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class AppendTiming:
    """How an append got the log's lock.

    ``waited`` is the time in seconds spent waiting for it, ``locked_at`` the
    :func:`time.perf_counter` reading when it was held: the lock lasts until the transaction
    ends, so whoever commits can tell how long it was held. On SQLite the writer lock was taken
    when the transaction began (``BEGIN IMMEDIATE``), so ``waited`` is near zero there.
    """

    waited: float
    locked_at: float


class AppendObserver(Protocol):
    """Told of every append, in the appending thread, before :meth:`AuditLog.append` returns.

    It must be quick and must not raise: an exception would fail the append, and so the
    caller's transaction.
    """

    def appended(self, session: Session, recorded: Recorded, timing: AppendTiming) -> None: ...


@dataclass(frozen=True, slots=True)
class LogHead:
    """The tree as it stands: its size and root hash."""

    size: int
    root: bytes


@dataclass(slots=True)
class _Frontier:
    size: int
    last_leaf: bytes | None
    accumulator: merkle.MerkleAccumulator


def serialise_appends(connection: Connection) -> None:
    """Take the log's append lock for the rest of the transaction (PostgreSQL), or rely on
    the writer lock the transaction already holds (SQLite, ``BEGIN IMMEDIATE``)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


class AuditLog:
    """Appends events to the log and reads it. One per process; thread-safe."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        observer: AppendObserver | None = None,
    ) -> None:
        self._clock = clock
        self._observer = observer
        self._guard = threading.Lock()
        self._frontier: _Frontier | None = None

    # -- writing ----------------------------------------------------------------------------

    def append(self, session: Session, event: Event) -> Recorded:
        """Append ``event`` in the session's transaction; flushes, never commits."""
        connection = session.connection()
        asked = time.perf_counter()
        serialise_appends(connection)
        locked = time.perf_counter()
        head = connection.execute(
            select(_EVENTS.c.seq, _EVENTS.c.leaf_hash).order_by(_EVENTS.c.seq.desc()).limit(1)
        ).first()
        size, last = (0, None) if head is None else (head.seq + 1, bytes(head.leaf_hash))
        accumulator = self._accumulator(connection, size, last)
        leaf = event.leaf(seq=size, time=self._clock())
        digest = leaf_hash_of(leaf)
        completed = accumulator.append(digest)
        connection.execute(insert(_EVENTS), [{**leaf, "leaf_hash": digest}])
        nodes = [{"level": n.level, "idx": n.index, "hash": n.digest} for n in completed[1:]]
        if nodes:
            connection.execute(insert(_NODES), nodes)
        with self._guard:
            self._frontier = _Frontier(size + 1, digest, accumulator)
        recorded = Recorded(size, leaf, digest)
        if self._observer is not None:
            self._observer.appended(session, recorded, AppendTiming(locked - asked, locked))
        return recorded

    def _accumulator(
        self, connection: Connection, size: int, last: bytes | None
    ) -> merkle.MerkleAccumulator:
        with self._guard:
            cached = self._frontier
        if cached is not None and cached.size == size and cached.last_leaf == last:
            return cached.accumulator.copy()
        return resume(connection, size)

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def size(connection: Connection) -> int:
        last = connection.execute(select(_EVENTS.c.seq).order_by(_EVENTS.c.seq.desc()).limit(1))
        seq = last.scalar()
        return 0 if seq is None else int(seq) + 1

    @classmethod
    def head(cls, connection: Connection) -> LogHead:
        size = cls.size(connection)
        return LogHead(size, root_at(connection, size))


def resume(connection: Connection, size: int) -> merkle.MerkleAccumulator:
    """The accumulator for a tree of ``size`` leaves, from ``O(log size)`` stored nodes."""
    return _batched(connection, lambda node: merkle.MerkleAccumulator.resume(size, node))


def root_at(connection: Connection, size: int) -> bytes:
    """The root hash of the tree of the first ``size`` events."""
    if size == 0:
        return merkle.empty_root()
    return _batched(connection, lambda node: merkle.subtree_root(0, size, node))


def inclusion_proof(connection: Connection, seq: int, size: int) -> list[bytes]:
    return _batched(connection, lambda node: merkle.inclusion_proof(seq, size, node))


def consistency_proof(connection: Connection, size1: int, size2: int) -> list[bytes]:
    return _batched(connection, lambda node: merkle.consistency_proof(size1, size2, node))


def _batched(connection: Connection, run: Callable[[merkle.NodeReader], T]) -> T:
    """Run a proof generator twice: once to learn which nodes it reads, then on one fetch."""
    wanted: list[Coordinates] = []

    def record(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return _ZERO

    run(record)
    found = read_nodes(connection, wanted)

    def node(level: int, index: int) -> bytes:
        try:
            return found[level, index]
        except KeyError:
            raise LookupError(f"the audit log has no tree node ({level}, {index})") from None

    return run(node)


def read_nodes(
    connection: Connection, coordinates: Iterable[Coordinates]
) -> dict[Coordinates, bytes]:
    """Stored subtree hashes: level 0 from the events' leaf hashes, the rest from the nodes."""
    leaves = sorted({index for level, index in coordinates if level == 0})
    inner = sorted({(level, index) for level, index in coordinates if level > 0})
    found: dict[Coordinates, bytes] = {}
    if leaves:
        rows = connection.execute(
            select(_EVENTS.c.seq, _EVENTS.c.leaf_hash).where(_EVENTS.c.seq.in_(leaves))
        )
        found.update(((0, row.seq), bytes(row.leaf_hash)) for row in rows)
    if inner:
        rows = connection.execute(
            select(_NODES.c.level, _NODES.c.idx, _NODES.c.hash).where(
                tuple_(_NODES.c.level, _NODES.c.idx).in_(inner)
            )
        )
        found.update(((row.level, row.idx), bytes(row.hash)) for row in rows)
    return found
