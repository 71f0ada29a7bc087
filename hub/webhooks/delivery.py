"""The delivery worker: takes due messages from the outbox and POSTs them, signed, with retries.

Each tick (every ``KETENHUB_WEBHOOK_POLL_SECONDS``, on every replica):

1. **Claim** up to a batch of due messages in a short transaction: pending (neither delivered
   nor given up) with ``next_attempt_at`` passed. On PostgreSQL the rows are locked ``FOR
   UPDATE SKIP LOCKED``, so two replicas claiming at once take different rows; SQLite has one
   writer at a time. A claimed row's attempt count goes up and its ``next_attempt_at`` moves a
   lease ahead, then the transaction commits: no replica takes it again while it is being sent,
   and no transaction stays open during the HTTP call. A worker that dies mid-send leaves the
   message to be retried once the lease has passed: delivery is **at least once**, and
   receivers deduplicate on ``webhook-id``.
2. **Send** each (a few at once): the host is resolved and checked (:mod:`hub.webhooks.urls`,
   no private addresses outside demo), the connection pinned to the checked address, the body
   signed (:mod:`hub.notifications.signing`) with the subscription's unsealed secret. Connect
   and read timeouts are ``KETENHUB_WEBHOOK_TIMEOUT``; redirects are not followed (a 3xx is a
   failure); the answer's body is never read.
3. **Record** the attempt (``webhook_delivery``: time, duration, status or error class) and the
   message's fate in one transaction: a 2xx delivers it; anything else schedules the next try
   after the next delay of ``KETENHUB_WEBHOOK_RETRY_DELAYS`` (with ±10 % jitter, so a receiver
   that was down is not hit by every message at one instant), or gives up after the last.

Every ``KETENHUB_WEBHOOK_EXPIRING_INTERVAL`` the housekeeping job queues ``share.expiring``
and deletes messages finished more than 30 days ago, with their attempts.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
from sqlalchemy import Engine, delete, or_
from sqlmodel import col, select

from hub.config.settings import Environment
from hub.core import db
from hub.notifications import outbox, sealed_secrets, signing
from hub.runtime import Services
from hub.tables.webhooks import WebhookDelivery, WebhookMessage, WebhookSubscription
from hub.webhooks.urls import UrlRefused, resolve
from storage.keys import KeyProvider

logger = logging.getLogger(__name__)

BATCH: Final = 32
PARALLEL: Final = 4
KEEP_FINISHED: Final = timedelta(days=30)
"""How long a delivered or given-up message and its attempts stay readable (deliveries API)."""
SWEEP_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class Claimed:
    """One message taken for one attempt, with what sending it needs."""

    message_id: str
    attempt: int
    payload: str
    url: str
    key: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliverer:
    """Delivers the outbox of one hub (see the module docstring)."""

    def __init__(
        self,
        *,
        engine: Engine,
        keys: KeyProvider,
        demo: bool,
        timeout: float,
        delays: Sequence[float],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._engine = engine
        self._keys = keys
        self._demo = demo
        self._timeout = httpx.Timeout(timeout, pool=timeout)
        self._delays = tuple(delays)
        self._clock = clock
        self._transport = transport
        # Long enough for the batch's sends (connect, write, read each up to the timeout).
        self.lease = timedelta(seconds=4 * timeout * (BATCH / PARALLEL) + 30)

    def run_once(self) -> int:
        """One tick: claim, send, record. Returns how many messages were attempted."""
        claimed = self.claim()
        if not claimed:
            return 0
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="webhook") as pool:
            outcomes = list(pool.map(self.send, claimed))
        for message, result in zip(claimed, outcomes, strict=True):
            self.record(message, result)
        return len(claimed)

    def claim(self) -> list[Claimed]:
        now = self._clock()
        found: list[Claimed] = []
        with db.transaction(self._engine) as session:
            statement = (
                select(WebhookMessage, WebhookSubscription)
                .join(
                    WebhookSubscription,
                    col(WebhookSubscription.id) == col(WebhookMessage.subscription_id),
                )
                .where(
                    col(WebhookMessage.delivered_at).is_(None),
                    col(WebhookMessage.failed_at).is_(None),
                    col(WebhookMessage.next_attempt_at) <= now,
                )
                .order_by(col(WebhookMessage.next_attempt_at))
                .limit(BATCH)
                .with_for_update(skip_locked=True, of=WebhookMessage)
            )
            for message, subscription in session.exec(statement).all():
                if subscription.deleted_at is not None or not subscription.enabled:
                    message.failed_at, message.next_attempt_at = now, None
                    session.add(message)
                    continue
                message.attempts += 1
                message.next_attempt_at = now + self.lease
                session.add(message)
                found.append(
                    Claimed(
                        message_id=message.id,
                        attempt=message.attempts,
                        payload=message.payload,
                        url=subscription.url,
                        key=sealed_secrets.signing_key(self._keys, subscription),
                    )
                )
        return found

    def send(self, message: Claimed) -> Outcome:
        started = time.monotonic()

        def done(status_code: int | None, error: str | None) -> Outcome:
            elapsed = int((time.monotonic() - started) * 1000)
            return Outcome(status_code, error, elapsed)

        try:
            target = resolve(message.url, demo=self._demo)
        except UrlRefused:
            return done(None, "address_refused")
        body = message.payload.encode()
        headers = signing.headers(
            message.key,
            message_id=message.message_id,
            timestamp=int(self._clock().timestamp()),
            body=body,
        )
        headers["host"] = target.host_header
        headers["user-agent"] = "ketenhub-webhooks"
        try:
            with (
                httpx.Client(
                    timeout=self._timeout,
                    follow_redirects=False,
                    trust_env=False,
                    transport=self._transport,
                ) as client,
                client.stream(
                    "POST",
                    target.url,
                    content=body,
                    headers=headers,
                    extensions={"sni_hostname": target.server_name},
                ) as response,
            ):
                status = response.status_code  # the body is never read
        except httpx.TimeoutException:
            return done(None, "timeout")
        except httpx.ConnectError:
            return done(None, "connect")
        except httpx.HTTPError:
            return done(None, "transport")
        if 300 <= status < 400:
            return done(status, "redirect")
        return done(status, None if 200 <= status < 300 else "status")

    def record(self, message: Claimed, result: Outcome) -> None:
        now = self._clock()
        with db.transaction(self._engine) as session:
            session.add(
                WebhookDelivery(
                    message_id=message.message_id,
                    attempt=message.attempt,
                    attempted_at=now,
                    status_code=result.status_code,
                    error=result.error,
                    duration_ms=result.duration_ms,
                )
            )
            row = session.get(WebhookMessage, message.message_id)
            if row is None or row.delivered_at is not None or row.failed_at is not None:
                return
            if result.delivered:
                row.delivered_at, row.next_attempt_at = now, None
            elif message.attempt > len(self._delays):
                row.failed_at, row.next_attempt_at = now, None
                logger.warning(
                    "webhook %s given up after %d attempts", message.message_id, message.attempt
                )
            else:
                delay = self._delays[message.attempt - 1] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not a secret
                row.next_attempt_at = now + timedelta(seconds=delay)
            session.add(row)


def deliverer_of(services: Services) -> Deliverer:
    """The running hub's deliverer, from its settings."""
    settings = services.settings
    return Deliverer(
        engine=services.engine,
        keys=services.keys,
        demo=settings.environment is Environment.DEMO,
        timeout=settings.webhook_timeout,
        delays=settings.webhook_retry_delays,
    )


def queue_expiring(
    engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> int:
    """The periodic job behind ``share.expiring``: queue it for shares ending within 7 days."""
    with db.transaction(engine) as session:
        return outbox.expiring_shares(session, now=clock())


def sweep_finished(
    engine: Engine,
    *,
    keep: timedelta = KEEP_FINISHED,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Delete the messages delivered or given up more than ``keep`` ago, with their attempts;
    returns how many messages went. A ``share.expiring`` message outlives its share's end (at
    most 7 days after it was queued), so the sweep never makes one due again."""
    cutoff = clock() - keep
    with db.transaction(engine) as session:
        finished = select(WebhookMessage.id).where(
            or_(
                col(WebhookMessage.delivered_at) < cutoff,
                col(WebhookMessage.failed_at) < cutoff,
            )
        )
        ids = list(session.exec(finished.limit(SWEEP_BATCH)).all())
        if not ids:
            return 0
        session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.message_id).in_(ids)))
        session.execute(delete(WebhookMessage).where(col(WebhookMessage.id).in_(ids)))
    return len(ids)


def housekeeping(engine: Engine) -> None:
    """The hourly job: queue ``share.expiring``, then sweep what finished long ago."""
    queue_expiring(engine)
    while sweep_finished(engine) == SWEEP_BATCH:
        pass
