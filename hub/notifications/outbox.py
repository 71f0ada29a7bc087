"""The outbox: webhook messages written in the same transaction as the change they tell of.

The documents, shares and uploads services call these functions right after they flush their
change, in their own session; they never commit (the request does). So a message exists
exactly when its change committed: a rolled-back share sends nothing, and a committed one is
never lost to a crash between "commit" and "send", which a send after commit would risk. The
delivery worker (:mod:`hub.webhooks.delivery`) takes the rows from there.

- :func:`share_granted`: ``share.received`` to the grantee's subscriptions;
- :func:`share_revoked`: ``share.revoked`` to the grantee's subscriptions;
- :func:`document_added`: ``document.added`` to the subscriptions of each organisation an
  active case share now grants the new document to (one message per organisation, about the
  oldest such share, as the inbox shows it);
- :func:`expiring_shares` (a periodic job): ``share.expiring`` once per share and
  subscription, for active shares that end within 7 days.

Who is told is decided by the one visibility rule (:func:`hub.access.listing.granting_shares`),
so a webhook and the inbox feed never disagree on what became visible. Each function returns
the number of messages it queued; an organisation without subscriptions costs one query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, and_, exists
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from hub.access.listing import granting_shares
from hub.access.repository import active, grantor_is_share_grantor, shares_case
from hub.core.db import as_utc
from hub.notifications.events import EventType, FeedNotice, ShareNotice, envelope
from hub.rules.model import Party, Policy
from hub.tables.documents import Document
from hub.tables.organisations import Organisation, OrganisationKind
from hub.tables.shares import Share, ShareType
from hub.tables.webhooks import WebhookMessage, WebhookSubscription

EXPIRING_WITHIN: Final = timedelta(days=7)
_EXPIRING_BATCH: Final = 1000


def new_message_id() -> str:
    """A Standard Webhooks message id: ``msg_`` and 32 hex digits."""
    return f"msg_{uuid.uuid4().hex}"


def share_granted(session: Session, share: Share, *, policy: Policy, now: datetime) -> int:
    """Queue ``share.received`` for the grantee of the new ``share`` (flushed, with its types)."""
    subscriptions = _subscriptions(session, [share.grantee], EventType.SHARE_RECEIVED)
    if not subscriptions:
        return 0
    party = _party(session, share.grantee)
    granted = _granted_documents(session, policy, party, now, share_id=share.id)
    notice = FeedNotice(
        kind="share_received",
        at=as_utc(share.created_at),
        share_id=share.id,
        grantor=share.grantor,
        purpose=share.purpose,
        expires_at=as_utc(share.expires_at),
        document_id=share.document_id,
        document_types=_types(session, share),
        document_ids=granted,
    )
    body = envelope(EventType.SHARE_RECEIVED, share.created_at, notice)
    return _queue(
        session, subscriptions, EventType.SHARE_RECEIVED, body, share_id=share.id, now=now
    )


def share_revoked(session: Session, share: Share, *, now: datetime) -> int:
    """Queue ``share.revoked`` for the grantee of ``share``, just revoked (call it once: when
    ``revoked_at`` was set, not on a repeated revoke)."""
    subscriptions = _subscriptions(session, [share.grantee], EventType.SHARE_REVOKED)
    if not subscriptions:
        return 0
    body = envelope(EventType.SHARE_REVOKED, share.revoked_at or now, _share_notice(session, share))
    return _queue(session, subscriptions, EventType.SHARE_REVOKED, body, share_id=share.id, now=now)


def document_added(session: Session, document: Document, *, policy: Policy, now: datetime) -> int:
    """Queue ``document.added`` for every organisation that an active case share now grants
    the new ``document`` (flushed) to."""
    if document.v_index is None:
        return 0
    case_shares = (
        select(Share.grantee)
        .join(Organisation, grantor_is_share_grantor())
        .where(
            col(Share.document_id).is_(None),
            active(now),
            shares_case(
                v_index=document.v_index,
                document_type=document.document_type,
                uploader=document.uploader,
            ),
        )
        .distinct()
    )
    grantees = sorted(session.exec(case_shares).all())
    subscriptions = _subscriptions(session, grantees, EventType.DOCUMENT_ADDED)
    queued = 0
    for grantee in sorted({s.organisation for s in subscriptions}):
        party = _party(session, grantee)
        via = _oldest_case_share(session, policy, party, now, document_id=document.id)
        if via is None:
            continue  # the policy no longer lets a grantor share it, or the party receive it
        notice = FeedNotice(
            kind="document_added",
            at=as_utc(document.created_at),
            share_id=via.id,
            grantor=via.grantor,
            purpose=via.purpose,
            expires_at=as_utc(via.expires_at),
            document_id=None,
            document_types=_types(session, via),
            document_ids=[document.id],
        )
        body = envelope(EventType.DOCUMENT_ADDED, document.created_at, notice)
        mine = [s for s in subscriptions if s.organisation == grantee]
        queued += _queue(session, mine, EventType.DOCUMENT_ADDED, body, share_id=via.id, now=now)
    return queued


def expiring_shares(session: Session, *, now: datetime, within: timedelta = EXPIRING_WITHIN) -> int:
    """Queue ``share.expiring`` for active shares ending by ``now + within``, once per share
    and subscription (a unique key makes two replicas' runs at once queue it once)."""
    already = exists().where(
        col(WebhookMessage.subscription_id) == col(WebhookSubscription.id),
        col(WebhookMessage.share_id) == col(Share.id),
        col(WebhookMessage.type) == EventType.SHARE_EXPIRING.value,
    )
    statement = (
        select(Share, WebhookSubscription)
        .join(Organisation, grantor_is_share_grantor())
        .join(
            WebhookSubscription,
            and_(
                col(WebhookSubscription.organisation) == col(Share.grantee),
                _live_subscription(EventType.SHARE_EXPIRING),
            ),
        )
        .where(active(now), col(Share.expires_at) <= now + within, ~already)
        .order_by(col(Share.expires_at), col(Share.id))
        .limit(_EXPIRING_BATCH)
    )
    queued = 0
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for share, subscription in session.exec(statement).all():
        body = envelope(EventType.SHARE_EXPIRING, now, _share_notice(session, share))
        values = _message(subscription, EventType.SHARE_EXPIRING, body, share_id=share.id, now=now)
        values["dedupe_key"] = f"share.expiring:{share.id}"
        inserted = session.execute(
            insert(WebhookMessage)
            .values(values)
            .on_conflict_do_nothing(index_elements=["subscription_id", "dedupe_key"])
            .returning(col(WebhookMessage.id))
        ).first()
        queued += inserted is not None
    return queued


# -- helpers ---------------------------------------------------------------------------------------


def _live_subscription(event: EventType) -> ColumnElement[bool]:
    return and_(
        col(WebhookSubscription.enabled).is_(True),
        col(WebhookSubscription.deleted_at).is_(None),
        col(WebhookSubscription.events).contains(event.value),
    )


def _subscriptions(
    session: Session, organisations: Sequence[str], event: EventType
) -> list[WebhookSubscription]:
    """The live subscriptions of ``organisations`` that want ``event``."""
    if not organisations:
        return []
    statement = (
        select(WebhookSubscription)
        .where(
            col(WebhookSubscription.organisation).in_(organisations),
            col(WebhookSubscription.enabled).is_(True),
            col(WebhookSubscription.deleted_at).is_(None),
        )
        .order_by(col(WebhookSubscription.created_at), col(WebhookSubscription.id))
    )
    return [s for s in session.exec(statement).all() if event.value in s.event_types]


def _message(
    subscription: WebhookSubscription,
    event: EventType,
    body: str,
    *,
    share_id: uuid.UUID,
    now: datetime,
) -> dict[str, object]:
    return {
        "id": new_message_id(),
        "subscription_id": subscription.id,
        "share_id": share_id,
        "type": event.value,
        "payload": body,
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }


def _queue(
    session: Session,
    subscriptions: Sequence[WebhookSubscription],
    event: EventType,
    body: str,
    *,
    share_id: uuid.UUID,
    now: datetime,
) -> int:
    for subscription in subscriptions:
        values = _message(subscription, event, body, share_id=share_id, now=now)
        session.add(WebhookMessage.model_validate(values))
    session.flush()
    return len(subscriptions)


def _party(session: Session, code: str) -> Party:
    kind = session.exec(select(Organisation.kind).where(col(Organisation.code) == code)).one()
    return Party(code, OrganisationKind(kind))


def _types(session: Session, share: Share) -> list[str] | None:
    if share.document_id is not None:
        return None
    statement = (
        select(ShareType.document_type)
        .where(col(ShareType.share_id) == share.id)
        .order_by(col(ShareType.document_type))
    )
    return list(session.exec(statement).all())


def _share_notice(session: Session, share: Share) -> ShareNotice:
    return ShareNotice(
        share_id=share.id,
        grantor=share.grantor,
        grantee=share.grantee,
        purpose=share.purpose,
        expires_at=as_utc(share.expires_at),
        revoked_at=as_utc(share.revoked_at) if share.revoked_at is not None else None,
        document_id=share.document_id,
        document_types=_types(session, share),
    )


def _granted_documents(
    session: Session, policy: Policy, party: Party, now: datetime, *, share_id: uuid.UUID
) -> list[uuid.UUID]:
    """The live documents ``share_id`` grants ``party`` now, in upload order."""
    granted = granting_shares(policy, party, now)
    if granted is None:
        return []
    pairs = granted.subquery("granted")
    statement = (
        select(pairs.c.document_id)
        .join(Document, col(Document.id) == pairs.c.document_id)
        .where(pairs.c.share_id == share_id)
        .order_by(col(Document.created_at), col(Document.id))
    )
    return list(session.exec(statement).all())


def _oldest_case_share(
    session: Session, policy: Policy, party: Party, now: datetime, *, document_id: uuid.UUID
) -> Share | None:
    """The oldest active case share that grants ``party`` the document now."""
    granted = granting_shares(policy, party, now)
    if granted is None:
        return None
    pairs = granted.subquery("granted")
    statement = (
        select(Share)
        .join(pairs, pairs.c.share_id == col(Share.id))
        .where(pairs.c.document_id == document_id, col(Share.document_id).is_(None))
        .order_by(col(Share.created_at), col(Share.id))
        .limit(1)
    )
    return session.exec(statement).first()
