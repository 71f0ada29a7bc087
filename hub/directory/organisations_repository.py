"""Queries on the ``organisation`` table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.tables.organisations import Organisation


def get(session: Session, code: str) -> Organisation | None:
    return session.get(Organisation, code)


def is_enabled(session: Session, code: str) -> bool:
    """Whether ``code`` exists and is enabled, read now (not from the cached directory)."""
    statement = select(Organisation.enabled).where(col(Organisation.code) == code)
    return session.exec(statement).first() is True


def list_all(session: Session) -> Sequence[Organisation]:
    return session.exec(select(Organisation).order_by(Organisation.code)).all()


def list_page(session: Session, *, after: str | None, limit: int) -> Sequence[Organisation]:
    statement = select(Organisation).order_by(col(Organisation.code)).limit(limit)
    if after is not None:
        statement = statement.where(col(Organisation.code) > after)
    return session.exec(statement).all()


def insert(session: Session, organisation: Organisation) -> bool:
    """Insert ``organisation``; ``False`` if its code exists already.

    Also ``False`` when a concurrent transaction inserted the same code first: the insert runs
    in a savepoint, so the primary key's refusal leaves the caller's transaction usable (to
    record the refusal, for one). The lookup first answers from the session when the row is
    loaded already, where adding a second object with its key would fail differently.
    """
    if session.get(Organisation, organisation.code) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(organisation)
    except IntegrityError:
        return False
    return True
