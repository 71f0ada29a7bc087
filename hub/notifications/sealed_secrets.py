"""Webhook signing secrets, sealed under the KEK ring; never kept in plain text.

A subscription's secret is shown once, in the answer that creates it. The hub needs the key
itself (an HMAC signs with it), so it cannot keep only a hash: it seals the key with the
provider's current KEK under the purpose ``webhook-secret:<subscription id>``, so a sealed
secret copied to another row does not unseal. :class:`SealedWebhookSecrets` is the kind of
sealed secret the key custodian re-seals on ``ketenhub keys rewrap`` and counts before
``keys retire``. A removed subscription's sealed secret is destroyed (``NULL``).
"""

from __future__ import annotations

import uuid
from typing import Final

from sqlmodel import Session, col, func, select

from hub.notifications.signing import key_of, secret_of
from hub.tables.webhooks import WebhookSubscription
from storage.keys import KeyProvider, WrappedKey

_PURPOSE: Final = "webhook-secret:"


def seal(keys: KeyProvider, subscription_id: uuid.UUID, secret: str) -> tuple[str, bytes]:
    """``(kek_id, sealed)`` of a ``whsec_`` secret for the subscription ``subscription_id``."""
    sealed = keys.seal(key_of(secret), purpose=_PURPOSE + str(subscription_id))
    return sealed.kek_id, sealed.blob


def signing_key(keys: KeyProvider, subscription: WebhookSubscription) -> bytes:
    """The subscription's HMAC key; :class:`LookupError` once the subscription is removed."""
    if subscription.sealed_secret is None:
        raise LookupError("the subscription was removed; its secret is destroyed")
    return keys.unseal(
        WrappedKey(subscription.kek_id, subscription.sealed_secret),
        purpose=_PURPOSE + str(subscription.id),
    )


def reveal(keys: KeyProvider, subscription: WebhookSubscription) -> str:
    """The ``whsec_`` form of the subscription's secret (for tests and the creating answer)."""
    return secret_of(signing_key(keys, subscription))


class SealedWebhookSecrets:
    """The live subscriptions' secrets, as the key custodian sees them (a ``SealedKind``)."""

    noun: Final = "webhook secrets"

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys

    def held(self, session: Session) -> dict[str, int]:
        statement = (
            select(WebhookSubscription.kek_id, func.count())
            .where(col(WebhookSubscription.sealed_secret).is_not(None))
            .group_by(col(WebhookSubscription.kek_id))
        )
        return dict(session.exec(statement).all())

    def reseal(self, session: Session) -> int:
        """Move every live secret to the current KEK."""
        current = self._keys.current_kek_id()
        statement = select(WebhookSubscription).where(
            col(WebhookSubscription.sealed_secret).is_not(None),
            col(WebhookSubscription.kek_id) != current,
        )
        moved = 0
        for row in session.exec(statement).all():
            key = signing_key(self._keys, row)
            sealed = self._keys.seal(key, purpose=_PURPOSE + str(row.id))
            row.kek_id, row.sealed_secret = sealed.kek_id, sealed.blob
            session.add(row)
            moved += 1
        session.flush()
        return moved
