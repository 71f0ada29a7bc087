"""The replicas of the hub, and the sharing policy each one holds (table ``hub_replica``).

Each hub process is a replica with an identity of its own (:class:`ReplicaIdentity`: a random
id, the host and pid, its start). It writes its row when it starts and every :data:`HEARTBEAT`
seconds after (:func:`replica_timer`, started by the app's lifespan): the hash of the policy it
decides by and when it loaded it, and the time it was last seen. A replica unseen for
:data:`GONE_AFTER` is shown as gone; its row is deleted once unseen for :data:`FORGET_AFTER`
(by whichever replica beats next). The policy pages (:mod:`hub.pages.admin.policy`) read
:func:`replicas` and mark a live replica whose policy hash differs from the one in force where
the page was served: two replicas deciding by different policies is what an administrator who
changed the file and restarted only some of them must see.

Nothing here is personal data or a credential; reading it is not recorded.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import delete
from sqlmodel import Session, col, select

from hub.core import db
from hub.core.db import as_utc
from hub.core.timers import periodic
from hub.runtime import Services
from hub.tables.replicas import HubReplica

HEARTBEAT: Final = 30.0
"""Seconds between two writes of a replica's row."""
GONE_AFTER: Final = timedelta(minutes=5)
FORGET_AFTER: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ReplicaIdentity:
    """This process as a replica: chosen once, when it starts."""

    replica_id: str
    host: str
    pid: int
    started_at: datetime

    @classmethod
    def this_process(cls, now: datetime | None = None) -> ReplicaIdentity:
        return cls(
            replica_id=str(uuid.uuid4()),
            host=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=now or datetime.now(UTC),
        )


def beat(
    session: Session,
    identity: ReplicaIdentity,
    *,
    policy_hash: str,
    policy_loaded_at: datetime,
    now: datetime,
) -> HubReplica:
    """Write ``identity``'s row as seen ``now``, holding the policy ``policy_hash`` (loaded at
    ``policy_loaded_at``), and delete the rows unseen for :data:`FORGET_AFTER`."""
    row = session.get(HubReplica, identity.replica_id)
    if row is None:
        row = HubReplica(
            replica_id=identity.replica_id,
            host=identity.host,
            pid=identity.pid,
            started_at=identity.started_at,
            policy_hash=policy_hash,
            policy_loaded_at=policy_loaded_at,
            last_seen_at=now,
        )
    row.policy_hash, row.policy_loaded_at, row.last_seen_at = policy_hash, policy_loaded_at, now
    session.add(row)
    session.execute(delete(HubReplica).where(col(HubReplica.last_seen_at) < now - FORGET_AFTER))
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """A replica as the policy page shows it."""

    replica: HubReplica
    live: bool
    """Seen within :data:`GONE_AFTER`."""
    same_policy: bool
    """Holds the policy the page's own replica holds."""


def replicas(session: Session, *, policy_hash: str, now: datetime) -> Sequence[ReplicaView]:
    """Every replica seen within :data:`FORGET_AFTER`, live ones first, then by start."""
    rows = session.exec(
        select(HubReplica)
        .where(col(HubReplica.last_seen_at) >= now - FORGET_AFTER)
        .order_by(col(HubReplica.started_at), col(HubReplica.replica_id))
    ).all()
    views = [
        ReplicaView(
            row,
            live=now - as_utc(row.last_seen_at) <= GONE_AFTER,
            same_policy=row.policy_hash == policy_hash,
        )
        for row in rows
    ]
    return sorted(views, key=lambda v: not v.live)


def beat_now(services: Services, identity: ReplicaIdentity) -> None:
    """One beat of this process, in a transaction of its own."""
    with db.transaction(services.engine) as session:
        beat(
            session,
            identity,
            policy_hash=services.policy.hash,
            policy_loaded_at=services.policy_loaded_at,
            now=datetime.now(UTC),
        )


@contextlib.asynccontextmanager
async def replica_timer(
    services: Services, identity: ReplicaIdentity, interval: float = HEARTBEAT
) -> AsyncIterator[None]:
    """Write this replica's row now and every ``interval`` seconds while the block runs."""
    beat_now(services, identity)
    async with periodic("replica", lambda: beat_now(services, identity), interval):
        yield
