"""``/api/v1/webhooks`` outside demo mode: which URLs are accepted, whose subscriptions a client
sees, the secret sealed at rest, and the delivery-time refusal of private addresses (SSRF).
The delivery worker is off in this hub; tests run a :class:`Deliverer` themselves."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from audit.events import Action
from audit.models import AuditEvent
from hub.core import db
from hub.notifications.sealed_secrets import reveal, seal
from hub.notifications.signing import key_of, new_secret
from hub.tables.webhooks import WebhookDelivery, WebhookMessage, WebhookSubscription
from hub.webhooks.delivery import Deliverer, sweep_finished
from tests.fixtures.documents import API, DOCUMENT_BACKENDS, DocumentHub, running_documents_hub
from tests.hub.webhooks.receiver import receiver

_cases = count(4600000001)


@pytest.fixture(scope="module", params=DOCUMENT_BACKENDS)
def dev_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DocumentHub]:
    yield from running_documents_hub(
        request, tmp_path_factory.mktemp("subscriptions"), webhook_poll_seconds=0
    )


def post(hub: DocumentHub, org: str, body: dict[str, Any], scopes: str | None = None) -> Any:
    headers = hub.auth(org) if scopes is None else hub.auth(org, scopes)
    return hub.client.post(f"{API}/webhooks", json=body, headers=headers)


def last_event(hub: DocumentHub, action: Action) -> AuditEvent:
    with Session(hub.hub.services.engine) as session:
        found = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action) == action.value)
            .order_by(col(AuditEvent.seq).desc())
        ).first()
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.org/in", "must be https"),
        ("https://user:pw@hooks.example.org/in", "user name or password"),
        ("https://10.1.2.3/in", "not a public one"),
        ("https://[::1]/in", "not a public one"),
        ("https://169.254.169.254/latest", "not a public one"),
        ("https://hooks.example.org/in#frag", "fragment"),
        ("ftp://hooks.example.org/in", "must be https"),
        ("https:///in", "must name a host"),
        ("https://hooks.example.org:99999/in", "not a valid URL"),
        ("https://hooks.example.org/" + "a" * 2100, "at most 2048"),
    ],
)
def test_a_url_the_hub_will_not_call_is_refused_and_recorded(
    dev_hub: DocumentHub, url: str, why: str
) -> None:
    dev_hub.token("GM0363")  # the token first: its issue is an event of its own
    with Session(dev_hub.hub.services.engine) as session:
        before = session.exec(select(func.max(AuditEvent.seq))).one()
    response = post(dev_hub, "GM0363", {"url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert why in response.json()["detail"]
    event = last_event(dev_hub, Action.WEBHOOK_SUBSCRIBE)
    assert (event.seq > before, event.outcome) == (True, "invalid")
    assert url not in (event.detail or "")  # a partner may have put a token in it


def test_an_unknown_event_type_is_refused(dev_hub: DocumentHub) -> None:
    response = post(
        dev_hub, "GM0363", {"url": "https://hooks.example.org/in", "events": ["share.eaten"]}
    )
    assert response.status_code == 422


def test_a_token_without_documents_read_may_not_subscribe(dev_hub: DocumentHub) -> None:
    response = post(dev_hub, "GM0363", {"url": "https://hooks.example.org/in"}, "shares:write")
    assert response.status_code == 403


def test_a_subscription_is_its_clients_alone_and_its_secret_sealed(dev_hub: DocumentHub) -> None:
    created = post(dev_hub, "GM0363", {"url": "https://hooks.example.org/in"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/api/v1/webhooks/{body['id']}"
    secret = body["secret"]
    assert len(key_of(secret)) == 32
    # Shown once: never again, not in the list nor in the one.
    mine = dev_hub.client.get(f"{API}/webhooks/{body['id']}", headers=dev_hub.auth("GM0363"))
    assert mine.status_code == 200
    assert "secret" not in mine.json()
    listed = dev_hub.client.get(f"{API}/webhooks", headers=dev_hub.auth("GM0363")).json()
    assert body["id"] in [item["id"] for item in listed["items"]]
    assert secret not in str(listed)
    # Another organisation's client, and another client of the same organisation: 404.
    for org, scopes in (("GM0344", None), ("GM0363", "documents:read")):
        headers = dev_hub.auth(org) if scopes is None else dev_hub.auth(org, scopes)
        for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/deliveries")):
            other = dev_hub.client.request(
                method, f"{API}/webhooks/{body['id']}{path}", headers=headers
            )
            assert other.status_code == 404, (org, method, path)
    # At rest: sealed, not the key; the KEK ring opens it.
    services = dev_hub.hub.services
    with Session(services.engine) as session:
        row = session.get(WebhookSubscription, uuid.UUID(body["id"]))
        assert row is not None
        assert row.sealed_secret is not None
        assert key_of(secret) not in row.sealed_secret
        assert reveal(services.keys, row) == secret
    # Removed: the sealed secret is destroyed.
    removed = dev_hub.client.delete(f"{API}/webhooks/{body['id']}", headers=dev_hub.auth("GM0363"))
    assert removed.status_code == 204
    with Session(services.engine) as session:
        row = session.get(WebhookSubscription, uuid.UUID(body["id"]))
        assert row is not None
        assert (row.sealed_secret, row.enabled) == (None, False)
    assert last_event(dev_hub, Action.WEBHOOK_UNSUBSCRIBE).resource_id == body["id"]


def test_a_host_that_resolves_to_loopback_is_refused_at_delivery_and_recorded(
    dev_hub: DocumentHub,
) -> None:
    """``localhost`` passes the subscription's checks (a name), but resolves to loopback: the
    worker refuses to connect and records a failed attempt, to be retried later."""
    created = post(
        dev_hub, "GM0344", {"url": "https://localhost:1/in", "events": ["share.received"]}
    )
    assert created.status_code == 201, created.text
    subscription_id = created.json()["id"]
    shared = dev_hub.share(
        "DTV",
        grantee="GM0344",
        v_number=str(next(_cases)),
        document_types=["travel_document"],
    )
    assert shared.status_code == 201, shared.text
    services = dev_hub.hub.services
    deliverer = Deliverer(
        engine=services.engine, keys=services.keys, demo=False, timeout=2, delays=(60,)
    )
    assert deliverer.run_once() >= 1
    deliveries = dev_hub.client.get(
        f"{API}/webhooks/{subscription_id}/deliveries", headers=dev_hub.auth("GM0344")
    ).json()["items"]
    assert [(d["attempt"], d["status_code"], d["error"]) for d in deliveries] == [
        (1, None, "address_refused")
    ]
    with Session(services.engine) as session:
        (message,) = session.exec(
            select(WebhookMessage).where(
                col(WebhookMessage.subscription_id) == uuid.UUID(subscription_id)
            )
        ).all()
    assert message.delivered_at is None
    assert message.failed_at is None
    assert message.next_attempt_at is not None  # tried again after the first delay


@pytest.mark.postgres
def test_a_message_locked_by_one_replica_is_skipped_by_another(dev_hub: DocumentHub) -> None:
    """On PostgreSQL: while one replica's claim holds a message's row, another's claim passes
    it by (``SKIP LOCKED``) instead of waiting or taking it too."""
    if dev_hub.backend != "postgresql+seaweed":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer at a time")
    created = post(
        dev_hub, "GM0363", {"url": "https://hooks.example.org/in", "events": ["share.received"]}
    )
    assert created.status_code == 201
    subscription_id = uuid.UUID(created.json()["id"])
    shared = dev_hub.share(
        "DTV", grantee="GM0363", v_number=str(next(_cases)), document_types=["travel_document"]
    )
    assert shared.status_code == 201
    services = dev_hub.hub.services

    def replica() -> Deliverer:
        return Deliverer(
            engine=services.engine, keys=services.keys, demo=False, timeout=2, delays=(60,)
        )

    with db.transaction(services.engine) as holding:
        held = holding.exec(
            select(WebhookMessage)
            .where(col(WebhookMessage.subscription_id) == subscription_id)
            .with_for_update()
        ).all()
        assert len(held) == 1
        taken = replica().claim()
        assert held[0].id not in [c.message_id for c in taken]
    # Released: the next claim takes it, once; a claim right after finds it leased.
    first = [c.message_id for c in replica().claim()]
    again = [c.message_id for c in replica().claim()]
    assert held[0].id in first
    assert held[0].id not in again
    with Session(services.engine) as session:
        row = session.get(WebhookMessage, held[0].id)
        assert row is not None
        assert row.attempts == 1
        assert row.next_attempt_at is not None
        assert row.next_attempt_at > datetime.now(UTC)


def test_a_receiver_that_never_answers_is_a_timeout_and_a_redirect_is_not_followed(
    dev_hub: DocumentHub,
) -> None:
    """A listening socket that never answers times out; a 302 is recorded, not followed."""
    services = dev_hub.hub.services
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        with receiver(script=[302]) as moved:
            ids = []
            for url in (f"https://127.0.0.1:{port}/in", moved.url):
                row = _subscription_row(services, "GM0363", url)
                ids.append(row)
            shared = dev_hub.share(
                "DTV",
                grantee="GM0363",
                v_number=str(next(_cases)),
                document_types=["travel_document"],
            )
            assert shared.status_code == 201
            # demo=True here only so that loopback may be called at all.
            deliverer = Deliverer(
                engine=services.engine, keys=services.keys, demo=True, timeout=0.5, delays=(60,)
            )
            deliverer.run_once()
            moved.wait_for(1)
    finally:
        silent.close()
    with Session(services.engine) as session:
        found = {
            subscription_id: [
                (d.status_code, d.error)
                for d in session.exec(
                    select(WebhookDelivery)
                    .join(WebhookMessage, col(WebhookMessage.id) == col(WebhookDelivery.message_id))
                    .where(col(WebhookMessage.subscription_id) == subscription_id)
                ).all()
            ]
            for subscription_id in ids
        }
    assert found == {ids[0]: [(None, "timeout")], ids[1]: [(302, "redirect")]}


def _subscription_row(services: Any, organisation: str, url: str) -> uuid.UUID:
    """A subscription written directly (an https URL to loopback, which the API refuses)."""
    subscription_id = uuid.uuid4()
    kek_id, sealed = seal(services.keys, subscription_id, new_secret())
    with db.transaction(services.engine) as session:
        session.add(
            WebhookSubscription(
                id=subscription_id,
                client_id="a-test-client",
                organisation=organisation,
                url=url,
                events="share.received",
                kek_id=kek_id,
                sealed_secret=sealed,
                created_at=datetime.now(UTC),
            )
        )
    return subscription_id


def test_messages_finished_long_ago_are_swept_with_their_attempts(dev_hub: DocumentHub) -> None:
    services = dev_hub.hub.services
    subscription_id = _subscription_row(services, "GM0344", "https://localhost:1/in")
    shared = dev_hub.share(
        "DTV", grantee="GM0344", v_number=str(next(_cases)), document_types=["travel_document"]
    )
    assert shared.status_code == 201
    Deliverer(
        engine=services.engine, keys=services.keys, demo=False, timeout=1, delays=()
    ).run_once()  # no retries: refused (loopback), given up at once

    def messages() -> list[WebhookMessage]:
        with Session(services.engine) as session:
            return list(
                session.exec(
                    select(WebhookMessage).where(
                        col(WebhookMessage.subscription_id) == subscription_id
                    )
                ).all()
            )

    (message,) = messages()
    assert message.failed_at is not None
    in_29_days = datetime.now(UTC) + timedelta(days=29)
    sweep_finished(services.engine, clock=lambda: in_29_days)
    assert len(messages()) == 1  # kept a month, for the deliveries API
    in_31_days = datetime.now(UTC) + timedelta(days=31)
    assert sweep_finished(services.engine, clock=lambda: in_31_days) >= 1
    assert messages() == []
    with Session(services.engine) as session:
        left = session.exec(
            select(WebhookDelivery).where(col(WebhookDelivery.message_id) == message.id)
        ).all()
    assert left == []
