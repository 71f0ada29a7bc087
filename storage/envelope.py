"""Streaming envelope encryption of document bodies: a key-committing prefix on a Tink stream.

Every stored object is a 52-byte *hub prefix* followed by an unmodified Google Tink streaming AEAD
``AES256_GCM_HKDF_1MB`` ciphertext. Tink gives us a reviewed, interoperable segment format (any
Tink implementation can decrypt a body once the prefix is stripped); the prefix adds what Tink
lacks: a version byte to dispatch on, the id of the data key, and a key commitment. AES-GCM is
not key-committing, so without the commitment one ciphertext could be crafted to decrypt
validly under two different keys (invisible salamanders); the commitment is checked before any
segment is touched.

Wire format (all integers big-endian)::

    offset  size  field
    ------  ----  -----------------------------------------------------------------------------
         0     1  version      0x01; parsers dispatch on this byte before reading anything else
         1     3  magic        b"KHE"
         4    16  dek_id       id of the data key (DEK), random, chosen by the key provider
        20    32  commitment   HMAC-SHA256(K_c, bytes[0:20] || associated_data)
                               K_c = HKDF-SHA256(ikm=DEK, salt=empty, length=32,
                                                 info=b"ketenhub/v1 key commitment")
    ---- Tink AES256_GCM_HKDF_1MB stream (byte 52 onwards) -------------------------------------
        52     1  header size  0x28 (40, the size of the Tink header including this byte)
        53    32  salt         random, per object
        85     7  nonce prefix random, per object
        92     …  segments     AES-256-GCM(K_s, nonce_i, plaintext_i, aad=empty) = ct_i || tag_i
                               K_s     = HKDF-SHA256(ikm=DEK, salt=salt, info=associated_data,
                                                     length=32)
                               nonce_i = nonce_prefix || BE32(i) || (0x01 if last else 0x00)

Segments are 1 MiB (1,048,576 bytes) of ciphertext including the 16-byte tag, counted from
byte 52, so the first one, which shares its megabyte with the 40-byte Tink header, carries
1,048,520 plaintext bytes and every later one 1,048,560. Only the last segment may be shorter;
it is empty (a bare tag) only when the whole plaintext is empty, as Tink itself writes it. The
last-segment flag in the nonce makes truncation at a segment boundary detectable and the index
makes reordering detectable.

Associated data, fixed length (45 bytes), canonical, never containing a KEK id so that re-wrapping
a DEK under a new KEK leaves every object valid::

    b"ketenhub" (8) || 0x01 format version (1) || document_id (16, UUID bytes)
                    || BE32(document version) (4) || dek_id (16)

It is not stored; the reader supplies the :class:`Binding` it expects, so an object copied to
another document, version or key fails to authenticate.

Guarantees. Decryption releases the plaintext of a segment only after its tag has verified;
every failure (prefix, commitment, header, tag, truncation, extension, reordering) raises the same
:class:`~storage.errors.IntegrityError` and the decryptor refuses any further use. The segment
key is fresh per object (random 256-bit salt), so the 7-byte random nonce prefix never has to be
unique across objects; within an object the index keeps nonces distinct. Memory is bounded by
one segment per stream whatever the object size.

Random access, decrypting one plaintext byte range without starting at byte 0, lives in
:mod:`storage.envelope_range`; it shares this module's header check and segment opening.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.errors import IntegrityError

__all__ = [
    "FIRST_SEGMENT_PLAINTEXT",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "PREFIX_SIZE",
    "SEGMENT_PLAINTEXT",
    "SEGMENT_SIZE",
    "Binding",
    "Decryptor",
    "Encryptor",
    "PlaintextDigest",
    "adecrypt",
    "aencrypt",
    "ciphertext_size",
    "decrypt",
    "decrypt_reads",
    "encrypt",
    "hub_prefix",
    "plaintext_size",
]

Buffer: TypeAlias = bytes | bytearray | memoryview

FORMAT_VERSION: Final = 1
MAGIC: Final = b"KHE"
SEGMENT_SIZE: Final = 1 << 20
PREFIX_SIZE: Final = 52
_TINK_HEADER_SIZE: Final = 40
HEADER_SIZE: Final = PREFIX_SIZE + _TINK_HEADER_SIZE
_TAG_SIZE: Final = 16
FIRST_SEGMENT_PLAINTEXT: Final = SEGMENT_SIZE - _TINK_HEADER_SIZE - _TAG_SIZE  # 1_048_520
SEGMENT_PLAINTEXT: Final = SEGMENT_SIZE - _TAG_SIZE  # 1_048_560

_KEY_SIZE: Final = 32
_DEK_ID_SIZE: Final = 16
_SALT_SIZE: Final = 32
_NONCE_PREFIX_SIZE: Final = 7
_NONCE_SIZE: Final = 12
# BE32 segment index: 2**32 segments (about 4 PiB) is the most one object can hold.
_MAX_SEGMENTS: Final = 1 << 32
_AD_LABEL: Final = b"ketenhub"
# Domain separation from the segment key, which is HKDF of the same DEK: that info is the 45-byte
# associated data starting b"ketenhub\x01", this one starts b"ketenhub/", so the two HKDF-Expand
# inputs differ even if a forged header sets salt = 32 zero bytes (the HKDF default salt).
_COMMITMENT_INFO: Final = b"ketenhub/v1 key commitment"


@dataclass(frozen=True, slots=True)
class Binding:
    """What a ciphertext is bound to; the reader must present the same binding to decrypt.

    ``version`` is the document version, ``0 <= version < 2**32``; ``dek_id`` is the 16-byte id
    of the data key, also written in clear into the hub prefix.
    """

    document_id: uuid.UUID
    version: int
    dek_id: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.document_id, uuid.UUID):
            raise TypeError("document_id must be a uuid.UUID")
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise TypeError("version must be an int")
        if not 0 <= self.version < 1 << 32:
            raise ValueError("version must be in [0, 2**32)")
        if not isinstance(self.dek_id, bytes):
            raise TypeError("dek_id must be bytes")
        if len(self.dek_id) != _DEK_ID_SIZE:
            raise ValueError(f"dek_id must be {_DEK_ID_SIZE} bytes")

    def associated_data(self) -> bytes:
        """The canonical 45-byte associated data described in the module docstring."""
        return b"".join(
            (
                _AD_LABEL,
                FORMAT_VERSION.to_bytes(1, "big"),
                self.document_id.bytes,
                self.version.to_bytes(4, "big"),
                self.dek_id,
            )
        )


@dataclass(frozen=True, slots=True)
class PlaintextDigest:
    """SHA-256 and length of the plaintext, computed while it was encrypted."""

    sha256: bytes
    size: int


def ciphertext_size(plaintext_size: int) -> int:
    """Exact size of the stored object, hub prefix included, for a plaintext of this size."""
    if plaintext_size < 0:
        raise ValueError("plaintext_size must not be negative")
    # A full first segment is the last one when nothing follows it, hence ceil over the rest.
    later = plaintext_size - FIRST_SEGMENT_PLAINTEXT
    segments = 1 + max(0, -(-later // SEGMENT_PLAINTEXT))
    if segments > _MAX_SEGMENTS:
        raise ValueError("plaintext exceeds the format's 2**32 segments")
    return HEADER_SIZE + plaintext_size + segments * _TAG_SIZE


def plaintext_size(ciphertext_size: int) -> int:
    """Inverse of :func:`ciphertext_size`; :class:`IntegrityError` if no object has this size.

    The encoding is canonical (a later segment is never empty), so each plaintext size has
    exactly one ciphertext size and vice versa.
    """
    if ciphertext_size < 0:
        raise ValueError("ciphertext_size must not be negative")
    stream = ciphertext_size - PREFIX_SIZE
    segments = -(-stream // SEGMENT_SIZE)  # segment boundaries are counted from the Tink header
    last = stream - (segments - 1) * SEGMENT_SIZE
    minimum_last = _TINK_HEADER_SIZE + _TAG_SIZE if segments == 1 else _TAG_SIZE + 1
    if segments < 1 or segments > _MAX_SEGMENTS or last < minimum_last:
        raise IntegrityError
    return stream - _TINK_HEADER_SIZE - segments * _TAG_SIZE


def hub_prefix(dek: bytes, binding: Binding) -> bytes:
    """The 52-byte hub prefix (version, magic, dek_id, commitment) for ``dek`` and ``binding``.

    Public so that a body written by Tink itself can be given a prefix (see the compatibility
    tests); the prefix depends only on the key and the binding, never on the body.
    """
    _check_dek(dek)
    head = FORMAT_VERSION.to_bytes(1, "big") + MAGIC + binding.dek_id
    commitment_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=_COMMITMENT_INFO
    ).derive(dek)
    commitment = hmac.digest(commitment_key, head + binding.associated_data(), "sha256")
    return head + commitment


class Encryptor:
    """Push-style encryption of one object: ``update`` as often as needed, then ``finalize``.

    Holds at most one segment of plaintext. A full segment is held back until at least one more
    byte arrives, because only then is it known not to be the last (Tink does the same), so a
    plaintext of exactly ``FIRST_SEGMENT_PLAINTEXT`` bytes is one full, last segment.

    ``randbytes`` exists for tests. Passing anything but a CSPRNG in production is catastrophic:
    a repeated salt under the same DEK and binding repeats GCM key and nonces.
    """

    __slots__ = (
        "_aead",
        "_buffer",
        "_digest",
        "_failed",
        "_filled",
        "_hash",
        "_header",
        "_index",
        "_nonce_prefix",
        "_size",
    )

    def __init__(
        self, dek: bytes, binding: Binding, *, randbytes: Callable[[int], bytes] = os.urandom
    ) -> None:
        _check_dek(dek)
        salt = _random(randbytes, _SALT_SIZE)
        nonce_prefix = _random(randbytes, _NONCE_PREFIX_SIZE)
        self._aead: AESGCM | None = AESGCM(_segment_key(dek, salt, binding.associated_data()))
        self._header: bytes | None = b"".join(
            (hub_prefix(dek, binding), _TINK_HEADER_SIZE.to_bytes(1, "big"), salt, nonce_prefix)
        )
        self._nonce_prefix = nonce_prefix
        # Partial segments wait here. It grows as bytes arrive (up to one segment) rather than
        # being allocated zero-filled at full size: a small document touches only what it uses.
        self._buffer = bytearray()
        self._filled = 0
        self._index = 0
        self._hash = hashlib.sha256()
        self._size = 0
        self._digest: PlaintextDigest | None = None
        self._failed = False

    @property
    def digest(self) -> PlaintextDigest:
        """Digest of everything passed to ``update``; available once ``finalize`` returned."""
        if self._digest is None:
            raise RuntimeError("the digest is known only after finalize()")
        return self._digest

    def update(self, data: Buffer) -> bytes:
        """Take more plaintext; return the ciphertext that is ready (possibly ``b""``)."""
        return b"".join(self._feed(data))

    def finalize(self) -> bytes:
        """Seal the last segment and return the rest of the ciphertext."""
        return b"".join(self._finish())

    def _feed(self, data: Buffer) -> Iterator[bytes]:
        # A generator, so encrypt() can pass each segment on without joining a large chunk's
        # output into one more copy.
        aead = self._usable()
        view = _byte_view(data)
        try:
            self._hash.update(view)
            self._size += len(view)
            if self._header is not None:
                header, self._header = self._header, None
                yield header
            while view:
                capacity = FIRST_SEGMENT_PLAINTEXT if self._index == 0 else SEGMENT_PLAINTEXT
                if self._filled == capacity:  # full, and more follows: not the last segment
                    sealed = self._seal(aead, _staged(self._buffer, capacity), last=False)
                    self._filled = 0
                    yield sealed
                elif self._filled == 0 and len(view) > capacity:  # whole segment, no copy
                    sealed = self._seal(aead, view[:capacity], last=False)
                    view = view[capacity:]
                    yield sealed
                else:
                    take = min(capacity - self._filled, len(view))
                    _stage(self._buffer, self._filled, view[:take])
                    self._filled += take
                    view = view[take:]
        except BaseException:
            # Output and digest may no longer match what was consumed; never continue from here.
            self._failed = True
            raise

    def _finish(self) -> list[bytes]:
        aead = self._usable()
        try:
            pieces = [] if self._header is None else [self._header]
            pieces.append(self._seal(aead, _staged(self._buffer, self._filled), last=True))
        except BaseException:
            self._failed = True
            raise
        self._digest = PlaintextDigest(sha256=self._hash.digest(), size=self._size)
        self._header = None
        self._aead = None
        self._buffer = bytearray()  # no plaintext kept for as long as the digest is wanted
        return pieces

    def _usable(self) -> AESGCM:
        if self._failed:
            raise RuntimeError("this Encryptor failed earlier and cannot be used")
        if self._aead is None:
            raise RuntimeError("this Encryptor is already finalized")
        return self._aead

    def _seal(self, aead: AESGCM, plaintext: memoryview, *, last: bool) -> bytes:
        if self._index >= _MAX_SEGMENTS:
            raise ValueError("plaintext exceeds the format's 2**32 segments")
        nonce = _segment_nonce(self._nonce_prefix, self._index, last=last)
        # encrypt(), not encrypt_into() a reused buffer: each sealed segment leaves as a bytes
        # object of its own (a caller may keep it), so a reused buffer would need a copy out,
        # which costs about what the allocation saves.
        sealed = aead.encrypt(nonce, plaintext, None)
        self._index += 1
        return sealed


class Decryptor:
    """Push-style decryption of one object; releases only plaintext whose segment verified.

    The prefix (version, magic, dek_id, commitment) and the Tink header are checked as soon as
    their 92 bytes have arrived, before any segment is decrypted. A segment is decrypted once the
    first byte after it arrives (it cannot be the last one then) or in ``finalize`` (it must be).

    Every failure raises the same :class:`IntegrityError`; from then on the decryptor raises it
    again on every call. If ``update`` raises, nothing from that call is returned, including
    segments of the same call that did verify; :func:`decrypt` hands them out one by one instead.
    """

    __slots__ = (
        "_aead",
        "_associated_data",
        "_buffer",
        "_dek",
        "_done",
        "_expected_prefix",
        "_failed",
        "_filled",
        "_index",
        "_nonce_prefix",
    )

    def __init__(self, dek: bytes, binding: Binding) -> None:
        _check_dek(dek)
        self._dek: bytes | None = bytes(dek)
        self._associated_data = binding.associated_data()
        self._expected_prefix = hub_prefix(dek, binding)
        self._aead: AESGCM | None = None
        self._nonce_prefix = b""
        # Ciphertext of a segment that arrived in pieces; grows as needed, as in Encryptor.
        self._buffer = bytearray()
        self._filled = 0
        self._index = 0
        self._failed = False
        self._done = False

    def update(self, data: Buffer) -> bytes:
        """Take more ciphertext; return the plaintext of the segments it completed."""
        return b"".join(self._feed(data))

    def finalize(self) -> bytes:
        """Decrypt the last segment; :class:`IntegrityError` if the object is incomplete."""
        self._check_usable()
        try:
            return self._finish()
        except BaseException:
            self._fail()
            raise

    def _feed(self, data: Buffer) -> Iterator[bytes]:
        self._check_usable()
        view = _byte_view(data)
        try:
            if self._aead is None:
                view = self._take_header(view)
            while view:
                length = SEGMENT_SIZE - _TINK_HEADER_SIZE if self._index == 0 else SEGMENT_SIZE
                if self._filled == length:  # a byte follows, so this was not the last segment
                    plaintext = self._open(_staged(self._buffer, length), last=False)
                    self._filled = 0
                    yield plaintext
                elif self._filled == 0 and len(view) > length:  # whole segment, no copy
                    plaintext = self._open(view[:length], last=False)
                    view = view[length:]
                    yield plaintext
                else:
                    take = min(length - self._filled, len(view))
                    _stage(self._buffer, self._filled, view[:take])
                    self._filled += take
                    view = view[take:]
        except BaseException:
            self._fail()
            raise

    def _take_header(self, view: memoryview) -> memoryview:
        take = min(HEADER_SIZE - self._filled, len(view))
        _stage(self._buffer, self._filled, view[:take])
        self._filled += take
        if self._filled < HEADER_SIZE:
            return view[take:]
        header = bytes(self._buffer[:HEADER_SIZE])
        self._filled = 0
        if self._dek is None:
            raise IntegrityError
        self._aead, self._nonce_prefix = _open_header(
            header,
            dek=self._dek,
            expected_prefix=self._expected_prefix,
            associated_data=self._associated_data,
        )
        self._dek = None  # the segment key is all that is needed from here on
        return view[take:]

    def _finish(self) -> bytes:
        # Too short for a tag, a header that never completed, or a bare tag after a full segment
        # (which no Tink writer produces: ciphertext sizes stay canonical, see plaintext_size).
        minimum = _TAG_SIZE if self._index == 0 else _TAG_SIZE + 1
        if self._aead is None or self._filled < minimum:
            raise IntegrityError
        plaintext = self._open(_staged(self._buffer, self._filled), last=True)
        self._done = True
        self._release()
        return plaintext

    def _open(self, ciphertext: memoryview, *, last: bool) -> bytes:
        if self._aead is None:
            raise IntegrityError
        plaintext = _open_segment(
            self._aead, ciphertext, nonce_prefix=self._nonce_prefix, index=self._index, last=last
        )
        self._index += 1
        return plaintext

    def _check_usable(self) -> None:
        if self._failed:
            raise IntegrityError
        if self._done:
            raise RuntimeError("this Decryptor is already finalized")

    def _fail(self) -> None:
        self._failed = True
        self._release()

    def _release(self) -> None:
        self._aead = None
        self._dek = None
        self._filled = 0
        self._buffer = bytearray()


def encrypt(
    chunks: Iterable[Buffer],
    dek: bytes,
    binding: Binding,
    *,
    on_digest: Callable[[PlaintextDigest], None] | None = None,
) -> Iterator[bytes]:
    """Encrypt a stream of plaintext chunks of any size into a stream of ciphertext pieces.

    ``on_digest`` is called once the plaintext is exhausted and before the final piece is
    yielded, so a consumer that stops after ``ciphertext_size(n)`` bytes still gets it.
    """
    encryptor = Encryptor(dek, binding)
    for chunk in chunks:
        yield from encryptor._feed(chunk)  # per segment: no join per chunk
    tail = encryptor._finish()
    if on_digest is not None:
        on_digest(encryptor.digest)
    yield from tail


async def aencrypt(
    chunks: AsyncIterable[Buffer],
    dek: bytes,
    binding: Binding,
    *,
    on_digest: Callable[[PlaintextDigest], None] | None = None,
) -> AsyncIterator[bytes]:
    """:func:`encrypt` for an async source.

    The cipher work runs on the event loop: it is about a millisecond per MiB and bounded by the
    chunk size, which a thread hop per chunk would cost about as much as it saves.
    """
    encryptor = Encryptor(dek, binding)
    async for chunk in chunks:
        for piece in encryptor._feed(chunk):
            yield piece
    tail = encryptor._finish()
    if on_digest is not None:
        on_digest(encryptor.digest)
    for piece in tail:
        yield piece


def decrypt(chunks: Iterable[Buffer], dek: bytes, binding: Binding) -> Iterator[bytes]:
    """Decrypt a stream of ciphertext chunks, yielding each segment's plaintext once verified.

    However the ciphertext is chunked, everything before the first bad segment is yielded and
    nothing of or after it; then :class:`IntegrityError` is raised.
    """
    decryptor = Decryptor(dek, binding)
    for chunk in chunks:
        yield from decryptor._feed(chunk)
    last = decryptor.finalize()
    if last:
        yield last


def decrypt_reads(
    read: Callable[[int], Buffer], dek: bytes, binding: Binding, *, plaintext_size: int
) -> Iterator[bytes]:
    """:func:`decrypt` for a source that reads any number of bytes in one piece: an object
    store's reader (:meth:`storage.objects.ObjectReader.read`).

    The header and then every segment are read in exactly their own size, so each segment
    arrives in one piece and goes to the cipher as it is: nothing is copied together from two
    chunks, as :class:`Decryptor` must when the pieces do not fall on segment boundaries (a
    store reading 1 MiB at a time from byte 0 splits every segment, since they start at
    byte 92 and then at 52 + i MiB).

    ``plaintext_size`` is the size the object must hold (the caller's record of it); it fixes
    every segment's length and which one is last. The same checks as :func:`decrypt`, with the
    same opaque :class:`IntegrityError`: the header first, each segment's tag at its own index
    with the last flag set exactly on the last, a short read (truncation), and a byte after the
    last segment (extension). Each segment's plaintext is yielded once it verified, nothing of
    the failing one or after it; an empty plaintext yields nothing.
    """
    _check_dek(dek)
    ciphertext_size(plaintext_size)  # ValueError for an impossible size
    expected_prefix = hub_prefix(dek, binding)
    header = read(HEADER_SIZE)
    if len(header) != HEADER_SIZE:
        raise IntegrityError
    aead, nonce_prefix = _open_header(
        bytes(header),
        dek=dek,
        expected_prefix=expected_prefix,
        associated_data=binding.associated_data(),
    )
    remaining = plaintext_size
    index = 0
    while True:
        length = min(remaining, FIRST_SEGMENT_PLAINTEXT if index == 0 else SEGMENT_PLAINTEXT)
        remaining -= length
        # A full segment is the last when nothing follows it, as in ciphertext_size.
        last = remaining == 0
        ciphertext = read(length + _TAG_SIZE)
        if len(ciphertext) != length + _TAG_SIZE:  # truncated
            raise IntegrityError
        plaintext = _open_segment(
            aead, ciphertext, nonce_prefix=nonce_prefix, index=index, last=last
        )
        del ciphertext  # one segment of ciphertext held at a time, not two
        if plaintext:
            yield plaintext
        if last:
            break
        index += 1
    if read(1):  # extended
        raise IntegrityError


async def adecrypt(
    chunks: AsyncIterable[Buffer], dek: bytes, binding: Binding
) -> AsyncIterator[bytes]:
    """:func:`decrypt` for an async source (cipher work on the loop, as in :func:`aencrypt`)."""
    decryptor = Decryptor(dek, binding)
    async for chunk in chunks:
        for plaintext in decryptor._feed(chunk):
            yield plaintext
    last = decryptor.finalize()
    if last:
        yield last


def _check_dek(dek: bytes) -> None:
    if len(dek) != _KEY_SIZE:
        raise ValueError(f"a DEK must be {_KEY_SIZE} bytes")


def _random(randbytes: Callable[[int], bytes], size: int) -> bytes:
    value = randbytes(size)
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"randbytes({size}) must return {size} bytes")
    return value


def _segment_key(dek: bytes, salt: bytes, associated_data: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=_KEY_SIZE, salt=salt, info=associated_data
    ).derive(dek)


def _open_header(
    header: bytes, *, dek: bytes, expected_prefix: bytes, associated_data: bytes
) -> tuple[AESGCM, bytes]:
    """Check a 92-byte object header; return the segment cipher and the nonce prefix.

    Shared by :class:`Decryptor` and :mod:`storage.envelope_range`, so both accept exactly the
    same headers. ``expected_prefix`` is :func:`hub_prefix` of the reader's DEK and binding.
    """
    # One constant-time comparison against the prefix we would have written covers version,
    # magic, dek_id and commitment together; which of them differed is nobody's business.
    prefix_ok = hmac.compare_digest(header[:PREFIX_SIZE], expected_prefix)
    if not prefix_ok or len(header) != HEADER_SIZE or header[PREFIX_SIZE] != _TINK_HEADER_SIZE:
        raise IntegrityError
    salt = header[PREFIX_SIZE + 1 : PREFIX_SIZE + 1 + _SALT_SIZE]
    nonce_prefix = header[PREFIX_SIZE + 1 + _SALT_SIZE : HEADER_SIZE]
    return AESGCM(_segment_key(dek, salt, associated_data)), nonce_prefix


def _open_segment(
    aead: AESGCM, ciphertext: Buffer, *, nonce_prefix: bytes, index: int, last: bool
) -> bytes:
    """Authenticate and decrypt segment ``index``; :class:`IntegrityError` if its tag fails."""
    if index >= _MAX_SEGMENTS:
        raise IntegrityError
    nonce = _segment_nonce(nonce_prefix, index, last=last)
    plaintext: bytes | None = None
    # decrypt(), not decrypt_into() a reused buffer: as in Encryptor._seal, and because
    # decrypt_into() leaves the unauthenticated plaintext in the buffer when the tag fails,
    # where decrypt() never returns any.
    with contextlib.suppress(InvalidTag):
        plaintext = aead.decrypt(nonce, ciphertext, None)
    # Raised outside the handler, so neither __cause__ nor __context__ records which check
    # failed: IntegrityError is opaque by design, and InvalidTag would add nothing but that.
    if plaintext is None:
        raise IntegrityError
    return plaintext


def _segment_nonce(nonce_prefix: bytes, index: int, *, last: bool) -> bytes:
    nonce = nonce_prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
    # AESGCM accepts 8 to 128-byte nonces and hashes any other length than 12 into a counter
    # block, so a wrong length would silently diverge from Tink instead of failing.
    if len(nonce) != _NONCE_SIZE:
        raise RuntimeError("segment nonce must be 12 bytes")
    return nonce


def _stage(buffer: bytearray, filled: int, data: memoryview) -> None:
    """Copy ``data`` to ``buffer[filled:]``, growing the buffer if it is not that long yet.

    Slice assignment overwrites in place within the buffer and appends beyond its end, so the
    buffer grows once, to the largest segment the stream stages, and is reused after that.
    Growing needs no memoryview of the buffer to be alive: :func:`_staged` views are temporary.
    """
    buffer[filled : filled + len(data)] = data


def _staged(buffer: bytearray, length: int) -> memoryview:
    """A view of the first ``length`` staged bytes, to be passed to the cipher and dropped."""
    return memoryview(buffer)[:length]


def _byte_view(data: Buffer) -> memoryview:
    # cast("B") makes len() count bytes even for a memoryview over wider items.
    return memoryview(data).cast("B")
