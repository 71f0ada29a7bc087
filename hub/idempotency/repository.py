"""Every query on ``idempotency_key`` (:mod:`hub.tables.idempotency`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from hub.tables.idempotency import IdempotencyKey

IN_PROGRESS = "in_progress"
DONE = "done"

Scope = tuple[str, str, str]
"""(caller, operation, key_hash): one row."""


def _where(scope: Scope) -> list[Any]:
    caller, operation, key_hash = scope
    return [
        col(IdempotencyKey.caller) == caller,
        col(IdempotencyKey.operation) == operation,
        col(IdempotencyKey.key_hash) == key_hash,
    ]


def insert_claim(session: Session, scope: Scope, values: Mapping[str, Any]) -> bool:
    """Insert the claim unless a row for ``scope`` exists; whether it was inserted.

    The primary key decides between two replicas inserting at once: one row is kept, and the
    other's ``ON CONFLICT DO NOTHING`` inserts nothing (PostgreSQL waits for the first to commit).
    """
    caller, operation, key_hash = scope
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(IdempotencyKey)
        .values(caller=caller, operation=operation, key_hash=key_hash, **values)
        .on_conflict_do_nothing(index_elements=["caller", "operation", "key_hash"])
        # psycopg reports no rowcount for an INSERT ... ON CONFLICT; a returned row is the sign.
        .returning(col(IdempotencyKey.key_hash))
    )
    return session.connection().execute(statement).first() is not None


def locked(session: Session, scope: Scope) -> IdempotencyKey | None:
    """The row of ``scope``, locked for the rest of the transaction."""
    statement = (
        select(IdempotencyKey)
        .where(*_where(scope))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()


def update_claimed(
    session: Session, scope: Scope, token: uuid.UUID, values: Mapping[str, Any]
) -> bool:
    """Set ``values`` on the row if ``token`` still holds its claim; whether it did."""
    statement = (
        update(IdempotencyKey)
        .where(*_where(scope), col(IdempotencyKey.token) == token)
        .where(col(IdempotencyKey.state) == IN_PROGRESS)
        .values(**values)
    )
    result = session.connection().execute(statement)
    return result.rowcount == 1


def delete_claim(session: Session, scope: Scope, token: uuid.UUID) -> bool:
    """Delete the row if ``token`` still holds it in progress; whether it did."""
    statement = delete(IdempotencyKey).where(
        *_where(scope),
        col(IdempotencyKey.token) == token,
        col(IdempotencyKey.state) == IN_PROGRESS,
    )
    result = session.connection().execute(statement)
    return result.rowcount == 1


def delete_expired(session: Session, *, now: datetime) -> int:
    statement = delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) <= now)
    result = session.connection().execute(statement)
    return result.rowcount
