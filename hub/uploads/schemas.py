"""The tus 1.0 protocol's headers: names, values and their parsing.

tus 1.0.0 (https://tus.io/protocols/resumable-upload) carries everything in headers:

- ``Tus-Resumable: 1.0.0`` on every request but ``OPTIONS`` and on every answer; another
  version is answered 412 with ``Tus-Version``.
- ``Upload-Length``: the whole upload's size, a non-negative decimal integer, on creation.
  ``Upload-Defer-Length`` (a length told later) is not supported: the policy and the size limit
  are decided at creation, so the hub must know the size then.
- ``Upload-Metadata``: comma-separated pairs ``key base64(value)``; a key is ASCII without
  spaces or commas and appears once; a key may stand alone (an empty value).
- ``Upload-Offset``: where a ``PATCH`` continues; ``Upload-Checksum: <algorithm> <base64>``
  over one ``PATCH`` body (the checksum extension).

Every malformed value is a :class:`~hub.core.errors.BadRequest` (400) that says which header and
why, never echoing the value (a metadata value may be a v-number).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hub.core.errors import BadRequest, HubError

TUS_VERSION: Final = "1.0.0"
TUS_EXTENSIONS: Final = "creation,termination,checksum,expiration"
CHECKSUM_ALGORITHMS: Final = ("sha256", "sha1")
OFFSET_CONTENT_TYPE: Final = "application/offset+octet-stream"
DOCUMENT_ID_HEADER: Final = "Ketenhub-Document-Id"
METADATA_KEYS: Final = ("document_type", "v_number", "title", "filename")
"""The metadata keys the hub reads; tus lets clients send others, which are ignored."""

_INTEGER: Final = re.compile(r"[0-9]{1,19}")
_KEY: Final = re.compile(r"[\x21-\x2b\x2d-\x7e]+")  # printable ASCII, no space, no comma
_MAX_METADATA: Final = 4096


class ChecksumMismatch(HubError):
    """tus's checksum extension: the body does not match its ``Upload-Checksum``."""

    default_status = 460
    slug = "checksum-mismatch"


def integer(value: str | None, *, header: str) -> int:
    """A tus integer header: decimal digits only (no sign, no spaces), at most 19 of them."""
    if value is None:
        raise BadRequest(f"{header} is required")
    if _INTEGER.fullmatch(value) is None:
        raise BadRequest(f"{header} must be a non-negative decimal integer")
    return int(value)


def metadata(value: str | None) -> dict[str, str]:
    """``Upload-Metadata`` as a dictionary of the keys the hub reads (UTF-8 values)."""
    if value is None or not value.strip():
        return {}
    if len(value) > _MAX_METADATA:
        raise BadRequest(f"Upload-Metadata is longer than {_MAX_METADATA} characters")
    pairs: dict[str, str] = {}
    for item in value.split(","):
        key, _, encoded = item.strip().partition(" ")
        if _KEY.fullmatch(key) is None:
            raise BadRequest("Upload-Metadata: a key must be printable ASCII without spaces")
        if key in pairs:
            raise BadRequest(f"Upload-Metadata: the key {key!r} appears twice")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
            pairs[key] = decoded.decode("utf-8")
        except (binascii.Error, ValueError):
            raise BadRequest(f"Upload-Metadata: the value of {key!r} is not base64 UTF-8") from None
    return {key: pairs[key] for key in METADATA_KEYS if key in pairs}


@dataclass(frozen=True, slots=True)
class Checksum:
    """An ``Upload-Checksum`` header: the algorithm and the digest the body must have."""

    algorithm: str
    digest: bytes

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def checksum(value: str | None) -> Checksum | None:
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise BadRequest(
            f"Upload-Checksum: the algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}"
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Upload-Checksum: the digest is not base64") from None
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise BadRequest(f"Upload-Checksum: a {algorithm} digest has another length")
    return Checksum(algorithm, digest)


def tus_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers every tus answer carries, and ``extra``."""
    return {"Tus-Resumable": TUS_VERSION, **(extra or {})}
