"""A document a resumable upload completes into a shared case is announced like a form upload's:
``document.added``, written to the outbox in the completion's transaction, delivered signed per
Standard Webhooks (checked with the ``standardwebhooks`` package)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from hub.config.settings import Environment
from tests.fixtures.documents import API, DOCUMENT_BACKENDS, DocumentHub, pdf, running_documents_hub
from tests.hub.uploads.tus import Tus
from tests.hub.webhooks.receiver import receiver

CASE = "7000000001"


@pytest.fixture(scope="module", params=DOCUMENT_BACKENDS)
def demo_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DocumentHub]:
    """Demo mode: a webhook may go to a plain-http receiver on this machine."""
    yield from running_documents_hub(
        request,
        tmp_path_factory.mktemp("tus-webhooks"),
        environment=Environment.DEMO,
        webhook_poll_seconds=0.1,
        webhook_expiring_interval=0,
    )


def test_a_tus_upload_into_a_shared_case_is_announced(demo_hub: DocumentHub) -> None:
    with receiver() as inbox:
        created = demo_hub.client.post(
            f"{API}/webhooks",
            json={"url": inbox.url, "events": ["document.added"]},
            headers=demo_hub.auth("GM0363"),
        )
        assert created.status_code == 201, created.text
        secret: str = created.json()["secret"]
        shared = demo_hub.share(
            "DTV", grantee="GM0363", v_number=CASE, document_types=["travel_document"]
        )
        assert shared.status_code == 201, shared.text
        last = Tus(demo_hub).send(pdf(1_500_000, seed=11), 600_000, v_number=CASE)
        document_id = last.headers["ketenhub-document-id"]
        (arrived,) = inbox.wait_for(1)
    payload: dict[str, Any] = Webhook(secret).verify(arrived.body, arrived.headers)
    assert payload["type"] == "document.added"
    assert payload["data"]["document_ids"] == [document_id]
    assert payload["data"]["share_id"] == shared.json()["id"]
    assert CASE.encode() not in arrived.body
