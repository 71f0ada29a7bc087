"""Shapes of the inbox: the feed's items and the shares about to expire.

Both are shown to people (the home page) and the items to partner systems (``GET
/api/v1/inbox``; webhooks carry them without the v-number, :mod:`hub.notifications.events`),
so they are API models. A case share names its person by v-number, in bodies only, and only
while the share is active (every item of the feed is).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class InboxItemKind(StrEnum):
    SHARE_RECEIVED = "share_received"
    """A share granted to the organisation: of one document, or of a case."""
    DOCUMENT_ADDED = "document_added"
    """A document uploaded into a case already shared with the organisation."""


class InboxItem(BaseModel):
    """One thing that became visible, with the share that made it so.

    ``document_ids`` are the documents this item made visible that the organisation may read
    now: for a share, those that existed when it was made (later ones are items of their own);
    for an added document, that document.
    """

    position: int = Field(exclude=True)
    """Where the item stands in the feed (see :mod:`hub.inbox.service`); cursors carry it."""
    kind: InboxItemKind
    at: datetime = Field(description="When it became visible: the share made, the upload done")
    share_id: uuid.UUID
    grantor: str
    purpose: str
    expires_at: datetime = Field(description="Until when the share grants it")
    document_id: uuid.UUID | None = Field(description="For a share of one document: which")
    v_number: str | None = Field(description="For a case share: whose documents it covers")
    document_types: list[str] | None = Field(description="For a case share: which types")
    document_ids: list[uuid.UUID]


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None


class ShareSide(StrEnum):
    GRANTED = "granted"
    RECEIVED = "received"


class ExpiringShare(BaseModel):
    """An active share, granted or received, that ends soon."""

    share_id: uuid.UUID
    side: ShareSide
    grantor: str
    grantee: str
    purpose: str
    expires_at: datetime
    document_id: uuid.UUID | None
    v_number: str | None
    document_types: list[str] | None
