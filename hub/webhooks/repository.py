"""Queries of the subscriptions API: one client's subscriptions, and a subscription's
delivery attempts newest first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, tuple_
from sqlmodel import Session, col, select

from hub.tables.webhooks import WebhookDelivery, WebhookMessage, WebhookSubscription


def owned(session: Session, *, client_id: str, organisation: str) -> Sequence[WebhookSubscription]:
    """The live subscriptions of one client, oldest first."""
    statement = (
        select(WebhookSubscription)
        .where(
            col(WebhookSubscription.client_id) == client_id,
            col(WebhookSubscription.organisation) == organisation,
            col(WebhookSubscription.deleted_at).is_(None),
        )
        .order_by(col(WebhookSubscription.created_at), col(WebhookSubscription.id))
    )
    return session.exec(statement).all()


def count_owned(session: Session, *, client_id: str, organisation: str) -> int:
    statement = select(func.count()).where(
        col(WebhookSubscription.client_id) == client_id,
        col(WebhookSubscription.organisation) == organisation,
        col(WebhookSubscription.deleted_at).is_(None),
    )
    return int(session.exec(statement).one())


def get(session: Session, subscription_id: uuid.UUID) -> WebhookSubscription | None:
    return session.get(WebhookSubscription, subscription_id)


def abandon_pending(session: Session, subscription_id: uuid.UUID, *, now: datetime) -> None:
    """Give up the pending messages of a removed subscription: there is no one to send to."""
    statement = select(WebhookMessage).where(
        col(WebhookMessage.subscription_id) == subscription_id,
        col(WebhookMessage.delivered_at).is_(None),
        col(WebhookMessage.failed_at).is_(None),
    )
    for message in session.exec(statement).all():
        message.failed_at, message.next_attempt_at = now, None
        session.add(message)
    session.flush()


def deliveries(
    session: Session,
    subscription_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[tuple[WebhookDelivery, str]]:
    """The attempts at the subscription's messages, newest first, each with its event type."""
    statement = (
        select(WebhookDelivery, WebhookMessage.type)
        .join(WebhookMessage, col(WebhookMessage.id) == col(WebhookDelivery.message_id))
        .where(col(WebhookMessage.subscription_id) == subscription_id)
    )
    if after is not None:
        statement = statement.where(
            tuple_(col(WebhookDelivery.attempted_at), col(WebhookDelivery.id)) < tuple_(*after)
        )
    statement = statement.order_by(
        col(WebhookDelivery.attempted_at).desc(), col(WebhookDelivery.id).desc()
    )
    return session.exec(statement.limit(limit)).all()
