"""The replicas' rows (``hub_replica``): a beat writes and updates the row, a replica unseen for
five minutes is gone, one unseen for a day is deleted, and a differing policy is marked; on
both databases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.core import db
from hub.policy.replicas import (
    FORGET_AFTER,
    GONE_AFTER,
    ReplicaIdentity,
    beat,
    replica_timer,
    replicas,
)
from hub.tables.replicas import HubReplica
from tests.fixtures.oauth import Hub

HASH = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def _identity(now: datetime, host: str) -> ReplicaIdentity:
    return ReplicaIdentity(str(uuid.uuid4()), host, 100, now)


def test_a_beat_writes_then_updates_the_row(engine: Engine) -> None:
    now = datetime.now(UTC)
    identity = _identity(now, "node-1")
    with db.transaction(engine) as session:
        beat(session, identity, policy_hash=HASH, policy_loaded_at=now, now=now)
    later = now + timedelta(seconds=30)
    with db.transaction(engine) as session:
        beat(session, identity, policy_hash=OTHER, policy_loaded_at=later, now=later)
    with Session(engine) as session:
        rows = [r for r in session.exec(select(HubReplica)).all() if r.host == "node-1"]
    assert len(rows) == 1
    assert rows[0].policy_hash == OTHER
    assert db.as_utc(rows[0].last_seen_at) == later
    assert db.as_utc(rows[0].started_at) == now


def test_gone_after_five_minutes_and_forgotten_after_a_day(engine: Engine) -> None:
    now = datetime.now(UTC)
    live, gone, old = (_identity(now, h) for h in ("live", "gone", "old"))
    with db.transaction(engine) as session:
        beat(session, old, policy_hash=HASH, policy_loaded_at=now, now=now - FORGET_AFTER * 2)
        beat(
            session,
            gone,
            policy_hash=HASH,
            policy_loaded_at=now,
            now=now - GONE_AFTER - timedelta(seconds=1),
        )
        beat(session, live, policy_hash=OTHER, policy_loaded_at=now, now=now)
    with Session(engine) as session:
        seen = {v.replica.host: v for v in replicas(session, policy_hash=HASH, now=now)}
        hosts = set(session.exec(select(HubReplica.host)).all())
    assert "old" not in hosts  # deleted by the next beat
    assert seen["live"].live
    assert not seen["live"].same_policy
    assert not seen["gone"].live
    assert seen["gone"].same_policy
    assert list(seen).index("live") < list(seen).index("gone")  # live ones first


def test_the_timer_writes_at_start_and_again_at_each_interval(hub: Hub) -> None:
    services = hub.services
    identity = ReplicaIdentity.this_process()

    def last_seen() -> datetime | None:
        with Session(services.engine) as session:
            row = session.get(HubReplica, identity.replica_id)
            return None if row is None else db.as_utc(row.last_seen_at)

    seen: list[datetime | None] = []

    async def run() -> None:
        async with replica_timer(services, identity, interval=0.1):
            seen.append(last_seen())  # written as the block starts
            await asyncio.sleep(0.5)
            seen.append(last_seen())

    asyncio.run(run())
    first, later = seen
    assert first is not None
    assert later is not None
    assert later > first
    with Session(services.engine) as session:
        row = session.get(HubReplica, identity.replica_id)
    assert row is not None
    assert row.policy_hash == services.policy.hash
    assert row.pid == identity.pid
