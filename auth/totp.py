"""The second factor: time-based one-time passwords (RFC 6238) and recovery codes.

TOTP uses the authenticator apps' defaults (SHA-1, 6 digits, 30 s steps; RFC 6238 with the
HOTP of RFC 4226) on a 160-bit random secret. A code is accepted for the current step and one
step either side (RFC 6238 section 5.2: clocks drift, people type slowly), and at most once:
the caller stores the step of the last accepted code and passes it back as ``last_step``, and a
code of that step or an earlier one is refused (section 5.2: "the verifier MUST NOT accept the
second attempt of the OTP after the successful validation").

Recovery codes are 60 random bits each, shown as three groups of four base32 characters
(``abcd-efgh-ijkm``). They are stored as ``HMAC-SHA256(key, normalised code)``: a code is
random, not chosen, so there is nothing for a slow password hash to protect against guessing
that 2^60 tries do not already rule out; the key (kept sealed with the user's factor, see
:mod:`hub.accounts`) means a copy of the table alone cannot even try.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Final

import pyotp

DIGITS: Final = 6
STEP_SECONDS: Final = 30
WINDOW: Final = 1
SECRET_BYTES: Final = 20
RECOVERY_CODES: Final = 10
_RECOVERY_BYTES: Final = 8  # 64 bits drawn, 60 kept: 12 base32 characters
_RECOVERY_LABEL: Final = b"ketenhub/v1 recovery-code:"


def new_secret() -> str:
    """A new 160-bit secret in base32 (the form apps and provisioning URIs take)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def step_at(moment: datetime) -> int:
    """The RFC 6238 time step ``T`` of ``moment``."""
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The code of ``step`` (for tests and the demo)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def accepted_step(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The step whose code ``code`` is, within one step of ``now`` and later than
    ``last_step``; ``None`` when there is none (wrong, too old, or used already).

    Every candidate step is compared, in constant time, so the time taken does not say which
    step matched.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_at(now)
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        matches = hmac.compare_digest(totp.generate_otp(step), code)
        if matches and (last_step is None or step > last_step) and found is None:
            found = step
    return found


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """``count`` new recovery codes, ``xxxx-xxxx-xxxx`` in lower-case base32."""
    codes = []
    for _ in range(count):
        text = base64.b32encode(secrets.token_bytes(_RECOVERY_BYTES)).decode()[:12].lower()
        codes.append(f"{text[:4]}-{text[4:8]}-{text[8:]}")
    return codes


def normalise_recovery_code(code: str) -> str:
    """What was typed, without spaces and dashes, lower case."""
    return "".join(code.split()).replace("-", "").lower()


def looks_like_recovery_code(code: str) -> bool:
    text = normalise_recovery_code(code)
    return len(text) == 12 and all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in text)


def recovery_code_hash(key: bytes, code: str) -> str:
    """The stored form of a recovery code: lower-case hex of its keyed hash."""
    message = _RECOVERY_LABEL + normalise_recovery_code(code).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
