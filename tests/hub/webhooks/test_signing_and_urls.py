"""The pieces without a hub: Standard Webhooks signatures against the reference library, and
the pinning of a delivery to the address that was checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from hub.notifications.signing import headers, key_of, new_secret, signature
from hub.webhooks.urls import UrlRefused, check_url, resolve


def test_the_signature_is_the_reference_librarys() -> None:
    secret = new_secret()
    body = '{"type":"share.received","timestamp":"2026-12-06T10:00:00Z","data":{}}'
    at = datetime(2026, 12, 6, 10, 0, 1, tzinfo=UTC)
    ours = signature(
        key_of(secret), message_id="msg_1", timestamp=int(at.timestamp()), body=body.encode()
    )
    assert ours == Webhook(secret).sign("msg_1", at, body)


def test_a_tampered_body_or_another_secret_does_not_verify() -> None:
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())
    sent = headers(key_of(secret), message_id="msg_2", timestamp=now, body=b'{"a":1}')
    Webhook(secret).verify(b'{"a":1}', sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(b'{"a":1}', sent)


def test_a_secret_of_another_format_is_refused() -> None:
    for bad in ("sk_abc", "whsec_not base64!"):
        with pytest.raises(ValueError, match="whsec_"):
            key_of(bad)


def test_a_delivery_connects_to_the_checked_address_with_the_name_kept() -> None:
    target = resolve("http://localhost:8080/in?x=1", demo=True)
    assert target.url in ("http://127.0.0.1:8080/in?x=1", "http://[::1]:8080/in?x=1")
    assert (target.host_header, target.server_name) == ("localhost:8080", "localhost")


def test_outside_demo_loopback_and_private_names_are_refused_at_delivery() -> None:
    for url in ("https://localhost/in", "https://127.0.0.1/in", "https://[::ffff:10.0.0.1]/in"):
        with pytest.raises(UrlRefused, match="not a public one"):
            resolve(url, demo=False)


def test_demo_accepts_http_and_loopback_and_production_does_not() -> None:
    assert check_url("http://127.0.0.1:9000/in", demo=True)
    for url in ("http://127.0.0.1:9000/in", "https://127.0.0.1/in", "https://[fe80::1]/in"):
        with pytest.raises(UrlRefused):
            check_url(url, demo=False)
    assert check_url("https://hooks.example.org/in", demo=False)
