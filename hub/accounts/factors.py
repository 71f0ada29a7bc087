"""People's TOTP secrets as a kind of sealed secret, and the enrolment's QR code.

A secret is sealed under the KEK ring with the purpose ``user-totp:<user_id>``, so a sealed
secret copied onto another account does not unseal. The key custodian counts and re-seals them
(:class:`SealedFactorSecrets`, for ``ketenhub keys rewrap`` and ``retire``), the pending ones of
an enrolment not yet confirmed included.

The recovery codes' key is derived from the secret (``HMAC-SHA256(secret, label)``): it is as
well kept as the secret, and gone with it when the factor is reset.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from collections import Counter
from typing import Final

import segno
from sqlmodel import Session, col, or_, select

from auth.models import UserAccount
from storage.keys import KeyProvider, WrappedKey

_PURPOSE: Final = "user-totp:"
_RECOVERY_KEY_LABEL: Final = b"ketenhub/v1 recovery-code key"


class FactorSealer:
    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys

    def seal(self, user_id: str, secret: str) -> tuple[str, bytes]:
        sealed = self._keys.seal(secret.encode("ascii"), purpose=_PURPOSE + user_id)
        return sealed.kek_id, sealed.blob

    def unseal(self, user_id: str, kek_id: str, blob: bytes) -> str:
        return self._keys.unseal(WrappedKey(kek_id, blob), purpose=_PURPOSE + user_id).decode()


def recovery_key(secret: str) -> bytes:
    raw = base64.b32decode(secret)
    return hmac.new(raw, _RECOVERY_KEY_LABEL, hashlib.sha256).digest()


def qr_svg(uri: str) -> str:
    """The provisioning URI as a standalone SVG document: a path with attributes, no style or
    script. It keeps its ``xmlns``: the page shows it as an image (a ``data:`` URI), and an
    image without the SVG namespace is not drawn (segno's ``svg_inline`` leaves it out)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, svgns=True, nl=False, scale=4)
    return out.getvalue().decode("ascii")


class SealedFactorSecrets:
    """People's TOTP secrets, as the key custodian sees them (a ``SealedKind``)."""

    noun: Final = "user factor secrets"

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys
        self._sealer = FactorSealer(keys)

    def held(self, session: Session) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for kek_id, pending_kek_id in session.exec(
            select(UserAccount.totp_kek_id, UserAccount.pending_totp_kek_id)
        ).all():
            for kek in (kek_id, pending_kek_id):
                if kek is not None:
                    counts[kek] += 1
        return dict(counts)

    def reseal(self, session: Session) -> int:
        current = self._keys.current_kek_id()
        statement = select(UserAccount).where(
            or_(
                col(UserAccount.totp_kek_id) != current,
                col(UserAccount.pending_totp_kek_id) != current,
            )
        )
        moved = 0
        for account in session.exec(statement).all():
            uid = account.user_id
            if account.totp_kek_id not in (None, current) and account.totp_sealed is not None:
                secret = self._sealer.unseal(uid, account.totp_kek_id, account.totp_sealed)
                account.totp_kek_id, account.totp_sealed = self._sealer.seal(uid, secret)
                moved += 1
            pending_kek, pending = account.pending_totp_kek_id, account.pending_totp_sealed
            if pending_kek not in (None, current) and pending is not None:
                secret = self._sealer.unseal(uid, pending_kek, pending)
                account.pending_totp_kek_id, account.pending_totp_sealed = self._sealer.seal(
                    uid, secret
                )
                moved += 1
            session.add(account)
        session.flush()
        return moved
