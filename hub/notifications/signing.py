"""Signing a webhook per Standard Webhooks 1.0 (https://www.standardwebhooks.com/).

Wire format: three headers on the ``POST``,

- ``webhook-id``: the message id (``msg_…``), the same on every attempt of one message;
- ``webhook-timestamp``: the attempt's time, integer Unix seconds;
- ``webhook-signature``: ``v1,`` and base64 of HMAC-SHA256 under the secret's key over
  ``f"{webhook-id}.{webhook-timestamp}.{body}"``.

The secret is ``whsec_`` followed by base64 of the key (32 random bytes here). A receiver
checks the signature in constant time and refuses a timestamp far from its clock (the
reference libraries allow 5 minutes), which bounds a replay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Final

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_KEY_BYTES: Final = 32


def new_secret() -> str:
    """A new signing secret, ``whsec_`` + base64 of 32 random bytes."""
    return secret_of(secrets.token_bytes(_KEY_BYTES))


def secret_of(key: bytes) -> str:
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def key_of(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret carries; :class:`ValueError` for anything else."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("not a whsec_ secret")
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("not a whsec_ secret") from None


def signature(key: bytes, *, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(key: bytes, *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers and the content type of one attempt."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id=message_id, timestamp=timestamp, body=body),
    }
