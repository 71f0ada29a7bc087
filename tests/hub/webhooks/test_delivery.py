"""Webhooks end to end: a share or an upload through the API writes the outbox, the hub's own
worker (started in its lifespan) delivers it to a real HTTP receiver on 127.0.0.1, and the
``standardwebhooks`` package (the specification's reference library, not the hub's code)
verifies each signature. Demo mode, the only one that lets a subscription reach loopback over
plain http; SQLite with the filesystem store and PostgreSQL with SeaweedFS."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any, TypeVar

import pytest
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from hub.config.settings import Environment
from hub.tables.webhooks import WebhookMessage
from hub.webhooks.delivery import queue_expiring
from tests.fixtures.documents import API, DOCUMENT_BACKENDS, DocumentHub, pdf, running_documents_hub
from tests.hub.webhooks.receiver import Received, receiver

_cases = count(4500000001)
T = TypeVar("T")


def new_case() -> str:
    return str(next(_cases))


@pytest.fixture(scope="module", params=DOCUMENT_BACKENDS)
def demo_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DocumentHub]:
    yield from running_documents_hub(
        request,
        tmp_path_factory.mktemp("webhooks"),
        environment=Environment.DEMO,
        webhook_poll_seconds=0.1,
        webhook_retry_delays=(0.1, 0.1, 0.1),
        webhook_expiring_interval=0,  # the test runs the job itself
    )


def eventually(check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """``check()``'s first answer that is not ``None``, polled until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def subscribe(
    hub: DocumentHub, org: str, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = events
    response = hub.client.post(f"{API}/webhooks", json=body, headers=hub.auth(org))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def verified(secret: str, received: Received) -> dict[str, Any]:
    """The payload, once the reference library accepted its signature."""
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


def case_share(hub: DocumentHub, case: str, grantee: str = "GM0363", **kw: Any) -> str:
    response = hub.share(
        "DTV", grantee=grantee, v_number=case, document_types=["travel_document"], **kw
    )
    assert response.status_code == 201, response.text
    share_id: str = response.json()["id"]
    return share_id


def test_every_event_is_delivered_signed_and_verifies(demo_hub: DocumentHub) -> None:
    case = new_case()
    with receiver() as inbox:
        subscription = subscribe(demo_hub, "GM0363", inbox.url)
        assert subscription["secret"].startswith("whsec_")
        assert sorted(subscription["events"]) == [
            "document.added",
            "share.expiring",
            "share.received",
            "share.revoked",
        ]
        before = demo_hub.uploaded("IOM", pdf(), v_number=case)["id"]
        share_id = case_share(demo_hub, case)
        later = demo_hub.uploaded("IOM", pdf(seed=1), v_number=case)["id"]
        revoked = demo_hub.client.delete(f"{API}/shares/{share_id}", headers=demo_hub.auth("DTV"))
        assert revoked.status_code == 204
        arrived = inbox.wait_for(3)

    payloads = [verified(subscription["secret"], r) for r in arrived]
    by_type = {p["type"]: p for p in payloads}
    assert set(by_type) == {"share.received", "document.added", "share.revoked"}
    received = by_type["share.received"]["data"]
    assert (received["kind"], received["share_id"], received["grantor"]) == (
        "share_received",
        share_id,
        "DTV",
    )
    assert received["document_ids"] == [before]
    assert received["document_types"] == ["travel_document"]
    added = by_type["document.added"]["data"]
    assert (added["share_id"], added["document_ids"]) == (share_id, [later])
    assert by_type["share.revoked"]["data"]["revoked_at"] is not None
    # Ids, never the person: the v-number is in no body.
    for r in arrived:
        assert case.encode() not in r.body
        assert r.headers["webhook-id"].startswith("msg_")
    assert len({r.headers["webhook-id"] for r in arrived}) == 3


def test_an_expiring_share_is_announced_once(demo_hub: DocumentHub) -> None:
    with receiver() as inbox:
        subscription = subscribe(demo_hub, "GM0344", inbox.url, events=["share.expiring"])
        share_id = case_share(demo_hub, new_case(), grantee="GM0344", days=3)
        engine = demo_hub.hub.services.engine
        assert queue_expiring(engine) >= 1
        queue_expiring(engine)  # a second run (or another replica's) queues it again: no
        (first,) = inbox.wait_for(1)
        payload = verified(subscription["secret"], first)
    assert (payload["type"], payload["data"]["share_id"]) == ("share.expiring", share_id)
    with Session(engine) as session:
        messages = session.exec(
            select(WebhookMessage).where(
                col(WebhookMessage.subscription_id) == uuid.UUID(subscription["id"]),
                col(WebhookMessage.type) == "share.expiring",
            )
        ).all()
    assert [str(m.share_id) for m in messages] == [share_id]


def test_a_receiver_that_fails_gets_the_message_again_until_it_answers_2xx(
    demo_hub: DocumentHub,
) -> None:
    with receiver(script=[500, 503]) as inbox:
        subscription = subscribe(demo_hub, "GM0363", inbox.url, events=["share.received"])
        case_share(demo_hub, new_case())
        arrived = inbox.wait_for(3)
    assert len({r.headers["webhook-id"] for r in arrived}) == 1  # one message, three attempts
    for r in arrived:
        verified(subscription["secret"], r)

    def three_attempts() -> list[dict[str, Any]] | None:
        response = demo_hub.client.get(
            f"{API}/webhooks/{subscription['id']}/deliveries", headers=demo_hub.auth("GM0363")
        )
        assert response.status_code == 200
        items: list[dict[str, Any]] = response.json()["items"]
        return items if len(items) == 3 else None

    attempts = eventually(three_attempts)
    assert [(a["attempt"], a["status_code"], a["error"]) for a in attempts] == [
        (3, 200, None),
        (2, 503, "status"),
        (1, 500, "status"),
    ]
    assert {a["message_id"] for a in attempts} == {arrived[0].headers["webhook-id"]}


def test_another_organisations_subscription_receives_nothing(demo_hub: DocumentHub) -> None:
    with receiver() as ours, receiver() as theirs:
        mine = subscribe(demo_hub, "GM0363", ours.url, events=["share.received"])
        other = subscribe(demo_hub, "COA", theirs.url)
        share_id = case_share(demo_hub, new_case())
        (arrived,) = ours.wait_for(1)
        assert verified(mine["secret"], arrived)["data"]["share_id"] == share_id
        with Session(demo_hub.hub.services.engine) as session:
            queued = session.exec(
                select(WebhookMessage).where(
                    col(WebhookMessage.subscription_id) == uuid.UUID(other["id"])
                )
            ).all()
        assert queued == []
        assert theirs.received == []


def test_a_removed_subscription_is_sent_nothing_more(demo_hub: DocumentHub) -> None:
    with receiver() as inbox:
        subscription = subscribe(demo_hub, "GM0363", inbox.url, events=["share.received"])
        removed = demo_hub.client.delete(
            f"{API}/webhooks/{subscription['id']}", headers=demo_hub.auth("GM0363")
        )
        assert removed.status_code == 204
        case_share(demo_hub, new_case())
        with Session(demo_hub.hub.services.engine) as session:
            queued = session.exec(
                select(WebhookMessage).where(
                    col(WebhookMessage.subscription_id) == uuid.UUID(subscription["id"])
                )
            ).all()
        assert queued == []
    gone = demo_hub.client.get(
        f"{API}/webhooks/{subscription['id']}", headers=demo_hub.auth("GM0363")
    )
    assert gone.status_code == 404


def test_the_body_is_the_standard_webhooks_envelope(demo_hub: DocumentHub) -> None:
    with receiver() as inbox:
        subscription = subscribe(demo_hub, "GM0344", inbox.url, events=["share.received"])
        document_id = demo_hub.uploaded("IOM", pdf(seed=3), v_number=new_case())["id"]
        response = demo_hub.share("IOM", grantee="GM0344", document_id=document_id)
        assert response.status_code == 201, response.text
        (arrived,) = inbox.wait_for(1)
    verified(subscription["secret"], arrived)
    body = json.loads(arrived.body)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["timestamp"].endswith("Z")
    assert body["data"]["document_id"] == document_id
    assert body["data"]["document_ids"] == [document_id]
    assert "v_number" not in body["data"]
    assert arrived.headers["content-type"] == "application/json"
    assert arrived.path == "/hook"
