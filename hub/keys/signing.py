"""The token signing keys as a kind of sealed secret: sealing, re-sealing and counting them.

The private halves live in ``oauth_signing_key`` (see :mod:`auth.signing`), sealed with the
purpose ``oauth-signing-key:<kid>``. A retired key's sealed half is destroyed when it retires,
so only live keys hold anything under a KEK.
"""

from __future__ import annotations

from typing import Final

from sqlmodel import Session, col, func, select

from auth.models import SigningKey
from storage.keys import KeyProvider, WrappedKey

_PURPOSE: Final = "oauth-signing-key:"  # as :mod:`auth.signing` seals them; rewrap tests both


class KeyRingSealer:
    """Seals the hub's signing keys under the provider's KEKs (``auth.signing.Sealer``)."""

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys

    def seal(self, secret: bytes, *, purpose: str) -> tuple[str, bytes]:
        sealed = self._keys.seal(secret, purpose=purpose)
        return sealed.kek_id, sealed.blob

    def unseal(self, kek_id: str, sealed: bytes, *, purpose: str) -> bytes:
        return self._keys.unseal(WrappedKey(kek_id, sealed), purpose=purpose)


class SealedSigningKeys:
    """The live signing keys, as the key custodian sees them (a ``SealedKind``)."""

    noun: Final = "signing keys"

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys
        self._sealer = KeyRingSealer(keys)

    def held(self, session: Session) -> dict[str, int]:
        statement = (
            select(SigningKey.kek_id, func.count())
            .where(col(SigningKey.retired_at).is_(None))
            .group_by(SigningKey.kek_id)
        )
        return dict(session.exec(statement).all())

    def reseal(self, session: Session) -> int:
        """Move every live signing key to the current KEK, as ``keys rewrap`` does data keys."""
        current = self._keys.current_kek_id()
        statement = select(SigningKey).where(
            col(SigningKey.retired_at).is_(None), SigningKey.kek_id != current
        )
        moved = 0
        for key in session.exec(statement).all():
            purpose = _PURPOSE + key.kid
            secret = self._sealer.unseal(key.kek_id, key.sealed_private_jwk, purpose=purpose)
            key.kek_id, key.sealed_private_jwk = self._sealer.seal(secret, purpose=purpose)
            session.add(key)
            moved += 1
        session.flush()
        return moved
