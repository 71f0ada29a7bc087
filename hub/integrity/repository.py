"""The ``audit_verification`` rows: starting one (one running at a time), its progress and
heartbeat, its end, and what the console shows of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.core import db
from hub.tables.integrity import AuditVerification

RUNNING = "running"
INTACT = "intact"
BROKEN = "broken"
FAILED = "failed"
ABANDONED = "abandoned"
FINISHED: Sequence[str] = (INTACT, BROKEN, FAILED)


def get(session: Session, verification_id: str) -> AuditVerification | None:
    return session.get(AuditVerification, verification_id)


def running(session: Session) -> AuditVerification | None:
    statement = select(AuditVerification).where(col(AuditVerification.running) == RUNNING)
    return session.exec(statement).first()


def last_finished(session: Session) -> AuditVerification | None:
    """The newest verification that ran to its end (intact, broken, or failed)."""
    statement = (
        select(AuditVerification)
        .where(col(AuditVerification.state).in_(FINISHED))
        .order_by(col(AuditVerification.started_at).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def abandon_stale(session: Session, *, now: datetime, stale_after: timedelta) -> int:
    """Mark a running verification whose heartbeat is older than ``stale_after`` abandoned
    (its replica stopped, or its thread died); returns how many were."""
    result = session.connection().execute(
        update(AuditVerification)
        .where(col(AuditVerification.running) == RUNNING)
        .where(col(AuditVerification.heartbeat_at) < now - stale_after)
        .values(state=ABANDONED, running=None, finished_at=now)
    )
    return int(result.rowcount or 0)


def start(session: Session, row: AuditVerification) -> bool:
    """Insert ``row`` as the running verification; ``False`` when another one already runs."""
    row.state, row.running = RUNNING, RUNNING
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False  # the savepoint's rollback took the row out of the session again
    return True


def note_progress(engine: Engine, verification_id: str, *, checked: int, now: datetime) -> None:
    """Write the events checked so far and the heartbeat, in a short transaction of its own."""
    with db.transaction(engine) as session:
        session.connection().execute(
            update(AuditVerification)
            .where(col(AuditVerification.id) == verification_id)
            .where(col(AuditVerification.running) == RUNNING)
            .values(checked=checked, heartbeat_at=now)
        )


def finish(
    engine: Engine,
    verification_id: str,
    *,
    state: str,
    now: datetime,
    events: int | None = None,
    first_bad_seq: int | None = None,
    problems: int = 0,
    problem: str | None = None,
) -> bool:
    """End the verification (if it still runs: not marked abandoned meanwhile); returns
    whether it did."""
    values: dict[str, object] = {
        "state": state,
        "running": None,
        "finished_at": now,
        "heartbeat_at": now,
        "first_bad_seq": first_bad_seq,
        "problems": problems,
        "problem": problem,
    }
    if events is not None:
        values |= {"total": events, "checked": events}
    with db.transaction(engine) as session:
        result = session.connection().execute(
            update(AuditVerification)
            .where(col(AuditVerification.id) == verification_id)
            .where(col(AuditVerification.running) == RUNNING)
            .values(**values)
        )
    return bool(result.rowcount)
