"""Queries on the ``organisation`` table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from hub.organisations.models import Organisation


def get(session: Session, code: str) -> Organisation | None:
    return session.get(Organisation, code)


def list_all(session: Session) -> Sequence[Organisation]:
    return session.exec(select(Organisation).order_by(Organisation.code)).all()


def list_page(session: Session, *, after: str | None, limit: int) -> Sequence[Organisation]:
    statement = select(Organisation).order_by(col(Organisation.code)).limit(limit)
    if after is not None:
        statement = statement.where(col(Organisation.code) > after)
    return session.exec(statement).all()
