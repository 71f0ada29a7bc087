"""``audit verify``: recompute the whole log from its stored events and check every claim.

What is checked, in this order:

1. **Events.** They are read in ``seq`` order; ``seq`` must run 0, 1, 2 … without a gap, and
   each event's leaf, rebuilt from its columns, must hash to its stored ``leaf_hash``. An edited,
   deleted, inserted or reordered row fails here, naming its ``seq``.
2. **Tree.** The tree is rebuilt level by level from the recomputed leaf hashes, and every stored
   node must equal its recomputed twin; none may be missing or extra. A row whose columns *and*
   stored hash were both rewritten fails here, naming the first ``seq`` under the first node
   that no longer matches.
3. **Checkpoints.** Each signed checkpoint must carry a valid signature by an audit key, agree
   with its row, not be larger than the log, and have the root of the recomputed tree at its
   size; consecutive checkpoints must be consistent (an RFC 6962 consistency proof from the
   recomputed tree verifies against both signed roots).
4. **Witness.** Optionally, a checkpoint the caller kept outside the database: its size (the
   log may not have shrunk below it) and its root. Its signature is checked first, before the
   log is read: a note that does not verify with the audit keys raises :class:`WitnessError`,
   since it says nothing about the log (a forged or damaged file, or another log's).

Deleting the newest events together with every checkpoint that covers them leaves a log that
is consistent with itself; only a checkpoint kept outside the database (step 4) catches it.

The verifier reads each table once, in order, and holds only hashes in memory: 32 bytes per
event and per node.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Connection, select

from audit import merkle
from audit.checkpoints import open_any
from audit.events import LEAF_FIELDS
from audit.models import AuditCheckpoint
from audit.notes import Checkpoint, NoteError, NoteVerifier

__all__ = ["Problem", "Report", "WitnessError", "verify_log"]

_CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_BATCH: Final = 10_000
_NODES_SQL: Final = "SELECT level, idx, hash FROM audit_node ORDER BY level, idx"
_NODE_PREFIX: Final = b"\x01"
_LEAF_PREFIX: Final = b"\x00"
_encode_ordered = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
).encode


class WitnessError(ValueError):
    """The witness's checkpoint is not a checkpoint signed by one of the log's audit keys."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that does not hold; ``seq`` is the first event it puts in doubt."""

    seq: int
    message: str


@dataclass(slots=True)
class Report:
    events: int = 0
    nodes: int = 0
    checkpoints: int = 0
    witness_size: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        return min((p.seq for p in self.problems), default=None)

    def add(self, seq: int, message: str) -> None:
        self.problems.append(Problem(seq, message))

    def explains(self, size: int) -> bool:
        """Whether a problem already named puts an event among the first ``size`` in doubt."""
        return any(p.seq < size for p in self.problems)


def verify_log(
    connection: Connection,
    verifiers: Sequence[NoteVerifier],
    *,
    witness: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check the log as stored; ``witness`` is a checkpoint note the caller kept.

    ``progress``, when given, is called with the number of events read so far after each batch
    of events (the console's background verification writes it down as it goes).

    Raises :class:`WitnessError`, before reading the log, when ``witness`` does not verify.

    The three tables are read one after the other, so they must be read in one snapshot:
    otherwise events appended meanwhile look like damage (a node or checkpoint over events
    that "do not exist"). On PostgreSQL the transaction must be REPEATABLE READ or
    SERIALIZABLE; SQLite's read transactions are snapshots already.
    """
    if connection.dialect.name == "postgresql":
        level = connection.exec_driver_sql("SHOW transaction_isolation").scalar()
        if level not in ("repeatable read", "serializable"):
            raise ValueError(f"verify_log needs a snapshot, not a {level} transaction")
    kept = None
    if witness is not None:
        try:
            kept = open_any(witness, verifiers)
        except (NoteError, merkle.VerificationError) as exc:
            raise WitnessError(str(exc)) from exc
    report = Report()
    leaves = _check_events(connection, report, progress)
    levels = _check_tree(connection, leaves, report)
    _check_checkpoints(connection, levels, verifiers, report)
    if kept is not None:
        _check_witness(kept, levels, report)
    report.problems.sort(key=lambda p: p.seq)
    return report


# -- 1. events ---------------------------------------------------------------------------------


def _rows(connection: Connection, statement: Any) -> Iterator[Any]:
    result = connection.execution_options(stream_results=True, yield_per=_BATCH).execute(statement)
    yield from result


def _raw_batches(connection: Connection, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    """Row batches straight from the driver, fetched one batch ahead in a thread.

    The driver waits for the database without holding the GIL, so fetching the next batch
    overlaps hashing this one; SQLAlchemy's row objects would cost more than the hashing.
    """
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None  # noqa: S101 - a connection in use has its DBAPI connection
    if connection.dialect.name == "postgresql":
        cursor = dbapi.cursor(name="ketenhub_audit_verify")  # server-side: constant memory
    else:
        cursor = dbapi.cursor()
    batches: queue.Queue[list[tuple[Any, ...]] | BaseException] = queue.Queue(maxsize=2)

    def fetch() -> None:
        try:
            cursor.execute(sql)
            while batch := cursor.fetchmany(_BATCH):
                batches.put(list(batch))
            batches.put([])
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            batches.put(exc)

    worker = threading.Thread(target=fetch, name="audit-verify-fetch", daemon=True)
    worker.start()
    try:
        while True:
            batch = batches.get()
            if isinstance(batch, BaseException):
                raise batch
            if not batch:
                return
            yield batch
    finally:
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.1)
        worker.join()
        cursor.close()


def _check_events(
    connection: Connection, report: Report, progress: Callable[[int], None] | None = None
) -> list[bytes]:
    # The leaf's members in JCS order (all names are ASCII, so code-point order is UTF-16
    # order); a dict built in that order is encoded by the C encoder exactly as JCS requires.
    names = sorted(LEAF_FIELDS)
    seq_at = names.index("seq")
    columns = ", ".join(names)
    sql = f"SELECT {columns}, leaf_hash FROM audit_event ORDER BY seq"  # noqa: S608 - constant
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    broken = False
    for batch in _raw_batches(connection, sql):
        for row in batch:
            expected = len(leaves)
            seq = row[seq_at]
            if seq != expected and not broken:
                report.add(
                    expected, f"seq {expected} is missing: the next stored event is seq {seq}"
                )
                broken = True
            leaf = {n: v for n, v in zip(names, row, strict=False) if v is not None}
            try:
                digest = sha256(_LEAF_PREFIX + _encode_ordered(leaf).encode("utf-8")).digest()
            except (TypeError, ValueError):
                digest = b""  # not a leaf any JCS encoder could have produced: a mismatch
            stored = bytes(row[-1])
            if digest != stored and not broken:
                report.add(
                    seq,
                    f"seq {seq}: the stored event does not hash to its leaf hash "
                    f"(stored {stored.hex()}, recomputed {digest.hex() or 'none: not JSON'})",
                )
                broken = True
            leaves.append(digest)
        if progress is not None:
            progress(len(leaves))
    report.events = len(leaves)
    return leaves


# -- 2. tree -----------------------------------------------------------------------------------


def _check_tree(connection: Connection, leaves: list[bytes], report: Report) -> list[list[bytes]]:
    levels = [leaves]
    sha256 = hashlib.sha256
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(
            [
                sha256(_NODE_PREFIX + below[i] + below[i + 1]).digest()
                for i in range(0, len(below) - 1, 2)
            ]
        )
    # Report only the deepest disagreements: a node whose child already disagrees, or that
    # covers an event the event check already flagged, adds nothing but noise (every ancestor
    # of one bad leaf disagrees too), and would name too early a seq.
    flagged = report.first_bad_seq
    bad: set[tuple[int, int]] = set()
    seen = [0] * len(levels)

    def flag(level: int, index: int, message: str) -> None:
        bad.add((level, index))
        first, last = index << level, ((index + 1) << level) - 1
        implied = (level - 1, 2 * index) in bad or (level - 1, 2 * index + 1) in bad
        if not implied and (flagged is None or last < flagged):
            report.add(first, f"tree node ({level}, {index}) over seq {first}..{last} {message}")

    rows = (row for batch in _raw_batches(connection, _NODES_SQL) for row in batch)
    for level, index, digest in rows:
        report.nodes += 1
        if level >= len(levels) or index >= len(levels[level]):
            flag(level, index, "covers events that do not exist")
            continue
        for missing in range(seen[level], index):
            flag(level, missing, "is missing")
        seen[level] = index + 1
        if bytes(digest) != levels[level][index]:
            flag(level, index, "does not match the stored events")
    for level in range(1, len(levels)):
        for missing in range(seen[level], len(levels[level])):
            flag(level, missing, "is missing")
    return levels


def _node_reader(levels: list[list[bytes]]) -> merkle.NodeReader:
    return lambda level, index: levels[level][index]


def _root(levels: list[list[bytes]], size: int) -> bytes:
    if size == 0:
        return merkle.empty_root()
    return merkle.subtree_root(0, size, _node_reader(levels))


# -- 3. checkpoints ----------------------------------------------------------------------------


def _check_checkpoints(
    connection: Connection,
    levels: list[list[bytes]],
    verifiers: Sequence[NoteVerifier],
    report: Report,
) -> None:
    events = len(levels[0])
    statement = select(_CHECKPOINTS).order_by(_CHECKPOINTS.c.tree_size)
    vouched: tuple[int, bytes] | None = None  # the last checkpoint that verified
    for row in _rows(connection, statement):
        report.checkpoints += 1
        size = row.tree_size
        since = vouched[0] if vouched else 0
        try:
            checkpoint = open_any(row.note, verifiers)
        except (NoteError, merkle.VerificationError) as exc:
            report.add(
                since,
                f"checkpoint of size {size} does not verify with the audit keys ({exc}); "
                f"seq {since}..{size - 1} are not vouched for: the first bad entry may be "
                "anywhere among them",
            )
            continue
        if checkpoint.tree_size != size or checkpoint.root_hash != bytes(row.root_hash):
            report.add(since, f"checkpoint of size {size}: its row does not match its signed note")
            continue
        if size > events:
            report.add(
                events,
                f"checkpoint of size {size} signs events up to seq {size - 1}, but the log "
                f"holds only {events}: seq {events} onwards were deleted",
            )
            continue
        root = _root(levels, size)
        if root != checkpoint.root_hash:
            if report.explains(size):
                continue  # an event or node already named below this size changes the root
            report.add(
                since,
                f"checkpoint of size {size}: its signed root {checkpoint.root_hash.hex()} is not "
                f"the root of the stored events ({root.hex()}); the first bad entry is at or "
                f"after seq {since}",
            )
            continue
        if vouched is not None and vouched[0] > 0:
            proof = merkle.consistency_proof(vouched[0], size, _node_reader(levels))
            try:
                merkle.verify_consistency(
                    size1=vouched[0], size2=size, root1=vouched[1], root2=root, proof=proof
                )
            except merkle.VerificationError as exc:
                report.add(since, f"checkpoints of size {vouched[0]} and {size} conflict: {exc}")
                continue
        vouched = (size, root)


# -- 4. a witness's checkpoint -----------------------------------------------------------------


def _check_witness(checkpoint: Checkpoint, levels: list[list[bytes]], report: Report) -> None:
    events = len(levels[0])
    size = checkpoint.tree_size
    report.witness_size = size
    if size > events:
        report.add(
            events,
            f"your checkpoint signs {size} events but the log holds only {events}: "
            f"seq {events}..{size - 1} were deleted",
        )
        return
    root = _root(levels, size)
    if root != checkpoint.root_hash and not report.explains(size):
        report.add(
            0,
            f"the log's first {size} events do not have the root your checkpoint signed "
            f"({checkpoint.root_hash.hex()} signed, {root.hex()} stored)",
        )
