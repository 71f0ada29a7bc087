"""Idempotency keys themselves: the header's grammar, and claiming, completing, replaying,
releasing and expiring a key in the real databases (the routes' use is tested with them)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from hub.core import db
from hub.idempotency.keys import (
    KeyInProgress,
    KeyReused,
    MalformedKey,
    fingerprint,
    key_hash,
    parse_key,
)
from hub.idempotency.service import Answer, Claim, Idempotency, Replay, sweep_expired
from hub.tables.idempotency import IdempotencyKey
from hub.trail.auditor import Receipt
from hub.web.idempotent import renewing

# -- the header --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ('"abc"', "abc"),
        ('  "8e03978e-40d5-43e8-bc93-6894a57f9324"\t', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"a \\"quoted\\" \\\\ key"', 'a "quoted" \\ key'),
        ('"' + "k" * 255 + '"', "k" * 255),
    ],
)
def test_a_well_formed_key_is_its_string_value(header: str, key: str) -> None:
    assert parse_key([header]) == key


def test_no_header_is_no_key() -> None:
    assert parse_key([]) is None


@pytest.mark.parametrize(
    "header",
    [
        "abc",  # a token, not a string
        '""',  # empty
        '"' + "k" * 256 + '"',  # too long
        '"abc',
        'abc"',
        '"a"b"',
        '"a\\b"',  # an escape of something else than " or \
        '"caf\u00e9"',  # not ASCII
        '"tab\there"',  # a control character
        '"abc";param=1',  # parameters are not part of the grammar the draft uses
        "",
    ],
)
def test_a_malformed_key_is_refused(header: str) -> None:
    with pytest.raises(MalformedKey):
        parse_key([header])


def test_two_header_lines_are_refused() -> None:
    with pytest.raises(MalformedKey):
        parse_key(['"a"', '"a"'])


def test_a_fingerprint_ignores_the_order_of_keys_but_not_a_value() -> None:
    assert fingerprint({"a": 1, "b": "x"}) == fingerprint({"b": "x", "a": 1})
    assert fingerprint({"a": 1, "b": "x"}) != fingerprint({"a": 1, "b": "y"})


# -- claims ------------------------------------------------------------------------------------

_RECEIPT = Receipt(7, "bGVhZg==", "note text\n")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def keys(engine: Engine, clock: Clock, *, caller: str = "client::a") -> Idempotency:
    return Idempotency(engine, caller=caller, operation="share.create", clock=clock)


def complete(engine: Engine, claim: Claim, resource: uuid.UUID) -> None:
    with db.transaction(engine) as session:
        claim.complete(
            session,
            Answer(201, resource, {"Location": f"/x/{resource}"}, _RECEIPT),
        )


def test_the_first_answer_is_replayed_for_the_same_request(migrated_engine: Engine) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", "f" * 64)
    assert isinstance(claim, Claim)
    resource = uuid.uuid4()
    complete(migrated_engine, claim, resource)

    replay = keys(migrated_engine, clock).begin("k1", "f" * 64)

    assert isinstance(replay, Replay)
    assert replay.answer == Answer(201, resource, {"Location": f"/x/{resource}"}, _RECEIPT)


def test_the_same_key_for_another_request_is_refused(migrated_engine: Engine) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", "f" * 64)
    assert isinstance(claim, Claim)
    complete(migrated_engine, claim, uuid.uuid4())

    with pytest.raises(KeyReused):
        keys(migrated_engine, clock).begin("k1", "e" * 64)


def test_a_fingerprint_known_only_at_completion_is_checked_on_the_replay(
    migrated_engine: Engine,
) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", None)
    assert isinstance(claim, Claim)
    with db.transaction(migrated_engine) as session:
        claim.complete(session, Answer(201, uuid.uuid4()), fingerprint="f" * 64)

    replay = keys(migrated_engine, clock).begin("k1", None)
    assert isinstance(replay, Replay)
    replay.check("f" * 64)
    with pytest.raises(KeyReused):
        replay.check("e" * 64)


def test_a_key_in_progress_is_refused(migrated_engine: Engine) -> None:
    clock = Clock()
    assert isinstance(keys(migrated_engine, clock).begin("k1", "f" * 64), Claim)
    with pytest.raises(KeyInProgress):
        keys(migrated_engine, clock).begin("k1", "f" * 64)


def test_a_lapsed_claim_is_taken_over_and_its_holder_cannot_complete(
    migrated_engine: Engine,
) -> None:
    clock = Clock()
    crashed = keys(migrated_engine, clock).begin("k1", "f" * 64)
    assert isinstance(crashed, Claim)
    clock.now += timedelta(minutes=11)

    taken = keys(migrated_engine, clock).begin("k1", "f" * 64)

    assert isinstance(taken, Claim)
    with pytest.raises(KeyInProgress):
        complete(migrated_engine, crashed, uuid.uuid4())
    complete(migrated_engine, taken, uuid.uuid4())


def test_a_renewed_claim_is_not_taken_over(migrated_engine: Engine) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", "f" * 64)
    assert isinstance(claim, Claim)
    clock.now += timedelta(minutes=8)
    assert claim.renew()
    clock.now += timedelta(minutes=8)
    with pytest.raises(KeyInProgress):
        keys(migrated_engine, clock).begin("k1", "f" * 64)


def test_after_24_hours_the_key_is_new_and_then_swept(migrated_engine: Engine) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", "f" * 64)
    assert isinstance(claim, Claim)
    complete(migrated_engine, claim, uuid.uuid4())
    keys(migrated_engine, clock).begin("k2", "f" * 64)
    clock.now += timedelta(hours=24)

    # Another request now, under the old key: no 422, a new claim.
    assert isinstance(keys(migrated_engine, clock).begin("k1", "e" * 64), Claim)
    assert sweep_expired(migrated_engine, now=clock.now) == 1  # k2; k1 was claimed anew
    with Session(migrated_engine) as session:
        left = session.exec(select(IdempotencyKey.key_hash)).all()
    assert left == [key_hash("k1")]


def test_keys_of_two_callers_are_independent(migrated_engine: Engine) -> None:
    clock = Clock()
    first = keys(migrated_engine, clock, caller="client::a").begin("k1", "f" * 64)
    other = keys(migrated_engine, clock, caller="client::b").begin("k1", "e" * 64)
    assert isinstance(first, Claim)
    assert isinstance(other, Claim)


def test_a_bound_claim_is_released_when_its_transaction_fails(migrated_engine: Engine) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", "f" * 64)
    assert isinstance(claim, Claim)

    def fail_after_the_work() -> None:
        with db.transaction(migrated_engine) as session:
            claim.bind(session)
            claim.complete(session, Answer(201, uuid.uuid4()))
            raise RuntimeError("the request failed after its work")

    with pytest.raises(RuntimeError):
        fail_after_the_work()

    # The key is free: another request may use it.
    assert isinstance(keys(migrated_engine, clock).begin("k1", "e" * 64), Claim)


def test_a_bound_claim_completed_and_committed_is_kept(migrated_engine: Engine) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", "f" * 64)
    assert isinstance(claim, Claim)
    with db.transaction(migrated_engine) as session:
        claim.bind(session)
        claim.complete(session, Answer(201, uuid.uuid4()))

    assert isinstance(keys(migrated_engine, clock).begin("k1", "f" * 64), Replay)


def test_no_key_and_no_fingerprint_of_a_v_number_is_stored(migrated_engine: Engine) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("4817305926", fingerprint({"v_index": "ab"}))
    assert isinstance(claim, Claim)
    complete(migrated_engine, claim, uuid.uuid4())
    with Session(migrated_engine) as session:
        row = session.exec(select(IdempotencyKey)).one()
    assert "4817305926" not in repr(row.model_dump())


def test_concurrent_claims_of_one_key_give_one_claim(fresh_postgres_url: str) -> None:
    engine = db.make_engine(fresh_postgres_url)
    db.migrate(engine)
    try:
        clock = Clock()
        results: list[object] = []
        start = threading.Barrier(8)

        def claim() -> None:
            start.wait()
            try:
                results.append(keys(engine, clock).begin("k1", "f" * 64))
            except KeyInProgress as exc:
                results.append(exc)

        threads = [threading.Thread(target=claim) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(isinstance(r, Claim) for r in results) == 1
        assert sum(isinstance(r, KeyInProgress) for r in results) == 7
    finally:
        engine.dispose()


def test_an_in_progress_row_is_never_replayed(migrated_engine: Engine) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", "f" * 64)
    assert isinstance(claim, Claim)
    with db.transaction(migrated_engine) as session:
        session.execute(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.key_hash) == key_hash("k1"))
            .values(status=201)
        )
    with pytest.raises(KeyInProgress):
        keys(migrated_engine, clock).begin("k1", "f" * 64)


def test_a_streaming_body_renews_its_claim_and_stops_when_it_was_taken_over(
    migrated_engine: Engine,
) -> None:
    clock = Clock()
    claim = keys(migrated_engine, clock).begin("k1", None)
    assert isinstance(claim, Claim)
    ticks = iter([0.0, 30.0, 61.0, 62.0, 130.0])
    chunks = renewing(iter([b"a", b"b", b"c"]), claim, every=60.0, monotonic=lambda: next(ticks))
    assert next(chunks) == b"a"  # 30 s: not yet
    clock.now += timedelta(minutes=9)
    assert next(chunks) == b"b"  # 61 s: renewed, so the lease runs from now
    clock.now += timedelta(minutes=9)
    with pytest.raises(KeyInProgress):
        keys(migrated_engine, clock).begin("k1", None)
    # Another request takes the claim over once the lease has lapsed; the stream then stops.
    clock.now += timedelta(minutes=2)
    assert isinstance(keys(migrated_engine, clock).begin("k1", None), Claim)
    with pytest.raises(KeyInProgress):
        next(chunks)
