"""The audit log in a real database: appends, stored tree nodes, roots, proofs, checkpoints."""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import rfc8785
from psycopg import pq
from sqlalchemy import Engine, select, text
from sqlalchemy import event as sa_event

from audit import checkpoints, merkle
from audit.checkpoints import CheckpointError
from audit.log import (
    _AFTER_LAST,
    AuditLog,
    _statements,
    consistency_proof,
    inclusion_proof,
    root_at,
)
from audit.models import AuditEvent
from audit.notes import NoteSigner, NoteVerifier, open_checkpoint
from hub.core import db
from tests.fixtures.audit import ORIGIN, StepClock, append_events, event, execute, fill


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


def _independent_leaf_hash(leaf: dict[str, Any]) -> bytes:
    return hashlib.sha256(b"\x00" + rfc8785.dumps(leaf)).digest()


def test_appends_get_gap_free_seqs_from_zero_and_store_their_leaf(
    migrated_engine: Engine,
) -> None:
    recorded = append_events(migrated_engine, AuditLog(clock=StepClock()), range(5))
    assert [r.seq for r in recorded] == [0, 1, 2, 3, 4]
    with migrated_engine.connect() as connection:
        rows = connection.execute(select(AuditEvent.__table__).order_by(text("seq"))).all()  # type: ignore[attr-defined]
    for r, row in zip(recorded, rows, strict=True):
        assert r.leaf["seq"] == row.seq
        assert r.leaf["time"] == row.time
        assert bytes(row.leaf_hash) == r.leaf_hash == _independent_leaf_hash(r.leaf)
        assert "data_subject_id" not in r.leaf or r.leaf["data_subject_id_type"]
        assert None not in r.leaf.values()  # absent values are omitted, never null


def test_leaf_time_is_rfc3339_utc_with_microseconds(migrated_engine: Engine) -> None:
    (recorded,) = append_events(migrated_engine, AuditLog(), [0])
    parsed = datetime.fromisoformat(recorded.leaf["time"])
    assert recorded.leaf["time"].endswith("Z")
    assert len(recorded.leaf["time"]) == 27
    assert parsed.utcoffset() is not None
    assert abs(parsed - datetime.now(UTC)).total_seconds() < 60


def test_roots_and_proofs_from_stored_nodes_match_an_independent_rebuild(
    migrated_engine: Engine,
) -> None:
    recorded = append_events(migrated_engine, AuditLog(clock=StepClock()), range(21))
    leaves = [_independent_leaf_hash(r.leaf) for r in recorded]
    with migrated_engine.connect() as connection:
        for size in range(1, 22):
            root = merkle.root_from_leaves(leaves[:size])
            assert root_at(connection, size) == root
            for seq in range(size):
                merkle.verify_inclusion(
                    leaf_index=seq,
                    tree_size=size,
                    leaf_hash=leaves[seq],
                    proof=inclusion_proof(connection, seq, size),
                    root=root,
                )
            for old in range(1, size + 1):
                merkle.verify_consistency(
                    size1=old,
                    size2=size,
                    root1=merkle.root_from_leaves(leaves[:old]),
                    root2=root,
                    proof=consistency_proof(connection, old, size),
                )


def test_a_proof_reads_the_database_a_constant_number_of_times(migrated_engine: Engine) -> None:
    append_events(migrated_engine, AuditLog(clock=StepClock()), range(300))
    statements: list[str] = []

    def count(*args: Any) -> None:
        if not args[2].startswith("BEGIN"):
            statements.append(args[2])

    sa_event.listen(migrated_engine, "before_cursor_execute", count)
    try:
        with migrated_engine.connect() as connection:
            statements.clear()
            inclusion_proof(connection, 137, 300)
            assert len(statements) <= 2  # leaves and inner nodes, one query each
            statements.clear()
            consistency_proof(connection, 77, 300)
            assert len(statements) <= 2
    finally:
        sa_event.remove(migrated_engine, "before_cursor_execute", count)


def test_an_append_writes_in_one_statement_after_the_lock(migrated_engine: Engine) -> None:
    """Once a process knows the head, nothing is read under the lock: one conditional write
    of the event and the nodes it completes, sent with the lock in one round trip (PostgreSQL,
    on the driver's connection), or the event's and the nodes' writes in process (SQLite)."""
    log = AuditLog(clock=StepClock())
    append_events(migrated_engine, log, range(3))  # the first append read the head
    if migrated_engine.dialect.name == "postgresql":
        for index in range(3, 11):  # psycopg prepares a statement on its fifth execution
            trace, prepared = _traced_append(migrated_engine, log, index)
            # The statements after BEGIN, in the round trips they went in: the lock and the
            # write together (one Sync), then the commit; nothing is read.
            assert _round_trips(trace, prepared) == [["lock", "write"], ["COMMIT"]], trace
        assert log.rereads == 1  # the first append only
    else:
        statements: list[list[str]] = []

        def count(*args: Any) -> None:
            if args[2].startswith("BEGIN"):
                statements.append([])
            elif statements:
                statements[-1].append(args[2].split(" (", 1)[0])

        sa_event.listen(migrated_engine, "before_cursor_execute", count)
        try:
            append_events(migrated_engine, log, range(3, 11))
        finally:
            sa_event.remove(migrated_engine, "before_cursor_execute", count)
        # an odd seq completes a node
        inserts = ["INSERT INTO audit_event"], ["INSERT INTO audit_event", "INSERT INTO audit_node"]
        assert statements == [inserts[index % 2] for index in range(3, 11)]
    with migrated_engine.connect() as connection:
        leaves = connection.execute(select(AuditEvent.leaf_hash).order_by(AuditEvent.seq))  # type: ignore[arg-type]
        assert root_at(connection, 11) == merkle.root_from_leaves([bytes(h) for (h,) in leaves])


def _traced_append(engine: Engine, log: AuditLog, index: int) -> tuple[list[str], dict[str, str]]:
    """The frontend's protocol messages of one appending transaction, from libpq's trace,
    and the statements the connection had prepared by name."""
    with tempfile.TemporaryFile() as trace:
        with db.transaction(engine) as session:
            raw = session.connection().connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            raw.pgconn.trace(trace.fileno())
            raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            log.append(session, event(index))
        raw.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().decode().splitlines()
    with engine.connect() as connection:  # the pool's only connection: the same one
        assert connection.connection.driver_connection is raw
        prepared = dict(
            connection.exec_driver_sql("SELECT name, statement FROM pg_prepared_statements").all()
        )
    return [line for line in lines if line.startswith("F\t")], prepared


def _round_trips(frontend: list[str], prepared: dict[str, str]) -> list[list[str]]:
    """The statements after BEGIN grouped by the Sync (or simple Query) that sent them; each
    named by the text it was parsed from, here or earlier (``prepared``)."""

    def named(text: str) -> str:
        return "lock" if "pg_advisory_xact_lock" in text else "write" if "WITH e" in text else text

    names = dict(prepared)
    trips: list[list[str]] = [[]]
    for line in frontend:
        kind, quoted = line.split("\t")[2], line.split('"')
        if kind == "Parse" and "BEGIN" not in quoted[3]:
            names[quoted[1]] = quoted[3]
            if not quoted[1]:  # an unnamed statement, bound right after
                trips[-1].append(named(quoted[3]))
        elif kind == "Bind" and quoted[3]:
            trips[-1].append(named(names[quoted[3]]))
        elif kind == "Sync" and trips[-1]:
            trips.append([])
        elif kind == "Query" and quoted[1] != "BEGIN":
            trips[-1].append(quoted[1])
            trips.append([])
    return [trip for trip in trips if trip]


def test_the_write_condition_reads_the_primary_key_under_a_generic_plan(
    migrated_engine: Engine,
) -> None:
    """The condition is checked under the lock on every append; a plan that scanned the table
    (as a generic plan of ``NOT EXISTS (… WHERE seq >= $1)`` does) would hold the lock for
    milliseconds per thousand events."""
    if migrated_engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans")
    append_events(migrated_engine, AuditLog(clock=StepClock()), range(2))
    statement, _ = _statements("postgresql", ("seq", "time", "action", "outcome"), _AFTER_LAST, 1)
    numbered = statement.replace("%s", "{}").format(
        *(f"${n}" for n in range(1, statement.count("%s") + 1))
    )
    with migrated_engine.connect() as connection:
        connection.exec_driver_sql(
            "INSERT INTO audit_event (seq, time, action, outcome, leaf_hash) SELECT g, 't', 'a',"
            " 'o', sha256(g::text::bytea) FROM generate_series(2, 20000) g"
        )
        connection.exec_driver_sql("ANALYZE audit_event")
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(f"PREPARE write_event AS {numbered}")
        plan = connection.exec_driver_sql(
            "EXPLAIN EXECUTE write_event(20000, 't', 'a', 'o', 19999, 19999,"
            " '\\x00'::bytea, 1, 10000, '\\x00'::bytea)"
        ).all()
        connection.rollback()
    shown = "\n".join(row[0] for row in plan)
    assert "Seq Scan" not in shown
    assert "audit_event_pkey" in shown


def test_two_appends_in_one_transaction_follow_each_other(migrated_engine: Engine) -> None:
    log, other = AuditLog(clock=StepClock()), AuditLog(clock=StepClock())
    append_events(migrated_engine, log, range(2))
    with db.transaction(migrated_engine) as session:
        first = other.append(session, event(2))  # a process that has not seen the head
        second = other.append(session, event(3))
        third = log.append(session, event(4))  # one whose frontier the other made stale
    assert (first.seq, second.seq, third.seq) == (2, 3, 4)
    kept = append_events(migrated_engine, log, [5])
    with migrated_engine.connect() as connection:
        rows = connection.execute(select(AuditEvent.leaf_hash).order_by(AuditEvent.seq))  # type: ignore[arg-type]
        leaves = [bytes(h) for (h,) in rows]
        assert leaves[2:] == [r.leaf_hash for r in (first, second, third, *kept)]
        assert root_at(connection, 6) == merkle.root_from_leaves(leaves)


def test_a_transaction_appends_again_while_another_waits_for_its_lock(
    migrated_engine: Engine,
) -> None:
    """The append that waits for the database's lock holds the process's turn to send; a
    transaction that holds the lock already must not wait for that turn (it would wait for
    the append that waits for it)."""
    log = AuditLog(clock=StepClock())
    append_events(migrated_engine, log, range(2))
    first_written, second_sent = threading.Event(), threading.Event()
    recorded: dict[str, int] = {}

    def holder() -> None:
        with db.transaction(migrated_engine) as session:
            recorded["a"] = log.append(session, event(2)).seq
            first_written.set()
            second_sent.wait(10)
            time.sleep(0.2)  # the other append is now waiting for this transaction's lock
            recorded["b"] = log.append(session, event(3)).seq

    def waiter() -> None:
        first_written.wait(10)
        second_sent.set()
        recorded["c"] = append_events(migrated_engine, log, [4])[0].seq

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "the appends deadlocked"
    assert recorded == {"a": 2, "b": 3, "c": 4}
    with migrated_engine.connect() as connection:
        leaves = connection.execute(select(AuditEvent.leaf_hash).order_by(AuditEvent.seq))  # type: ignore[arg-type]
        assert root_at(connection, 5) == merkle.root_from_leaves([bytes(h) for (h,) in leaves])


def test_a_second_process_continues_the_same_tree(migrated_engine: Engine) -> None:
    first, second = AuditLog(clock=StepClock()), AuditLog(clock=StepClock())
    recorded = append_events(migrated_engine, first, range(3))
    recorded += append_events(migrated_engine, second, range(3, 7))
    recorded += append_events(migrated_engine, first, range(7, 10))  # its cache is stale now
    assert [r.seq for r in recorded] == list(range(10))
    # Each read the head under the lock only for its first append and, the first, once more
    # when it found the other's appends; otherwise its remembered frontier was the head.
    assert (first.rereads, second.rereads) == (2, 1)
    with migrated_engine.connect() as connection:
        assert root_at(connection, 10) == merkle.root_from_leaves([r.leaf_hash for r in recorded])


def test_a_rolled_back_append_leaves_no_gap_and_no_stale_tree(migrated_engine: Engine) -> None:
    log = AuditLog(clock=StepClock())
    kept = append_events(migrated_engine, log, range(3))

    def failing_change() -> None:
        with db.transaction(migrated_engine) as session:
            log.append(session, event(99))
            raise RuntimeError("the change this event recorded failed")

    with pytest.raises(RuntimeError):
        failing_change()
    kept += append_events(migrated_engine, AuditLog(clock=StepClock()), [3])  # another process
    kept += append_events(migrated_engine, log, [4])
    assert [r.seq for r in kept] == [0, 1, 2, 3, 4]
    with migrated_engine.connect() as connection:
        assert root_at(connection, 5) == merkle.root_from_leaves([r.leaf_hash for r in kept])


def test_checkpoints_are_signed_notes_of_the_stored_tree(
    migrated_engine: Engine, signer: NoteSigner
) -> None:
    fill(migrated_engine, signer, size=5, checkpoint_at=[5])
    with migrated_engine.connect() as connection:
        signed = checkpoints.latest(connection)
        assert signed is not None
        checkpoint = open_checkpoint(signed.note, signer.verifier())
        assert (checkpoint.origin, checkpoint.tree_size) == (ORIGIN, 5)
        assert checkpoint.root_hash == signed.root_hash == root_at(connection, 5)
        # C2SP tlog-checkpoint: exactly origin, size and root; the time is kept beside it.
        assert signed.note.split("\n\n")[0].count("\n") == 2
        assert signed.key_name == f"{ORIGIN}+{signer.key_id:08x}"


def test_nothing_new_signs_nothing(migrated_engine: Engine, signer: NoteSigner) -> None:
    fill(migrated_engine, signer, size=3, checkpoint_at=[3])
    with db.transaction(migrated_engine) as session:
        again, created = checkpoints.sign_latest(session, signer, now=lambda: datetime.now(UTC))
    assert not created
    assert again is not None
    assert again.tree_size == 3


def test_a_checkpoint_inconsistent_with_an_earlier_one_is_never_signed(
    migrated_engine: Engine, signer: NoteSigner
) -> None:
    fill(migrated_engine, signer, size=4, checkpoint_at=[4])
    # Rewrite history under the checkpoint: the 4-leaf subtree's stored hash changes.
    execute(migrated_engine, "UPDATE audit_node SET hash = :h WHERE level = 2", h=b"\x07" * 32)
    append_events(migrated_engine, AuditLog(clock=StepClock()), [4])
    with (
        pytest.raises(CheckpointError, match="does not extend"),
        db.transaction(migrated_engine) as session,
    ):
        checkpoints.sign_latest(session, signer, now=lambda: datetime.now(UTC))


def test_a_rotated_key_still_verifies_what_it_signed(
    migrated_engine: Engine, signer: NoteSigner
) -> None:
    fill(migrated_engine, signer, size=2, checkpoint_at=[2])
    newer = NoteSigner.generate(ORIGIN)
    append_events(migrated_engine, AuditLog(clock=StepClock()), [2])
    with db.transaction(migrated_engine) as session:
        checkpoints.sign_latest(session, newer, now=lambda: datetime.now(UTC))
    keys: list[NoteVerifier] = [newer.verifier(), signer.verifier()]
    with migrated_engine.connect() as connection:
        rows = connection.execute(text("SELECT note FROM audit_checkpoint ORDER BY tree_size"))
        sizes = [checkpoints.open_any(row.note, keys).tree_size for row in rows]
    assert sizes == [2, 3]
