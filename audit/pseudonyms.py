"""Pseudonyms for the people the audit trail is about.

The trail must say whose documents were touched, without holding the v-number
(vreemdelingennummer: the 10-digit number the immigration chain identifies a foreign national
by), which is personal data. It records ``HMAC-SHA256(pseudonym key, "vreemdelingennummer:" ||
v-number)`` in lowercase hex instead: the same person always gets the same pseudonym, so an
auditor can ask "who accessed this person's documents" with the number in hand, but the number
cannot be recovered from the trail without the key, and a dictionary of all 10^10 numbers cannot
be built without it either. The key is the hub's, separate from the blind-index key used for
document lookup, so the two can never be joined by value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

__all__ = ["SUBJECT_TYPE", "Pseudonymiser"]

SUBJECT_TYPE: Final = "vreemdelingennummer"
_V_NUMBER: Final = re.compile(r"[0-9]{10}")
_KEY_BYTES: Final = 32


class Pseudonymiser:
    """Turns a v-number into its audit pseudonym under one secret key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError(f"the pseudonym key must be {_KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Pseudonymiser(...)"

    def pseudonym(self, v_number: str) -> str:
        if not _V_NUMBER.fullmatch(v_number):
            raise ValueError("a v-number is exactly 10 digits")
        message = f"{SUBJECT_TYPE}:{v_number}".encode("ascii")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
