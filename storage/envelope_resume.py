"""Encrypting one object across many requests: the envelope format, sealed a segment at a time.

A resumable upload (tus, :mod:`hub.uploads`) receives a document in pieces, possibly over days
and on different replicas, and must keep nothing in plaintext at rest. The result must still be
an ordinary object of :mod:`storage.envelope`, byte for byte (the normal download path reads it,
and Tink can decrypt it once the hub prefix is stripped). That is possible because the total
plaintext size is known from the start: the last segment is known by its position, so every
segment can be sealed, with its final ``last`` flag, as soon as its plaintext is complete.

What this module adds to :mod:`storage.envelope`:

- :func:`new_header` writes the 92-byte object header (hub prefix, Tink header with a fresh salt
  and nonce prefix) once, at the creation of the upload; the caller keeps it (it holds no secret)
  and writes it as the first bytes of the object.
- :class:`Resumed` continues the encryption of an object of ``total`` plaintext bytes from any
  plaintext offset, given the plaintext of the unfinished segment (the *tail*) and that header.
  It yields only whole sealed segments, and hands back the new tail.
- :func:`seal_tail` / :func:`open_tail` keep a tail between requests, encrypted: it is at most
  one segment of plaintext, and the hub never stores plaintext.

Tail wire format::

    offset  size  field
    ------  ----  ----------------------------------------------------------------------------
         0     1  version   0x01
         1    12  nonce     random
        13     …  AES-256-GCM(K_t, nonce, tail plaintext, aad=associated_data || BE64(offset))
                  K_t = HKDF-SHA256(ikm=DEK, salt=empty, length=32,
                                    info=b"ketenhub/v1 upload tail" || associated_data)

``offset`` is the plaintext offset the tail ends at (the upload's offset), so a tail cannot be
replayed at another offset of the same upload, and the associated data binds it to the document,
version and data key as the object is bound. ``K_t`` is separated from the segment key (whose
HKDF info is the bare associated data, starting ``b"ketenhub\\x01"``) and from the commitment key
(info ``b"ketenhub/v1 key commitment"``) by its info, so the tail key never equals either.
A fresh random nonce per tail is safe: a tail is sealed once per request, far below the 2**32
messages the birthday bound allows one GCM key with random nonces.

Every failure to open a tail raises the opaque :class:`~storage.errors.IntegrityError`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.envelope import (
    FIRST_SEGMENT_PLAINTEXT,
    HEADER_SIZE,
    PREFIX_SIZE,
    SEGMENT_PLAINTEXT,
    SEGMENT_SIZE,
    Binding,
    Buffer,
    _open_header,
    _segment_nonce,
    hub_prefix,
)
from storage.errors import IntegrityError

__all__ = [
    "Resumed",
    "SegmentSealer",
    "ciphertext_start",
    "last_segment",
    "new_header",
    "open_tail",
    "seal_tail",
    "segment_capacity",
    "segment_start",
]

_TAG_SIZE: Final = 16
_TINK_HEADER_SIZE: Final = HEADER_SIZE - PREFIX_SIZE
_SALT_SIZE: Final = 32
_NONCE_PREFIX_SIZE: Final = 7
_TAIL_VERSION: Final = 1
_TAIL_NONCE_SIZE: Final = 12
_TAIL_INFO: Final = b"ketenhub/v1 upload tail"


def new_header(
    dek: bytes, binding: Binding, *, randbytes: Callable[[int], bytes] = os.urandom
) -> bytes:
    """The 92-byte header of a new object: hub prefix, Tink header size, salt, nonce prefix.

    ``randbytes`` exists for tests; anything but a CSPRNG in production is catastrophic (see
    :class:`storage.envelope.Encryptor`).
    """
    salt = randbytes(_SALT_SIZE)
    nonce_prefix = randbytes(_NONCE_PREFIX_SIZE)
    if len(salt) != _SALT_SIZE or len(nonce_prefix) != _NONCE_PREFIX_SIZE:
        raise ValueError("randbytes returned the wrong number of bytes")
    return hub_prefix(dek, binding) + _TINK_HEADER_SIZE.to_bytes(1, "big") + salt + nonce_prefix


def segment_capacity(index: int) -> int:
    """Plaintext bytes a full segment ``index`` holds."""
    return FIRST_SEGMENT_PLAINTEXT if index == 0 else SEGMENT_PLAINTEXT


def segment_start(index: int) -> int:
    """The plaintext offset segment ``index`` starts at."""
    return 0 if index == 0 else FIRST_SEGMENT_PLAINTEXT + (index - 1) * SEGMENT_PLAINTEXT


def ciphertext_start(index: int) -> int:
    """The object offset segment ``index``'s ciphertext starts at (after the header)."""
    return HEADER_SIZE if index == 0 else PREFIX_SIZE + index * SEGMENT_SIZE


def segment_of(offset: int) -> int:
    """The segment that holds plaintext byte ``offset``."""
    if offset < FIRST_SEGMENT_PLAINTEXT:
        return 0
    return 1 + (offset - FIRST_SEGMENT_PLAINTEXT) // SEGMENT_PLAINTEXT


def last_segment(total: int) -> int:
    """The index of the last segment of a plaintext of ``total`` bytes (0 for an empty one)."""
    return 0 if total <= FIRST_SEGMENT_PLAINTEXT else segment_of(total - 1)


class SegmentSealer:
    """Seals segments of one object whose header was written by :func:`new_header`.

    The header is checked against the key and binding as a reader would check it (prefix,
    commitment, Tink header size), so a header that does not belong to this key fails here with
    :class:`IntegrityError` instead of producing an object nobody can read.
    """

    __slots__ = ("_aead", "_nonce_prefix")

    def __init__(self, dek: bytes, binding: Binding, header: bytes) -> None:
        self._aead, self._nonce_prefix = _open_header(
            header,
            dek=dek,
            expected_prefix=hub_prefix(dek, binding),
            associated_data=binding.associated_data(),
        )

    def seal(self, index: int, plaintext: Buffer, *, last: bool) -> bytes:
        nonce = _segment_nonce(self._nonce_prefix, index, last=last)
        return self._aead.encrypt(nonce, bytes(plaintext), None)


class Resumed:
    """The encryption of an object of ``total`` plaintext bytes, continued at ``offset``.

    ``tail`` is the plaintext of the unfinished segment that ends at ``offset`` (empty when
    ``offset`` is a segment boundary). :meth:`update` yields the ciphertext of every segment it
    completes, the last one sealed as last; afterwards :attr:`offset` and :attr:`tail` say where
    the next request continues. Bytes beyond ``total`` are a ``ValueError`` before any of them
    is taken.
    """

    __slots__ = ("_buffer", "_index", "_sealer", "offset", "total")

    def __init__(self, sealer: SegmentSealer, *, total: int, offset: int, tail: bytes) -> None:
        if not 0 <= offset <= total or total < 1:
            raise ValueError("offset must lie within a non-empty object")
        index = segment_of(offset - len(tail)) if offset else 0
        if offset - len(tail) != segment_start(index):
            raise ValueError("the tail does not end an unfinished segment at offset")
        self._sealer = sealer
        self.total = total
        self.offset = offset
        self._index = index
        self._buffer = bytearray(tail)

    @property
    def tail(self) -> bytes:
        """The plaintext of the unfinished segment (empty once the object is complete)."""
        return bytes(self._buffer)

    @property
    def index(self) -> int:
        """The segment the next sealed one will be (the one the tail belongs to)."""
        return self._index

    def update(self, data: Buffer) -> Iterator[bytes]:
        view = memoryview(data).cast("B")
        if len(view) > self.total - self.offset:
            raise ValueError("more bytes than the object's length")
        last = last_segment(self.total)
        while view:
            start = segment_start(self._index)
            end = self.total if self._index == last else start + segment_capacity(self._index)
            take = min(end - start - len(self._buffer), len(view))
            self._buffer += view[:take]
            view = view[take:]
            self.offset += take
            if start + len(self._buffer) == end:
                sealed = self._sealer.seal(self._index, self._buffer, last=self._index == last)
                self._buffer = bytearray()
                self._index += 1
                yield sealed


def _tail_key(dek: bytes, binding: Binding) -> AESGCM:
    info = _TAIL_INFO + binding.associated_data()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(dek)
    return AESGCM(key)


def _tail_aad(binding: Binding, offset: int) -> bytes:
    return binding.associated_data() + offset.to_bytes(8, "big")


def seal_tail(
    dek: bytes,
    binding: Binding,
    tail: bytes,
    *,
    offset: int,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """Encrypt the plaintext ``tail`` that ends at plaintext ``offset`` (format above)."""
    nonce = randbytes(_TAIL_NONCE_SIZE)
    if len(nonce) != _TAIL_NONCE_SIZE:
        raise ValueError("randbytes returned the wrong number of bytes")
    sealed = _tail_key(dek, binding).encrypt(nonce, tail, _tail_aad(binding, offset))
    return _TAIL_VERSION.to_bytes(1, "big") + nonce + sealed


def open_tail(dek: bytes, binding: Binding, sealed: bytes, *, offset: int) -> bytes:
    """The plaintext of a tail sealed by :func:`seal_tail` at ``offset``; else IntegrityError."""
    if len(sealed) < 1 + _TAIL_NONCE_SIZE + _TAG_SIZE or sealed[0] != _TAIL_VERSION:
        raise IntegrityError
    nonce, body = sealed[1 : 1 + _TAIL_NONCE_SIZE], sealed[1 + _TAIL_NONCE_SIZE :]
    plaintext: bytes | None = None
    with contextlib.suppress(InvalidTag):
        plaintext = _tail_key(dek, binding).decrypt(nonce, body, _tail_aad(binding, offset))
    if plaintext is None:
        raise IntegrityError
    return plaintext
