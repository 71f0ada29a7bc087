"""The inbox: what became visible to an organisation through shares, in a stable order, with a
cursor that any replica can resume; what a person has not seen since their previous visit; and
the shares that end within a week.

The feed has two kinds of item (:class:`~hub.inbox.schemas.InboxItemKind`):

- **share received**: a share granted to the organisation, of one document or of a case, with
  the documents it granted at once;
- **document added**: a document uploaded into a case after that case was shared with the
  organisation (one item per document, however many shares of the case there are).

Only what the organisation may see *now* is in it: the shares and documents come from
:func:`hub.access.listing.granting_shares`, the share path of the one visibility rule, so a
revoked, expired or suspended share (its grantor organisation disabled), a shredded document
and a policy that no longer lets the grantor share or the organisation receive all take their
items out, as they take the documents out of every list. An item that comes back (the grantor
enabled again) comes back at its old position: the feed says what became visible and when, not
when it was last toggled.

Positions are the audit ``seq`` of the event behind each item (see
:mod:`hub.inbox.repository`): gap-free and in commit order across replicas, so a cursor is a
position, and a reader resuming from it never misses an item committed later. The cursor is the
opaque, query-bound kind every list uses (:mod:`hub.web.pagination`); it is bound to the
organisation, so one organisation's cursor is refused for another's feed.

Reading the feed is an audited read (``inbox.read``, its size in ``detail``), as every list
of personal data is; the expiring shares are recorded as a list of shares (``share.list``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from audit.events import Action
from hub.core.db import as_utc
from hub.inbox import repository
from hub.inbox.repository import DOCUMENT, SHARE, Grant, Position
from hub.inbox.schemas import ExpiringShare, InboxItem, InboxItemKind, ShareSide
from hub.rules.model import Policy
from hub.subjects.keys import SubjectProtector
from hub.tables.shares import Share
from hub.trail.recorder import About
from hub.web.pagination import Page, encode_cursor, seq_position
from hub.web.recording import Call, RecordingService

EXPIRING_WITHIN: Final = timedelta(days=7)
_MOST: Final = 2**63 - 1
"""The largest position a cursor may carry: what the database's BIGINT holds."""
_FEED: Final = About("inbox")


@dataclass(frozen=True, slots=True)
class InboxDeps:
    """What the inbox needs from the running hub."""

    policy: Policy
    protector: Callable[[], SubjectProtector]


@dataclass(frozen=True, slots=True)
class NewItems:
    """What is new for a person: the items after their previous visit, oldest first."""

    items: list[InboxItem]
    more: bool
    """More is new than ``items`` holds; the rest stays new until shown."""


class InboxService(RecordingService):
    """The feed of the caller's organisation, for one request."""

    def __init__(self, call: Call, deps: InboxDeps) -> None:
        super().__init__(call)
        self.deps = deps

    def items(self, cursor: str | None, limit: int) -> Page[InboxItem]:
        """The next ``limit`` items after ``cursor`` (``None``: from the start), oldest first.

        Unlike a list, a feed has no last page: ``next_cursor`` is always where to resume,
        after the last item returned (or where ``cursor`` stood, when nothing came after it),
        so a reader polls with it and later sees exactly what was added since. A page shorter
        than ``limit`` means the reader has caught up. A cursor this service did not issue for
        this organisation is refused (400).
        """
        query = {"feed": "inbox", "org": self.caller.party.code}
        after = seq_position(cursor, query, most=_MOST)
        found = self._positions(after, limit)
        resume = found[-1].seq if found else after
        items = self._items(found)
        self.record(Action.INBOX_READ, _FEED, detail=f"{len(items)} items")
        return Page(items, encode_cursor(resume, query))

    def since_last_visit(self, *, user_id: str, visit: str, limit: int) -> NewItems:
        """The items a person has not been shown before their current visit, oldest first.

        ``visit`` names the current visit (the key of the person's web session); it is kept
        only as its hash. The first request of a new visit moves the person's marker up to
        what they were shown so far; every request of the visit then shows the same items and
        whatever came after, so a reload does not empty the list, and what did not fit in
        ``limit`` is still new on the next visit.
        """
        marker = repository.claim_marker(self.session, user_id, now=self.now)
        key = hashlib.sha256(visit.encode()).hexdigest()
        if marker.visit != key:
            marker.visit = key
            marker.shown_after = marker.seen
        found = self._positions(marker.shown_after, limit + 1)
        shown = found[:limit]
        if shown:
            marker.seen = max(marker.seen if marker.seen is not None else -1, shown[-1].seq)
        marker.updated_at = self.now
        self.session.add(marker)
        self.session.flush()
        items = self._items(shown)
        self.record(Action.INBOX_READ, _FEED, detail=f"{len(items)} new items")
        return NewItems(items, more=len(found) > limit)

    def expiring(
        self, *, within: timedelta = EXPIRING_WITHIN, limit: int = 50
    ) -> list[ExpiringShare]:
        """Active shares the organisation granted or received that end within ``within``,
        soonest first (at most ``limit``)."""
        code = self.caller.party.code
        rows = repository.expiring(
            self.session, code=code, now=self.now, until=self.now + within, limit=limit
        )
        types = repository.share_types(self.session, [s.id for s in rows if s.document_id is None])
        found = [
            ExpiringShare(
                share_id=share.id,
                side=ShareSide.GRANTED if share.grantor == code else ShareSide.RECEIVED,
                grantor=share.grantor,
                grantee=share.grantee,
                purpose=share.purpose,
                expires_at=as_utc(share.expires_at),
                document_id=share.document_id,
                # Active shares only: the grantee may see whom a case share is about.
                v_number=self._v_number(share),
                document_types=types.get(share.id) if share.document_id is None else None,
            )
            for share in rows
        ]
        self.record(Action.SHARE_LIST, About(SHARE), detail=f"{len(found)} shares expiring")
        return found

    # -- building items ------------------------------------------------------------------------

    def _positions(self, after: int | None, limit: int) -> list[Position]:
        return repository.positions(
            self.session,
            policy=self.deps.policy,
            party=self.caller.party,
            now=self.now,
            after=after,
            limit=limit,
        )

    def _items(self, positions: Sequence[Position]) -> list[InboxItem]:
        """The items at ``positions``, in their order.

        An item whose share stopped granting since its position was read (a revoke committed
        in between) is left out: it is no longer visible.
        """
        share_ids = [p.ident for p in positions if p.resource_type == SHARE]
        document_ids = [p.ident for p in positions if p.resource_type == DOCUMENT]
        grants = repository.grants(
            self.session,
            policy=self.deps.policy,
            party=self.caller.party,
            now=self.now,
            share_ids=share_ids,
            document_ids=document_ids,
        )
        shares = repository.shares(self.session, [*share_ids, *(g.share_id for g in grants)])
        types = repository.share_types(
            self.session, [s.id for s in shares.values() if s.document_id is None]
        )
        uploaded = repository.upload_times(self.session, document_ids)
        items: list[InboxItem] = []
        for position in positions:
            if position.resource_type == SHARE:
                share = shares.get(position.ident)
                if share is None:
                    continue
                granted = [
                    g.document_id
                    for g in grants
                    if g.share_id == share.id and g.document_seq < g.share_seq
                ]
                item = self._item(
                    position, share, types=types, document_ids=granted, at=share.created_at
                )
            else:
                via = _first_case_share(grants, shares, position)
                if via is None or position.ident not in uploaded:
                    continue
                item = self._item(
                    position,
                    via,
                    types=types,
                    document_ids=[position.ident],
                    at=uploaded[position.ident],
                )
            items.append(item)
        return items

    def _item(
        self,
        position: Position,
        share: Share,
        *,
        types: dict[uuid.UUID, list[str]],
        document_ids: list[uuid.UUID],
        at: datetime,
    ) -> InboxItem:
        case = share.document_id is None
        return InboxItem(
            position=position.seq,
            kind=(
                InboxItemKind.SHARE_RECEIVED
                if position.resource_type == SHARE
                else InboxItemKind.DOCUMENT_ADDED
            ),
            at=as_utc(at),
            share_id=share.id,
            grantor=share.grantor,
            purpose=share.purpose,
            expires_at=as_utc(share.expires_at),
            document_id=share.document_id,
            v_number=self._v_number(share),
            document_types=types.get(share.id) if case else None,
            document_ids=document_ids,
        )

    def _v_number(self, share: Share) -> str | None:
        """A case share's v-number (``None`` for a document share). Only for active shares: a
        former grantee no longer learns whom a share was about."""
        if share.v_number_sealed is None:
            return None
        return self.deps.protector().open(share.v_number_sealed, kind=SHARE, row_id=share.id)


def _first_case_share(
    grants: Sequence[Grant], shares: dict[uuid.UUID, Share], position: Position
) -> Share | None:
    """The oldest case share made before the document at ``position`` that grants it now."""
    for grant in grants:  # in share order for each document
        share = shares.get(grant.share_id)
        if (
            grant.document_id == position.ident
            and grant.share_seq < grant.document_seq
            and share is not None
            and share.document_id is None
        ):
            return share
    return None
