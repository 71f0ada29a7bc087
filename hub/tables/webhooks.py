"""The webhook tables: subscriptions, the outbox of messages, and every delivery attempt.

``webhook_subscription``
    One endpoint a partner client registered (``client_id``, of ``organisation``): its ``url``,
    the event types it wants (``events``, comma-separated, sorted), and its signing secret,
    sealed under the KEK ring (``kek_id``, ``sealed_secret``, purpose ``webhook-secret:<id>``;
    see :mod:`hub.notifications.sealed_secrets`). A removed subscription keeps its row for the
    deliveries that refer to it, with ``deleted_at`` set and its secret destroyed
    (``sealed_secret`` ``NULL``).

``webhook_message`` (the outbox)
    One message to one subscription, written in the same transaction as the change it tells of
    (:mod:`hub.notifications.outbox`). ``id`` is the Standard Webhooks ``webhook-id``
    (``msg_`` and 32 hex digits), the same on every attempt, so a receiver deduplicates on it.
    ``payload`` is the JSON body ``{"type", "timestamp", "data"}``; it names shares,
    documents and organisations, never a person (no v-number), so it is kept as it is sent.
    ``share_id`` is the share it is about (every event is about one). ``dedupe_key`` makes a
    message once-only where the event must be (``share.expiring``: one per share and
    subscription). A message is pending while ``delivered_at`` and ``failed_at`` are both
    ``NULL``; ``next_attempt_at`` is when a worker may take it next (a worker that takes it
    moves it ahead by a lease, so another replica leaves it alone meanwhile).

``webhook_delivery``
    Every attempt at a message: when, how long it took, and the receiver's status code or the
    class of error (``timeout``, ``connect``, ``address_refused`` ...). Never the response body.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, LargeBinary, Text, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_organisation", "organisation"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: str = Field(max_length=512, index=True)
    organisation: str = Field(max_length=16, foreign_key="organisation.code")
    url: str = Field(max_length=2048)
    events: str = Field(max_length=200)
    kek_id: str = Field(max_length=64)
    sealed_secret: bytes | None = Field(default=None, sa_type=LargeBinary)
    enabled: bool = True
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))

    @property
    def event_types(self) -> list[str]:
        return [name for name in self.events.split(",") if name]


class WebhookMessage(SQLModel, table=True):
    __tablename__ = "webhook_message"
    __table_args__ = (
        Index("ix_webhook_message_due", "next_attempt_at"),
        Index("ix_webhook_message_subscription", "subscription_id", "created_at"),
        UniqueConstraint("subscription_id", "dedupe_key", name="uq_webhook_message_dedupe"),
    )

    id: str = Field(primary_key=True, max_length=36)
    subscription_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="webhook_subscription.id")
    type: str = Field(max_length=32)
    share_id: uuid.UUID = Field(sa_type=Uuid)
    """The share the message is about (for ``document.added``: the share that grants it)."""
    payload: str = Field(sa_type=Text)
    dedupe_key: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    """When a worker may try it next; ``NULL`` once it is delivered or given up."""
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    failed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_message", "message_id", "attempt"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    message_id: str = Field(max_length=36, foreign_key="webhook_message.id")
    attempt: int
    attempted_at: datetime = Field(sa_type=DateTime(timezone=True))
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=32)
    duration_ms: int
