"""HTTP semantics of serving a document's content: ranges, validators, digests, file names.

- **Range** (RFC 9110 §14): one ``bytes=`` range is served as 206 with ``Content-Range``. A range
  set the hub cannot or need not honour (several ranges, another unit, bad syntax) is ignored and
  the whole content served with 200, as §14.2 allows; a satisfiable-looking range that starts at
  or past the end answers 416 with ``Content-Range: bytes */size``. ``If-Range`` with anything
  but the current ETag means "send it all".
- **ETag** is the strong validator ``"<hex sha-256>"``: content never changes under an id.
  ``If-Match`` and ``If-None-Match`` are evaluated against it by :mod:`hub.web.preconditions`.
- **Repr-Digest** (RFC 9530) is ``sha-256=:<base64>:`` of the whole representation, also on a
  206, so a client that resumes a download can check the bytes it put together.
- **Content-Disposition** (RFC 6266 §4.3) carries an ASCII fallback ``filename`` and the exact
  name as ``filename*`` (RFC 8187, UTF-8, percent-encoded), always as ``attachment``, so no
  browser renders uploaded content inline in the hub's origin.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from hub.core.errors import RangeNotSatisfiable

_RANGE: Final = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")
_FALLBACK_UNSAFE: Final = re.compile(r"[^A-Za-z0-9 !#$&+\-.^_`|~()]")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """``[start, end]``, both inclusive, as in ``Content-Range``."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


@dataclass(frozen=True, slots=True)
class Conditions:
    """The request fields that make a content request conditional or partial, as received
    (a list field sent on several lines joined into one value)."""

    if_match: str | None = None
    if_none_match: str | None = None
    range: str | None = None
    if_range: str | None = None


def etag(sha256_hex: str) -> str:
    return f'"{sha256_hex}"'


def repr_digest(sha256_hex: str) -> str:
    return "sha-256=:" + base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii") + ":"


def requested_range(  # noqa: PLR0911 - one return per case of RFC 9110 §14.1.2, in its order
    header: str | None, *, size: int, if_range: str | None, current_etag: str
) -> ByteRange | None:
    """The one range to serve, or ``None`` for the whole content; 416 when unsatisfiable."""
    if header is None:
        return None
    if if_range is not None and if_range.strip() != current_etag:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None  # several ranges, another unit or bad syntax: ignore the header
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range-spec: RFC 9110 §14.1.1 says ignore
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, min(end, size - 1))


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"the range starts past the end of the content ({size} bytes)",
        headers={"Content-Range": f"bytes */{size}"},
    )


def content_disposition(filename: str | None, *, fallback: str) -> str:
    """``attachment`` with an ASCII ``filename`` and, when it differs, the UTF-8 ``filename*``."""
    name = filename or fallback
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = _FALLBACK_UNSAFE.sub("_", ascii_name).strip() or fallback
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        value += "; filename*=UTF-8''" + quote(name, safe="")
    return value
