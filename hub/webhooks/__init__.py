"""Webhooks: partners' subscriptions (``/api/v1/webhooks``) and the worker that delivers the
outbox (:mod:`hub.notifications.outbox`) to them, signed per Standard Webhooks."""
