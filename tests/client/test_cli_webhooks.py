"""``ketenhub-client webhooks …``: a gemeente subscribes its receiver, is told of a share made
with it, reads the deliveries, and unsubscribes; each answer as ``--json``."""

from __future__ import annotations

import json

from tests.client.conftest import PartnerClient
from tests.hub.webhooks.receiver import receiver


def test_subscribe_receive_list_deliveries_and_remove(
    partner: PartnerClient, gemeente: PartnerClient
) -> None:
    document = partner.hub.served.upload("demo-iom", b"%PDF-1.7 for the gemeente\n")
    with receiver() as hook:
        added = gemeente.run("webhooks", "add", hook.url, "--event", "share.received", "--json")
        assert added.code == 0, added.stderr
        subscription = added.json()
        assert subscription["secret"].startswith("whsec_")
        assert subscription["events"] == ["share.received"]

        shared = partner.run(
            "share", "--document", document["id"], "--to", "GM0363", "--purpose", "terugkeer",
            "--days", "7", "--json",
        )  # fmt: skip
        assert shared.code == 0, shared.stderr
        (delivered,) = hook.wait_for(1, timeout=60)

        assert json.loads(delivered.body)["type"] == "share.received"
        listed = gemeente.run("webhooks", "list", "--json")
        assert subscription["id"] in {item["id"] for item in listed.json()["items"]}
        assert "secret" not in listed.stdout  # shown once, at creation
        deliveries = gemeente.run("webhooks", "deliveries", subscription["id"], "--json")
        assert deliveries.code == 0, deliveries.stderr
        assert any(item["status_code"] == 200 for item in deliveries.json()["items"])

    removed = gemeente.run("webhooks", "remove", subscription["id"], "--json")
    again = gemeente.run("webhooks", "remove", subscription["id"], "--json")

    assert removed.code == 0, removed.stderr
    assert removed.json() == {"id": subscription["id"], "removed": True}
    assert again.code == 2
    assert again.json()["status"] == 404


def test_another_clients_subscription_is_not_found(
    partner: PartnerClient, gemeente: PartnerClient
) -> None:
    with receiver() as hook:
        added = gemeente.run("webhooks", "add", hook.url, "--json")
    assert added.code == 0, added.stderr

    result = partner.run("webhooks", "deliveries", added.json()["id"], "--json")

    assert result.code == 2
    assert result.json()["status"] == 404


def test_a_url_the_hub_refuses_is_exit_2_with_its_reason(gemeente: PartnerClient) -> None:
    result = gemeente.run("webhooks", "add", "ftp://gemeente.example.nl/hook", "--json")

    assert result.code == 2
    assert result.json()["status"] == 422
