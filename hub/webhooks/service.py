"""Subscribing to webhooks: a partner client registers, lists, reads and removes its endpoints
and reads what was delivered to them; every act recorded.

A subscription belongs to the client that made it (``client_id``, in its organisation): another
client, of the same organisation or not, gets 404 for it, as for one that does not exist. What it
receives is its organisation's news (:mod:`hub.notifications.outbox`), nothing of any other.

- **Subscribing** checks the URL (:mod:`hub.webhooks.urls`: ``https`` outside demo mode, no
  credentials in it), makes a secret, seals it under the KEK ring and shows it once. A refused
  URL is answered 422 and recorded as a refused ``webhook.subscribe``; the URL itself is not
  recorded (a partner may have put a token in its query).
- **Removing** destroys the sealed secret and gives up the subscription's pending messages.
- **Reading** (the list, one subscription, its deliveries) is recorded as ``webhook.read``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from audit.events import Action
from hub.core.db import as_utc
from hub.core.errors import NotFound, Unprocessable
from hub.notifications import sealed_secrets, signing
from hub.notifications.events import ALL_EVENTS, EventType
from hub.tables.webhooks import WebhookSubscription
from hub.trail.recorder import About
from hub.web.pagination import Page, time_id, time_id_position
from hub.web.recording import Call, RecordingService
from hub.webhooks import repository
from hub.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
)
from hub.webhooks.urls import UrlRefused, check_url
from storage.keys import KeyProvider

WEBHOOK: Final = "webhook"
MAX_SUBSCRIPTIONS: Final = 10
"""Per client: each subscription costs a delivery per event, so a client cannot multiply them."""
_NO_SUCH: Final = "no such webhook subscription"


@dataclass(frozen=True, slots=True)
class WebhooksDeps:
    keys: KeyProvider
    demo: bool
    """Demo mode: plain ``http`` and private addresses are accepted (a local receiver)."""


def about(subscription_id: uuid.UUID | None = None) -> About:
    return About(WEBHOOK, str(subscription_id) if subscription_id is not None else None)


def _out(row: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=row.id,
        url=row.url,
        events=[EventType(name) for name in row.event_types],
        enabled=row.enabled,
        created_at=as_utc(row.created_at),
    )


class WebhookService(RecordingService):
    """One client's webhook subscriptions, for one request."""

    def __init__(self, call: Call, deps: WebhooksDeps) -> None:
        super().__init__(call)
        self.deps = deps

    @property
    def _client_id(self) -> str:
        return self.caller.principal.client_id

    @property
    def _organisation(self) -> str:
        return self.caller.party.code

    def subscribe(self, request: SubscriptionIn) -> SubscriptionCreated:
        subscription_id = uuid.uuid4()
        try:
            url = check_url(request.url, demo=self.deps.demo)
        except UrlRefused as exc:
            raise self.refuse(
                Unprocessable(str(exc)), Action.WEBHOOK_SUBSCRIBE, about(), detail="url refused"
            ) from None
        if (
            repository.count_owned(
                self.session, client_id=self._client_id, organisation=self._organisation
            )
            >= MAX_SUBSCRIPTIONS
        ):
            raise self.refuse(
                Unprocessable(f"a client may have at most {MAX_SUBSCRIPTIONS} subscriptions"),
                Action.WEBHOOK_SUBSCRIBE,
                about(),
                detail="too many subscriptions",
            )
        events = sorted(set(request.events or ALL_EVENTS))
        secret = signing.new_secret()
        kek_id, sealed = sealed_secrets.seal(self.deps.keys, subscription_id, secret)
        row = WebhookSubscription(
            id=subscription_id,
            url=url,
            events=",".join(events),
            kek_id=kek_id,
            sealed_secret=sealed,
            enabled=True,
            created_at=self.now,
            client_id=self._client_id,
            organisation=self._organisation,
        )
        self.session.add(row)
        self.session.flush()
        self.record(
            Action.WEBHOOK_SUBSCRIBE, about(subscription_id), detail=f"events {','.join(events)}"
        )
        return SubscriptionCreated(**_out(row).model_dump(), secret=secret)

    def _mine(self, subscription_id: uuid.UUID, action: Action) -> WebhookSubscription:
        row = repository.get(self.session, subscription_id)
        if (
            row is None
            or row.deleted_at is not None
            or row.client_id != self._client_id
            or row.organisation != self._organisation
        ):
            raise self.refuse(NotFound(_NO_SUCH), action, about(subscription_id))
        return row

    def subscriptions(self) -> list[SubscriptionOut]:
        rows = repository.owned(
            self.session, client_id=self._client_id, organisation=self._organisation
        )
        self.record(Action.WEBHOOK_READ, about(), detail=f"{len(rows)} subscriptions")
        return [_out(row) for row in rows]

    def get(self, subscription_id: uuid.UUID) -> SubscriptionOut:
        row = self._mine(subscription_id, Action.WEBHOOK_READ)
        self.record(Action.WEBHOOK_READ, about(subscription_id))
        return _out(row)

    def remove(self, subscription_id: uuid.UUID) -> None:
        row = self._mine(subscription_id, Action.WEBHOOK_UNSUBSCRIBE)
        row.deleted_at, row.enabled, row.sealed_secret = self.now, False, None
        self.session.add(row)
        self.session.flush()
        repository.abandon_pending(self.session, row.id, now=self.now)
        self.record(Action.WEBHOOK_UNSUBSCRIBE, about(subscription_id))

    def deliveries(
        self, subscription_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> DeliveryPage:
        self._mine(subscription_id, Action.WEBHOOK_READ)
        query = {"deliveries": str(subscription_id)}
        rows = repository.deliveries(
            self.session,
            subscription_id,
            after=time_id_position(cursor, query),
            limit=limit + 1,
        )
        page = Page.of(
            rows, limit=limit, query=query, after=lambda r: time_id(r[0].attempted_at, r[0].id)
        )
        self.record(
            Action.WEBHOOK_READ, about(subscription_id), detail=f"{len(page.items)} deliveries"
        )
        items = [
            DeliveryOut(
                message_id=delivery.message_id,
                type=EventType(kind),
                attempt=delivery.attempt,
                attempted_at=as_utc(delivery.attempted_at),
                status_code=delivery.status_code,
                error=delivery.error,
                duration_ms=delivery.duration_ms,
            )
            for delivery, kind in page.items
        ]
        return DeliveryPage(items=items, next_cursor=page.next_cursor)
