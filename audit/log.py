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

What happens under the lock
---------------------------
The lock is held until the appending transaction commits, so every append waits for everything
every earlier append did under it; that, and the commit's fsync, bound the whole hub's rate of
events. The log therefore does under the lock only what needs ``seq``:

* Before the lock: the leaf's canonical bytes and the hash of everything sorted before
  ``"seq"`` (:meth:`audit.events.Event.prepare`).
* One statement writes: a process keeps the frontier of the tree it last wrote (its size and
  last leaf hash). It computes the leaf hash and the completed subtrees for the next ``seq``
  from that frontier and writes the event and all those nodes in one statement, on condition
  that the log's head in the database is still the one it remembers (its newest ``seq`` is
  the one before, with the remembered leaf hash). On PostgreSQL that is one
  ``INSERT … SELECT … WHERE`` with the nodes' multi-row ``INSERT`` in a data-modifying
  ``WITH``; on SQLite, in process, two statements after ``BEGIN IMMEDIATE``.
* On PostgreSQL that write is computed *before* the lock is granted and sent with the lock
  statement in one round trip (psycopg's pipeline mode; two statements, so the write's
  snapshot is taken after the lock was granted and sees every append committed before it).
  The database runs the write the moment it grants the lock, with no round trip to this
  process and no wait for its GIL in between. For the remembered frontier to be the head,
  one append of a process at a time computes and sends (``_sequencer``), and lets the next
  one in once its write has returned; the next one's lock then waits in the database for the
  previous one's commit. A transaction that holds the lock already (it appended before)
  appends without waiting for that turn, since the append holding the turn waits for its
  lock. (Without the turn, 55 to 74% of the appends at 8 and 32 writers in one process
  found the head not where they predicted: the database grants the lock in its own order.)
* Only when the condition fails (another process appended, an append of this process was
  rolled back, or it has not appended yet) does the log, now holding the lock, read its head
  and rebuild the frontier from ``O(log n)`` stored nodes in one query (unless it is one this
  process wrote recently), and write onto it. :attr:`AuditLog.rereads` counts those appends.
* On PostgreSQL these statements run on the driver's (psycopg's) cursor, in the session's
  transaction, not through SQLAlchemy's execution machinery: every bit of Python that runs
  while the lock is held holds it longer for every append in every process.

The statement that writes sees everything committed before the lock was granted (PostgreSQL
takes a new snapshot per statement under READ COMMITTED, and a transaction is visible before
it releases its locks), so the condition is checked against the true head.

Observing appends
-----------------
An :class:`AppendObserver`, if one is given, is told of every append: the event as recorded and
how long the append waited for the lock (:class:`AppendTiming`; on PostgreSQL the moment the
lock was granted is read from the server's clock, as the client only sees the write return;
the wait includes the wait for the process's turn). The log itself measures nothing more and
knows nothing of what the observer does with it (the hub turns it into metrics); the lock is
held until the caller's transaction ends, which only the caller sees.

Proofs
------
Proof generation in :mod:`audit.merkle` asks for stored subtree hashes one at a time. Which ones
it asks for depends only on the sizes and indices, never on the hashes, so the log runs it
twice: once to learn the coordinates, once after fetching all of them in a single query.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import Connection, select, tuple_
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from audit import merkle
from audit.events import Event, PreparedLeaf, format_time
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


@contextlib.contextmanager
def _driver_errors(connection: Connection) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's, as if the statements had gone through it: callers
    handle :class:`sqlalchemy.exc.SQLAlchemyError` (a failed audit write fails the request
    with a 503), and a lost connection is invalidated, not returned to the pool."""
    base = connection.dialect.loaded_dbapi.Error
    try:
        yield
    except base as exc:
        raw = connection.connection.dbapi_connection
        lost = connection.dialect.is_disconnect(exc, raw, None)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, base, hide_parameters=True, connection_invalidated=lost
        ) from exc


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
        self._sequencer = threading.Lock()
        """Held by the one append of this process that is sending the lock and its write."""
        self._tip: _Frontier | None = None
        """The frontier after this process's newest append."""
        self._recent: dict[tuple[int, bytes | None], _Frontier] = {}
        self._rereads = 0

    # -- writing ----------------------------------------------------------------------------

    def append(self, session: Session, event: Event) -> Recorded:
        """Append ``event`` in the session's transaction; flushes, never commits."""
        prepared = event.prepare()
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            with _driver_errors(connection):
                recorded, timing = self._append_postgres(session, connection, prepared)
        else:
            recorded, timing = self._append_sqlite(connection, prepared)
        if self._observer is not None:
            self._observer.appended(session, recorded, timing)
        return recorded

    @property
    def rereads(self) -> int:
        """How many appends of this log found the database's head was not the one predicted,
        and read it under the lock (another process appended, or an append was rolled back)."""
        return self._rereads

    def _append_postgres(
        self, session: Session, connection: Connection, prepared: PreparedLeaf
    ) -> tuple[Recorded, AppendTiming]:
        """One append of this process at a time computes its write from the frontier the one
        before it wrote and sends the lock and the write together, then lets the next one in;
        so the write runs as soon as the database grants the lock, without a round trip to
        this process. A transaction that holds the lock already (it appended before) appends
        without waiting for the others: they wait for its lock."""
        raw: Any = connection.connection.driver_connection  # psycopg.Connection
        transaction = session.get_transaction()
        if transaction is not None and session.info.get(_LOCKED_BY) is transaction:
            return self._append_locked(connection, raw, prepared)
        asked = time.perf_counter()
        with self._sequencer:
            with self._guard:
                tip = self._tip
                planned = None if tip is None else self._plan(prepared, tip)
            if planned is None or tip is None:
                result = self._append_locked(connection, raw, prepared)
            else:
                written, locked = _pg_lock_and_write(raw, *planned[2:], tip, asked)
                if written:
                    with self._guard:
                        self._tip = self._remember(planned[1])
                    result = planned[0], AppendTiming(locked - asked, locked)
                else:  # the lock is held: read the head, write onto it
                    with raw.cursor() as cursor:
                        recorded = self._write_on_head(connection, cursor, prepared)
                    result = recorded, AppendTiming(locked - asked, locked)
        session.info[_LOCKED_BY] = transaction
        return result

    def _append_locked(
        self, connection: Connection, raw: Any, prepared: PreparedLeaf
    ) -> tuple[Recorded, AppendTiming]:
        """The lock, then one write onto the frontier this process wrote last; the head is
        read under the lock only when that write's condition fails."""
        asked = time.perf_counter()
        with raw.cursor() as cursor:
            cursor.execute(_LOCK_SQL_PLAIN, (_LOCK_KEY,))
            locked = time.perf_counter()
            with self._guard:
                tip = self._tip
                planned = None if tip is None else self._plan(prepared, tip)
            if planned is None or tip is None or not _pg_write(cursor, *planned[2:], tip):
                return self._write_on_head(connection, cursor, prepared), AppendTiming(
                    locked - asked, locked
                )
        with self._guard:
            self._tip = self._remember(planned[1])
        return planned[0], AppendTiming(locked - asked, locked)

    def _write_on_head(
        self, connection: Connection, cursor: Any, prepared: PreparedLeaf
    ) -> Recorded:
        """Read the head and write onto it; the lock is held."""
        head = self._pg_head(connection, cursor)
        with self._guard:
            recorded, after, row, nodes = self._plan(prepared, head)
            self._rereads += 1
        if not _pg_write(cursor, row, nodes, head, checked=True):  # pragma: no cover - locked
            raise RuntimeError("the audit log's head changed under its lock")
        with self._guard:
            self._tip = self._remember(after)
        return recorded

    def _append_sqlite(
        self, connection: Connection, prepared: PreparedLeaf
    ) -> tuple[Recorded, AppendTiming]:
        """The writer lock is the transaction's (``BEGIN IMMEDIATE``): the frontier this
        process wrote last, and the head read only when the write's condition fails."""
        locked = time.perf_counter()
        with self._guard:
            cached = self._tip
        written = None
        if cached is not None:
            written = self._write(connection, prepared, cached, checked=False)
        if written is None:
            written = self._write(connection, prepared, self._head(connection), checked=True)
            if written is None:  # pragma: no cover - the head was read under the lock
                raise RuntimeError("the audit log's head changed under its lock")
            with self._guard:
                self._rereads += 1
        recorded, frontier = written
        with self._guard:
            self._tip = self._remember(frontier)
        return recorded, AppendTiming(0.0, locked)

    def _plan(
        self, prepared: PreparedLeaf, frontier: _Frontier
    ) -> tuple[Recorded, _Frontier, dict[str, Any], list[merkle.TreeNode]]:
        """The next event onto ``frontier``, with the time read now: what is recorded, the
        frontier after it, its row and the nodes it completes."""
        seq = frontier.size
        moment = format_time(self._clock())
        leaf = prepared.leaf(seq=seq, time=moment)
        digest = prepared.leaf_hash(seq=seq, time=moment)
        accumulator = frontier.accumulator.copy()
        nodes = accumulator.append(digest)[1:]  # level 0 is the event's own leaf_hash
        row = {**leaf, "leaf_hash": digest}
        return Recorded(seq, leaf, digest), _Frontier(seq + 1, digest, accumulator), row, nodes

    def _remember(self, frontier: _Frontier) -> _Frontier:
        """Keep ``frontier`` among the recent ones (under the guard), so a head read under
        the lock finds its accumulator without reading nodes."""
        self._recent[frontier.size, frontier.last_leaf] = frontier
        while len(self._recent) > _RECENT:
            del self._recent[next(iter(self._recent))]
        return frontier

    def _known(self, size: int, last: bytes | None) -> _Frontier | None:
        with self._guard:
            return self._recent.get((size, last))

    def _pg_head(self, connection: Connection, cursor: Any) -> _Frontier:
        """The frontier of the tree as the database holds it (under the lock)."""
        head = cursor.execute(_HEAD_SQL).fetchone()
        size, last = (0, None) if head is None else (head[0] + 1, bytes(head[1]))
        known = self._known(size, last)
        return known if known is not None else _Frontier(size, last, resume(connection, size))

    def _head(self, connection: Connection) -> _Frontier:
        """The frontier of the tree as the database holds it (under the lock)."""
        head = connection.execute(
            select(_EVENTS.c.seq, _EVENTS.c.leaf_hash).order_by(_EVENTS.c.seq.desc()).limit(1)
        ).first()
        size, last = (0, None) if head is None else (head.seq + 1, bytes(head.leaf_hash))
        known = self._known(size, last)
        return known if known is not None else _Frontier(size, last, resume(connection, size))

    def _write(
        self, connection: Connection, prepared: PreparedLeaf, frontier: _Frontier, *, checked: bool
    ) -> tuple[Recorded, _Frontier] | None:
        """Write the next event onto ``frontier`` (SQLite); ``None`` if the database's head
        is not ``frontier`` (nothing written then). ``checked``: the head was just read under
        the lock, so the condition is known to hold."""
        with self._guard:
            recorded, after, row, nodes = self._plan(prepared, frontier)
        if not _insert(connection, row, nodes, frontier, checked=checked):
            return None
        return recorded, after

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


def _insert(
    connection: Connection,
    row: dict[str, Any],
    nodes: list[merkle.TreeNode],
    frontier: _Frontier,
    *,
    checked: bool,
) -> bool:
    """Insert the event ``row`` and its completed ``nodes`` if the log's head is ``frontier``
    (always, if ``checked``), on SQLite; whether they were inserted."""
    guard = _NO_GUARD if checked else _AFTER_EMPTY if frontier.size == 0 else _AFTER_LAST
    event, nodes_sql = _statements(connection.dialect.name, tuple(row), guard, len(nodes))
    values: list[Any] = list(row.values())
    if guard == _AFTER_LAST:
        values += [frontier.size - 1, frontier.size - 1, frontier.last_leaf]
    inserted = connection.exec_driver_sql(event, tuple(values)).rowcount == 1
    if inserted and nodes_sql:
        node_values = [part for n in nodes for part in (n.level, n.index, n.digest)]
        connection.exec_driver_sql(nodes_sql, tuple(node_values))
    return inserted


_NO_GUARD, _AFTER_EMPTY, _AFTER_LAST = 0, 1, 2
_RECENT: Final = 64
"""Frontiers a log remembers by (size, last leaf hash): those it predicted or wrote last."""

# On PostgreSQL the statements under the lock run on the driver's (psycopg's) cursor, in the
# session's transaction, without SQLAlchemy's execution machinery: each return from the
# database under the lock waits for a core and the GIL, and whatever Python runs then holds
# the lock longer for every other append, in every process.
_LOCK_SQL_PLAIN: Final = "SELECT pg_advisory_xact_lock(%s)"
_LOCK_SQL: Final = (  # the time is read FROM the function's result, so after the lock is held
    "SELECT extract(epoch FROM clock_timestamp())::float8 FROM pg_advisory_xact_lock(%s)"
)
_LOCKED_BY: Final = "audit.log.locked_by"
"""The key in ``session.info`` of the transaction that last took the lock in that session."""


def _locked_at(server_epoch: float, asked: float) -> float:
    """The :func:`time.perf_counter` reading when the server granted the lock, by the server's
    clock; a server on another host may have another clock, so it is kept between the request
    and now."""
    now = time.perf_counter()
    return min(now, max(asked, now - (time.time() - server_epoch)))


def _pg_lock_and_write(
    raw: Any, row: dict[str, Any], nodes: list[merkle.TreeNode], frontier: _Frontier, asked: float
) -> tuple[bool, float]:
    """The lock and the write onto ``frontier`` in one round trip (psycopg's pipeline mode).
    They are two statements, so the write's snapshot is taken after the lock was granted and
    sees every append committed before. Whether the event was written (if not, the lock is
    held all the same), and when the lock was granted."""
    statement, values = _pg_statement(row, nodes, frontier, checked=False)
    with raw.cursor() as lock, raw.cursor() as write:
        with raw.pipeline():
            lock.execute(_LOCK_SQL, (_LOCK_KEY,))
            write.execute(statement, values)
        (epoch,) = lock.fetchone()
        (written,) = write.fetchone()
    return bool(written), _locked_at(epoch, asked)


_HEAD_SQL: Final = "SELECT seq, leaf_hash FROM audit_event ORDER BY seq DESC LIMIT 1"


def _pg_write(
    cursor: Any,
    row: dict[str, Any],
    nodes: list[merkle.TreeNode],
    frontier: _Frontier,
    *,
    checked: bool = False,
) -> bool:
    """Write onto ``frontier``, the lock held; whether written (the head was ``frontier``)."""
    statement, values = _pg_statement(row, nodes, frontier, checked=checked)
    (written,) = cursor.execute(statement, values).fetchone()
    return bool(written)


def _pg_statement(
    row: dict[str, Any], nodes: list[merkle.TreeNode], frontier: _Frontier, *, checked: bool
) -> tuple[str, tuple[Any, ...]]:
    guard = _NO_GUARD if checked else _AFTER_EMPTY if frontier.size == 0 else _AFTER_LAST
    statement, _ = _statements("postgresql", tuple(row), guard, len(nodes))
    values: list[Any] = list(row.values())
    if guard == _AFTER_LAST:
        values += [frontier.size - 1, frontier.size - 1, frontier.last_leaf]
    values += [part for n in nodes for part in (n.level, n.index, n.digest)]
    return statement, tuple(values)


# Every statement below is put together from the log's own column names and placeholders
# (never from input, which goes in as parameters only), hence the S608 exemptions.


@functools.lru_cache(maxsize=256)
def _statements(
    dialect: str, columns: tuple[str, ...], guard: int, nodes: int
) -> tuple[str, str | None]:
    """The SQL that writes an event with these columns and ``nodes`` tree nodes, on the
    condition ``guard``: on PostgreSQL one statement (and ``None``), on SQLite the event's and
    the nodes' (``None`` without nodes)."""
    postgres = dialect == "postgresql"
    mark = "%s" if postgres else "?"
    condition = ""
    # After the lock: the newest event is still the one remembered. The newest seq is read as
    # max(seq), which the primary key answers from its last entry whatever the plan; a range
    # condition on seq can get a generic plan that scans the whole table.
    if guard == _AFTER_EMPTY:
        condition = " WHERE NOT EXISTS (SELECT 1 FROM audit_event)"
    elif guard == _AFTER_LAST:
        condition = (
            f" WHERE (SELECT max(seq) FROM audit_event) = {mark}"  # noqa: S608
            f" AND EXISTS (SELECT 1 FROM audit_event WHERE seq = {mark} AND leaf_hash = {mark})"
        )
    values = ", ".join([mark] * len(columns))
    event = f"INSERT INTO audit_event ({', '.join(columns)}) SELECT {values}{condition}"
    if not postgres:
        rows = ", ".join(["(?, ?, ?)"] * nodes)
        nodes_sql = f"INSERT INTO audit_node (level, idx, hash) VALUES {rows}"  # noqa: S608
        return event, nodes_sql if nodes else None
    # One statement: the nodes' INSERT reads the event's RETURNING, so it inserts nothing when
    # the event was not inserted.
    written = f"WITH e AS ({event} RETURNING seq)"
    if nodes:
        rows = ", ".join(["(%s::smallint, %s::bigint, %s::bytea)"] * nodes)
        written += (
            ", n AS (INSERT INTO audit_node (level, idx, hash)"  # noqa: S608
            f" SELECT v.level, v.idx, v.hash FROM (VALUES {rows}) AS v(level, idx, hash), e)"
        )
    return f"{written} SELECT count(*) FROM e", None  # noqa: S608


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
