"""The ``Idempotency-Key`` header, the caller a key belongs to, and request fingerprints.

The header is an RFC 8941 §3.3.3 sf-string: ``DQUOTE *( unescaped / "\\" ( DQUOTE / "\\" ) )
DQUOTE``, where ``unescaped`` is printable ASCII but ``"`` and ``\\``. The key is the string's
value (escapes undone), 1 to :data:`MAX_KEY_LENGTH` characters. Anything else, two header lines
included, is :class:`MalformedKey` (400): a key the hub read differently from the client would
make a retry a new request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Final

from auth.tokens import Principal
from hub.core.errors import BadRequest, Conflict, HubError, Unprocessable

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
MAX_KEY_LENGTH: Final = 255
_OWS: Final = " \t"


class MalformedKey(BadRequest):
    """The ``Idempotency-Key`` header is not one sf-string of 1 to 255 printable characters."""

    slug = "idempotency-key-malformed"


class KeyReused(Unprocessable):
    """The key was first used for another request (same caller, same operation)."""

    slug = "idempotency-key-reused"


class KeyInProgress(Conflict):
    """The first request with the key is still being processed."""

    slug = "idempotency-key-in-progress"


class AnswerGone(HubError):
    """The key's first answer named a resource that no longer exists (a shredded document)."""

    default_status = 410
    slug = "idempotent-answer-gone"


def parse_key(values: Sequence[str]) -> str | None:
    """The key of the request's ``Idempotency-Key`` header lines, ``None`` without one."""
    if not values:
        return None
    if len(values) != 1:
        raise MalformedKey(f"send one {HEADER} header, not {len(values)}")
    raw = values[0].strip(_OWS)
    malformed = MalformedKey(
        f"{HEADER} must be a quoted string (RFC 8941) of 1 to {MAX_KEY_LENGTH} printable ASCII "
        'characters, such as "8e03978e-40d5-43e8-bc93-6894a57f9324"'
    )
    if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        raise malformed
    key: list[str] = []
    inner = iter(raw[1:-1])
    for char in inner:
        if char == "\\":
            escaped = next(inner, "")
            if escaped not in {'"', "\\"}:
                raise malformed
            key.append(escaped)
        elif char == '"' or not " " <= char <= "~":
            raise malformed
        else:
            key.append(char)
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise malformed
    return "".join(key)


def key_hash(key: str) -> str:
    """What is stored of a key: a client may put anything in it, a v-number too."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def caller_key(principal: Principal) -> str:
    """Whose keys these are: a person's own (whichever client they use), else the client's,
    within the issuer that named it (a partner's client ids are a namespace of their own)."""
    if principal.user_id is not None:
        return f"person:{principal.user_id}"
    return f"client:{principal.partner_issuer or ''}:{principal.client_id}"


JSONScalar = str | int | bool | None
Meaning = Mapping[str, "JSONScalar | Sequence[JSONScalar] | Meaning"]


def fingerprint(meaning: Meaning) -> str:
    """SHA-256 (hex) of the request's meaning as canonical JSON (keys sorted, no spaces).

    Two requests with the same meaning must give the same mapping: normalise first (parsed
    values, not raw text; lists sorted where their order means nothing). Put a v-number's blind
    index in it, never the number: a fingerprint of a 10-digit number could be searched back.
    """
    text = json.dumps(meaning, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
