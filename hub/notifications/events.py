"""The webhook event types and what each message's ``data`` holds.

A message body is the Standard Webhooks envelope ``{"type", "timestamp", "data"}``:
``timestamp`` is when the thing happened (RFC 3339, UTC), not when it was sent. ``data`` is:

- ``share.received``, ``document.added``: a :class:`FeedNotice`, the item the inbox feed
  (``GET /api/v1/inbox``) shows for it, field for field, but without the case share's
  ``v_number``;
- ``share.revoked``, ``share.expiring``: a :class:`ShareNotice`, the share's metadata.

No message names a person: a case share's v-number stays in the hub, and the receiver reads it
with its own token (``GET /api/v1/inbox`` or ``GET /api/v1/shares/{id}``) while the share
grants it (decision 0033). So a webhook sitting in a partner's logs, queues or a debugging
proxy discloses which organisations exchange what, never about whom.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from hub.core.db import as_utc


class EventType(StrEnum):
    SHARE_RECEIVED = "share.received"
    """A share granted to the subscriber's organisation (of a document, or of a case)."""
    SHARE_REVOKED = "share.revoked"
    """A share the organisation received was revoked; it grants nothing from now on."""
    SHARE_EXPIRING = "share.expiring"
    """A share the organisation received ends within 7 days (once per share)."""
    DOCUMENT_ADDED = "document.added"
    """A document was uploaded into a case already shared with the organisation."""


ALL_EVENTS: tuple[EventType, ...] = tuple(EventType)


class FeedNotice(BaseModel):
    """What became visible: the inbox's item (:class:`hub.inbox.schemas.InboxItem`) without
    the v-number."""

    kind: Literal["share_received", "document_added"]
    at: datetime = Field(description="When it became visible: the share made, the upload done")
    share_id: uuid.UUID
    grantor: str
    purpose: str
    expires_at: datetime
    document_id: uuid.UUID | None = Field(description="For a share of one document: which")
    document_types: list[str] | None = Field(description="For a case share: which types")
    document_ids: list[uuid.UUID] = Field(
        description="The documents it made visible that the organisation may read now"
    )


class ShareNotice(BaseModel):
    """A share that ended or ends soon, without the v-number of a case share."""

    share_id: uuid.UUID
    grantor: str
    grantee: str
    purpose: str
    expires_at: datetime
    revoked_at: datetime | None
    document_id: uuid.UUID | None
    document_types: list[str] | None


def envelope(event: EventType, at: datetime, data: FeedNotice | ShareNotice) -> str:
    """The message body, compact JSON, exactly the bytes that are signed and sent."""
    body = {
        "type": event.value,
        "timestamp": as_utc(at).isoformat().replace("+00:00", "Z"),
        "data": data.model_dump(mode="json"),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
