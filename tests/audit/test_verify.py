"""``verify_log`` on a real database: an intact trail passes; each kind of tampering is caught
and names the first bad ``seq``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from audit import checkpoints, merkle
from audit.events import LEAF_FIELDS, leaf_hash_of
from audit.log import AuditLog, root_at
from audit.models import AuditEvent
from audit.notes import Checkpoint, NoteSigner, sign_checkpoint
from audit.verify import Report, WitnessError, verify_log
from hub.auditing.repository import leaf_of
from hub.core import db
from tests.fixtures.audit import ORIGIN, StepClock, append_events, execute, fill

SIZE = 40
CHECKPOINTS = (16, 32, 40)

_COLUMNS = ", ".join((*LEAF_FIELDS, "leaf_hash"))


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def trail(migrated_engine: Engine, signer: NoteSigner) -> Engine:
    fill(migrated_engine, signer, size=SIZE, checkpoint_at=CHECKPOINTS)
    return migrated_engine


def _verify(engine: Engine, signer: NoteSigner, witness: str | None = None) -> Report:
    with db.snapshot(engine) as connection:
        return verify_log(connection, [signer.verifier()], witness=witness)


def _rehash(engine: Engine, seq: int) -> None:
    """What a careful tamperer does after an edit: store the edited row's correct leaf hash."""
    with db.transaction(engine) as session:
        row = session.get(AuditEvent, seq)
        assert row is not None
        digest = leaf_hash_of(leaf_of(row))
    execute(engine, "UPDATE audit_event SET leaf_hash = :h WHERE seq = :s", h=digest, s=seq)


def _rebuild_nodes(engine: Engine) -> None:
    """...and rebuilds every tree node from the (tampered) stored leaf hashes."""
    with engine.connect() as connection:
        leaves = [
            bytes(r[0])
            for r in connection.execute(text("SELECT leaf_hash FROM audit_event ORDER BY seq"))
        ]
    accumulator = merkle.MerkleAccumulator()
    nodes = [n for leaf in leaves for n in accumulator.append(leaf) if n.level > 0]
    execute(engine, "DELETE FROM audit_node")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO audit_node (level, idx, hash) VALUES (:level, :idx, :hash)"),
            [{"level": n.level, "idx": n.index, "hash": n.digest} for n in nodes],
        )


def test_an_intact_trail_verifies(trail: Engine, signer: NoteSigner) -> None:
    report = _verify(trail, signer)
    assert report.intact, report.problems
    assert (report.events, report.checkpoints) == (SIZE, len(CHECKPOINTS))
    # Perfect subtrees above the leaves within 40 events: 20 + 10 + 5 + 2 + 1.
    assert report.nodes == 38


def test_progress_is_reported_after_each_batch_of_events(
    trail: Engine, signer: NoteSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audit.verify._BATCH", 16)
    seen: list[int] = []
    with db.snapshot(trail) as connection:
        report = verify_log(connection, [signer.verifier()], progress=seen.append)
    assert report.intact
    assert seen == [16, 32, SIZE]


def test_an_edited_event_is_named(trail: Engine, signer: NoteSigner) -> None:
    execute(trail, "UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = 21")
    report = _verify(trail, signer)
    assert report.first_bad_seq == 21
    assert "seq 21: the stored event does not hash" in report.problems[0].message


def test_the_stored_content_fields_hash_as_recorded(trail: Engine, signer: NoteSigner) -> None:
    # content_size comes back from the database as an integer and is hashed as a JSON number.
    with trail.connect() as connection:
        rows = connection.execute(
            text("SELECT content_sha256, content_size, range FROM audit_event WHERE seq = 11")
        ).one()
    assert rows == (f"{11:064x}", 1_000_011, "11-1010")
    assert _verify(trail, signer).intact


@pytest.mark.parametrize(
    "edit",
    [
        # Another document's hash, as if other bytes had been delivered.
        f"content_sha256 = '{'e' * 64}'",
        "content_size = content_size + 1",
        "range = '0-1009'",
        # Removing the content from a download's record.
        "content_sha256 = NULL, content_size = NULL, range = NULL",
    ],
)
def test_an_edited_content_field_is_named(trail: Engine, signer: NoteSigner, edit: str) -> None:
    execute(trail, f"UPDATE audit_event SET {edit} WHERE seq = 21")
    report = _verify(trail, signer)
    assert report.first_bad_seq == 21
    assert "seq 21: the stored event does not hash" in report.problems[0].message


def test_content_added_to_an_event_that_had_none_is_named(
    trail: Engine, signer: NoteSigner
) -> None:
    execute(
        trail,
        f"UPDATE audit_event SET content_sha256 = '{'a' * 64}', content_size = 5 WHERE seq = 22",
    )
    report = _verify(trail, signer)
    assert report.first_bad_seq == 22


def test_an_edit_with_a_recomputed_hash_is_caught_by_the_tree(
    trail: Engine, signer: NoteSigner
) -> None:
    execute(trail, "UPDATE audit_event SET outcome = 'denied' WHERE seq = 20")
    _rehash(trail, 20)
    report = _verify(trail, signer)
    assert report.first_bad_seq == 20
    assert any("tree node (1, 10)" in p.message for p in report.problems)


def test_a_deleted_event_is_named(trail: Engine, signer: NoteSigner) -> None:
    execute(trail, "DELETE FROM audit_event WHERE seq = 17")
    report = _verify(trail, signer)
    assert report.first_bad_seq == 17
    assert "seq 17 is missing" in report.problems[0].message


def test_an_inserted_event_is_named(trail: Engine, signer: NoteSigner) -> None:
    # Make room at seq 10 by moving every later event up one, then insert a forged event
    # there: a copy of event 9's row with a fresh seq (and event 9's stored hash).
    execute(trail, "UPDATE audit_event SET seq = seq + 1000 WHERE seq >= 10")
    execute(trail, "UPDATE audit_event SET seq = seq - 999 WHERE seq >= 1000")
    execute(
        trail,
        f"INSERT INTO audit_event ({_COLUMNS}) SELECT 10, {_COLUMNS.removeprefix('seq, ')} "
        "FROM audit_event WHERE seq = 9",
    )
    report = _verify(trail, signer)
    assert report.first_bad_seq == 10
    assert report.events == SIZE + 1


def test_reordered_events_are_named(trail: Engine, signer: NoteSigner) -> None:
    execute(
        trail,
        "UPDATE audit_event SET seq = -1 WHERE seq = 12",
        "UPDATE audit_event SET seq = 12 WHERE seq = 30",
        "UPDATE audit_event SET seq = 30 WHERE seq = -1",
    )
    report = _verify(trail, signer)
    assert report.first_bad_seq == 12
    assert {p.seq for p in report.problems} >= {12}


def test_a_re_signed_history_is_caught(trail: Engine, signer: NoteSigner) -> None:
    # A tamperer with database access but without the audit key edits event 25, stores its
    # correct hash, rebuilds the tree, and re-signs the checkpoints over it with a key of
    # their own (the one of size 16 does not cover the edit and is left alone).
    execute(trail, "UPDATE audit_event SET resource_id = 'doc-other' WHERE seq = 25")
    _rehash(trail, 25)
    _rebuild_nodes(trail)
    forger = NoteSigner.generate(ORIGIN)
    with trail.connect() as connection:
        rows = connection.execute(
            text("SELECT tree_size FROM audit_checkpoint WHERE tree_size > 25")
        ).all()
    for (size,) in rows:
        with db.transaction(trail) as session:
            root = root_at(session.connection(), size)
        note = sign_checkpoint(forger, Checkpoint(ORIGIN, size, root))
        execute(
            trail,
            "UPDATE audit_checkpoint SET note = :n, root_hash = :r WHERE tree_size = :s",
            n=note,
            r=root,
            s=size,
        )
    report = _verify(trail, signer)
    assert not report.intact
    # Checkpoint 16 still verifies; 32 and 40 do not, so the events from 16 on are no longer
    # vouched for. Without the original hashes no verifier can narrow it further than that.
    assert report.first_bad_seq == 16
    assert any("does not verify with the audit keys" in p.message for p in report.problems)


def test_a_re_signed_checkpoint_alone_is_caught(trail: Engine, signer: NoteSigner) -> None:
    forger = NoteSigner.generate(ORIGIN)
    with trail.connect() as connection:
        root = bytes(
            connection.execute(
                text("SELECT root_hash FROM audit_checkpoint WHERE tree_size = 32")
            ).scalar_one()
        )
    note = sign_checkpoint(forger, Checkpoint(ORIGIN, 32, root))
    execute(trail, "UPDATE audit_checkpoint SET note = :n WHERE tree_size = 32", n=note)
    report = _verify(trail, signer)
    assert report.first_bad_seq == 16
    assert "checkpoint of size 32 does not verify" in report.problems[0].message


def test_deleting_the_newest_events_with_their_checkpoints_needs_a_witness(
    trail: Engine, signer: NoteSigner
) -> None:
    with trail.connect() as connection:
        kept = checkpoints.latest(connection)
    assert kept is not None
    execute(
        trail,
        "DELETE FROM audit_event WHERE seq >= 30",
        "DELETE FROM audit_node WHERE (idx + 1) * power(2, level) > 30",
        "DELETE FROM audit_checkpoint WHERE tree_size > 30",
    )
    assert _verify(trail, signer).intact  # consistent with itself: the bound DESIGN states
    report = _verify(trail, signer, witness=kept.note)
    assert report.first_bad_seq == 30
    assert "seq 30..39 were deleted" in report.problems[0].message


def test_a_witness_checkpoint_of_the_intact_log_passes(trail: Engine, signer: NoteSigner) -> None:
    with trail.connect() as connection:
        kept = checkpoints.latest(connection)
    assert kept is not None
    append_events(trail, AuditLog(clock=StepClock()), range(SIZE, SIZE + 5))
    report = _verify(trail, signer, witness=kept.note)
    assert report.intact, report.problems
    assert report.witness_size == SIZE


def test_a_witness_checkpoint_with_a_bad_signature_fails_clearly(
    trail: Engine, signer: NoteSigner
) -> None:
    with trail.connect() as connection:
        kept = checkpoints.latest(connection)
    assert kept is not None
    text_part, signature = kept.note.split("\n\n")
    forged = (
        text_part
        + "\n\n"
        + signature[:-6]
        + ("A" if signature[-6] != "A" else "B")
        + signature[-5:]
    )
    # A forged witness says nothing about the log: it is refused, not reported as damage.
    with pytest.raises(WitnessError, match="invalid signature"):
        _verify(trail, signer, witness=forged)
    with pytest.raises(WitnessError):
        _verify(trail, signer, witness="not a checkpoint\n")


def test_a_witness_from_another_history_fails(trail: Engine, signer: NoteSigner) -> None:
    other = sign_checkpoint(signer, Checkpoint(ORIGIN, 20, b"\x01" * 32))
    report = _verify(trail, signer, witness=other)
    assert report.first_bad_seq == 0
    assert "do not have the root your checkpoint signed" in report.problems[0].message


def test_a_checkpoint_signed_now_is_covered(trail: Engine, signer: NoteSigner) -> None:
    append_events(trail, AuditLog(clock=StepClock()), range(SIZE, SIZE + 3))
    with db.transaction(trail) as session:
        signed, created = checkpoints.sign_latest(session, signer, now=lambda: datetime.now(UTC))
    assert created
    assert signed is not None
    assert signed.tree_size == SIZE + 3
    assert _verify(trail, signer).intact


def test_verify_refuses_to_run_without_a_snapshot_on_postgresql(
    trail: Engine, signer: NoteSigner
) -> None:
    with trail.connect() as connection:
        if trail.dialect.name == "postgresql":  # READ COMMITTED: each statement its own view
            with pytest.raises(ValueError, match="snapshot"):
                verify_log(connection, [signer.verifier()])
        else:  # a SQLite read transaction is a snapshot already
            assert verify_log(connection, [signer.verifier()]).intact


def test_appends_while_verifying_are_not_mistaken_for_damage(
    trail: Engine, signer: NoteSigner
) -> None:
    with db.snapshot(trail) as connection:
        # The snapshot starts with the first read; then the hub keeps appending and
        # checkpointing while the verifier reads events, nodes and checkpoints in turn.
        assert connection.execute(text("SELECT count(*) FROM audit_event")).scalar() == SIZE
        log = AuditLog(clock=StepClock())
        append_events(trail, log, range(SIZE, SIZE + 7))
        with db.transaction(trail) as session:
            checkpoints.sign_latest(session, signer, now=lambda: datetime.now(UTC))
        report = verify_log(connection, [signer.verifier()])
    assert report.intact, report.problems
    assert report.events == SIZE
