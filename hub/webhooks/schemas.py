"""Shapes of ``/api/v1/webhooks``: a subscription asked for, shown, and its delivery attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.notifications.events import EventType


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        description="Where to POST the events: `https` (plain `http` only in demo mode), at "
        "most 2,048 characters, no user or password in it",
    )
    events: list[EventType] | None = Field(
        default=None,
        min_length=1,
        description="The event types wanted; default all of them",
    )


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[EventType]
    enabled: bool
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`, Standard Webhooks). Shown this once: the hub "
        "keeps it sealed and never shows it again"
    )


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    """One attempt at delivering one message."""

    message_id: str = Field(description="The message's `webhook-id`, the same on every attempt")
    type: EventType
    attempt: int
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered")
    error: str | None = Field(
        description="Why no answer counted: `timeout`, `connect`, `address_refused` (the host "
        "resolves to a private address), `redirect`, `status` (a non-2xx answer) …"
    )
    duration_ms: int


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
