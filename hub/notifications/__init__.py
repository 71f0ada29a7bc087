"""Notifications: what the hub tells partners' systems of, written to an outbox in the same
transaction as the change (:mod:`hub.notifications.outbox`), signed per Standard Webhooks
(:mod:`hub.notifications.signing`) with secrets sealed under the KEK ring
(:mod:`hub.notifications.sealed_secrets`). Delivering them is :mod:`hub.webhooks.delivery`'s."""
