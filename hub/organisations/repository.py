"""Queries on the ``organisation`` table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, select

from hub.organisations.models import Organisation


def get(session: Session, code: str) -> Organisation | None:
    return session.get(Organisation, code)


def list_all(session: Session) -> Sequence[Organisation]:
    return session.exec(select(Organisation).order_by(Organisation.code)).all()
