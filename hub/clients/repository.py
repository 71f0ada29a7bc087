"""Queries on the ``oauth_client`` table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from auth.models import OAuthClient


def get(session: Session, client_id: str) -> OAuthClient | None:
    return session.get(OAuthClient, client_id)


def list_all(session: Session) -> Sequence[OAuthClient]:
    return session.exec(select(OAuthClient).order_by(col(OAuthClient.client_id))).all()


def disabled_ids(session: Session) -> Sequence[str]:
    statement = select(OAuthClient.client_id).where(col(OAuthClient.enabled).is_(False))
    return session.exec(statement).all()


def count_by_organisation(session: Session) -> dict[str, int]:
    statement = select(OAuthClient.organisation, func.count()).group_by(
        col(OAuthClient.organisation)
    )
    return dict(session.exec(statement).all())
