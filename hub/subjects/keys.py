"""The v-number's two keys: one for the blind index, one for the sealed copy.

The v-number (vreemdelingennummer) is personal data. The hub stores it in two forms, each under a
key of its own, both sealed under the KEK ring in ``subject_key`` (so every replica uses the same
keys and only the master key file unlocks them):

- **Blind index**: ``HMAC-SHA256(K_bi, "ketenhub/v1 blind-index:" || v_number)``, lowercase hex.
  Equal numbers give equal indexes, so a case can be found by number, but the index reveals
  nothing without the key, and a dictionary of all 10^10 numbers cannot be built without it.
  Separate from the audit trail's pseudonym key, so the two can never be joined by value.
- **Sealed copy**, for showing the number to those who may see the document::

      0x01 (version) || nonce (12, random) || AES-256-GCM(K_v, nonce, v_number, aad)
      aad = "ketenhub/v1 v-number:" || kind || ":" || row id (UUID, 16 bytes)

  Binding the row's id means a sealed number copied onto another row does not open. 12-byte
  random nonces are safe for far more than 2^32 seals short of the birthday bound for this
  number of rows (NIST SP 800-38D §8.3 caps random-nonce use at 2^32 per key).

Neither key rotates: a new blind-index key would need every row re-indexed. They are re-sealed
when the KEK rotates (``ketenhub keys rewrap``), like every other sealed secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import Session, col, select

from audit.events import format_time
from hub.keys.sealed import SealedKeys
from hub.tables.subjects import SubjectKey
from storage.errors import IntegrityError
from storage.keys import KeyProvider

BLIND_INDEX: Final = "blind-index"
V_NUMBER: Final = "v-number"
_PURPOSE: Final = "subject-key:"
_VERSION: Final = b"\x01"
_NONCE: Final = 12
_V_NUMBER_PATTERN: Final = re.compile(r"[0-9]{10}")


def check_v_number(value: str) -> str:
    """Return ``value`` if it is a v-number (exactly 10 ASCII digits), else ``ValueError``.

    ``fullmatch`` on an ASCII class: ``\\d`` would accept other scripts' digits, and ``match``
    with ``$`` a trailing newline.
    """
    if not isinstance(value, str) or _V_NUMBER_PATTERN.fullmatch(value) is None:
        raise ValueError("a v-number is exactly 10 digits")
    return value


@dataclass(frozen=True, slots=True)
class SubjectProtector:
    """Blind-indexes, seals and opens v-numbers under the hub's two subject keys."""

    _index_key: bytes
    _seal_key: AESGCM
    loaded_at: float

    def __repr__(self) -> str:
        return "SubjectProtector(...)"

    def blind_index(self, v_number: str) -> str:
        message = b"ketenhub/v1 blind-index:" + check_v_number(v_number).encode("ascii")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    def seal(self, v_number: str, *, kind: str, row_id: uuid.UUID) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        plaintext = check_v_number(v_number).encode("ascii")
        return _VERSION + nonce + self._seal_key.encrypt(nonce, plaintext, _aad(kind, row_id))

    def open(self, sealed: bytes, *, kind: str, row_id: uuid.UUID) -> str:
        """The v-number; :class:`~storage.errors.IntegrityError` for anything else."""
        if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _VERSION:
            raise IntegrityError
        nonce, ciphertext = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            plaintext = self._seal_key.decrypt(nonce, ciphertext, _aad(kind, row_id))
        except InvalidTag:
            plaintext = None
        if plaintext is None:
            raise IntegrityError
        return plaintext.decode("ascii")


def _aad(kind: str, row_id: uuid.UUID) -> bytes:
    return b"ketenhub/v1 v-number:" + kind.encode("ascii") + b":" + row_id.bytes


class SubjectKeys(SealedKeys[SubjectProtector]):
    """Creates, re-seals and serves the subject keys; cached for ``cache_seconds``."""

    table = SubjectKey
    purpose = _PURPOSE
    noun = "v-number keys"

    def __init__(self, *, keys: KeyProvider, cache_seconds: float = 60.0) -> None:
        super().__init__(keys=keys, cache_seconds=cache_seconds)

    def ensure(self, session: Session) -> list[str]:
        """Create whichever key is missing; returns the kinds created."""
        created = []
        for kind in (BLIND_INDEX, V_NUMBER):
            if _newest(session, kind) is None:
                key_id = f"{kind}-{secrets.token_hex(8)}"
                sealed = self._seal(key_id, secrets.token_bytes(32))
                session.add(
                    SubjectKey(
                        key_id=key_id,
                        kind=kind,
                        sealed_secret=sealed.blob,
                        kek_id=sealed.kek_id,
                        created_at=format_time(self._clock()),
                    )
                )
                created.append(kind)
        session.flush()
        return created

    def load(self, session: Session) -> SubjectProtector:
        index_row, seal_row = _newest(session, BLIND_INDEX), _newest(session, V_NUMBER)
        if index_row is None or seal_row is None:
            raise LookupError("the v-number keys do not exist; run `ketenhub init`")
        return SubjectProtector(
            self._unseal(index_row), AESGCM(self._unseal(seal_row)), self._monotonic()
        )


def _newest(session: Session, kind: str) -> SubjectKey | None:
    statement = (
        select(SubjectKey)
        .where(SubjectKey.kind == kind)
        .order_by(col(SubjectKey.created_at).desc(), col(SubjectKey.key_id).desc())
    )
    return session.exec(statement).first()
