"""Queries on the ``oauth_client`` table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from auth.models import OAuthClient


def get(session: Session, client_id: str) -> OAuthClient | None:
    return session.get(OAuthClient, client_id)


def list_all(session: Session) -> Sequence[OAuthClient]:
    return session.exec(select(OAuthClient).order_by(col(OAuthClient.client_id))).all()


def ended(session: Session, *, disabled_since: datetime) -> Sequence[OAuthClient]:
    """The clients that are disabled, or were disabled at or after ``disabled_since``."""
    statement = select(OAuthClient).where(
        or_(col(OAuthClient.enabled).is_(False), col(OAuthClient.disabled_at) >= disabled_since)
    )
    return session.exec(statement).all()


def count_by_organisation(session: Session) -> dict[str, int]:
    statement = select(OAuthClient.organisation, func.count()).group_by(
        col(OAuthClient.organisation)
    )
    return dict(session.exec(statement).all())
