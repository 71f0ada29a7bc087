"""Random access into a sealed object: decrypt one plaintext byte range without reading from 0.

A download that answers an HTTP ``Range`` request on a 2 GiB document must not decrypt the
gigabytes before the range. The format of :mod:`storage.envelope` allows that: segments have
fixed sizes, so the segments holding any plaintext byte, and where their ciphertext lies, follow
from the plaintext size alone, and each segment authenticates on its own (its index and the
last-segment flag are in its nonce).

Algorithm. Plaintext segment ``i`` covers bytes ``[start_i, end_i)`` of the plaintext, with
``start_0 = 0``, ``start_i = F + (i - 1) * S`` for ``i >= 1`` and ``end_i = min(P, F + i * S)``,
where ``P`` is the plaintext size, ``F`` = :data:`~storage.envelope.FIRST_SEGMENT_PLAINTEXT`
(1,048,520) and ``S`` = :data:`~storage.envelope.SEGMENT_PLAINTEXT` (1,048,560). An object
holds ``n = 1 + max(0, ceil((P - F) / S))`` segments; only segment ``n - 1`` is the last. The
ciphertext of segment ``i`` starts at ``HEADER_SIZE + start_i + 16 * i`` (byte 92 for ``i = 0``,
``52 + i * 1 MiB`` after that) and is ``end_i - start_i + 16`` bytes long. For a plaintext
range ``[a, b)`` with ``a < b``:

1. :func:`plan_range` finds the first segment ``segment(a)`` and the last ``segment(b - 1)``,
   and the one contiguous ciphertext range that holds exactly them.
2. :class:`RangeDecryptor` checks the object's 92-byte header with the same function, and the
   same constant-time comparison, as :class:`~storage.envelope.Decryptor`: version, magic,
   dek_id and key commitment against the reader's DEK and binding, then the Tink header byte.
   It derives the segment key from the header's salt.
3. :meth:`RangeDecryptor.decrypt` reads the planned ciphertext, cuts it at the known segment
   lengths, authenticates and decrypts each segment with its own index and with the last flag
   set exactly when it is segment ``n - 1`` of the whole object, and yields only the part of
   each plaintext segment that lies inside ``[a, b)``.

Guarantees.

- A byte is released only after the segment holding it verified under the header's key, at its
  own index, with the right last flag. A range read therefore never yields a wrong byte.
- Every failure is the opaque :class:`~storage.errors.IntegrityError`, chained to nothing: a bad
  prefix, commitment or Tink header (raised before any segment is read), a bad tag, a segment at
  the wrong index, a segment claiming to be last that is not (or the reverse), fewer ciphertext
  bytes than planned (truncation), or more (extension). Segments of the range that verified
  before the failing one have been yielded; nothing of the failing one or after it is.
- Memory is bounded by one segment (about 1 MiB), whatever the object or range size.
- Ranges are clipped like slices: ``length`` beyond the end stops at the end.

The honest limit. A range read authenticates the header and the segments it reads, and nothing
else. Tampering with a segment outside the range goes unnoticed by that read and is found
only by a read that covers it. The plan trusts the plaintext size it is given: a caller should
compare the stored object's size with :func:`~storage.envelope.ciphertext_size` of it before
reading (the hub's vault does), so that truncation or extension of the object as a whole fails
every read, not only the reads that reach the end. Within those bounds every byte served is
authentic: a client is never handed a wrong byte, only possibly an error on a later read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.envelope import (
    _TAG_SIZE,
    FIRST_SEGMENT_PLAINTEXT,
    HEADER_SIZE,
    SEGMENT_PLAINTEXT,
    Binding,
    Buffer,
    _byte_view,
    _check_dek,
    _open_header,
    _open_segment,
    _stage,
    _staged,
    ciphertext_size,
    hub_prefix,
)
from storage.errors import IntegrityError

__all__ = ["RangeDecryptor", "RangePlan", "plan_range"]


@dataclass(frozen=True, slots=True)
class RangePlan:
    """A plaintext range of one object, and the ciphertext bytes that must be read for it.

    ``offset`` and ``length`` are the plaintext range after clipping: ``length`` is exactly the
    number of bytes the range yields. Segments ``first_segment`` up to, not including,
    ``end_segment`` are read; they are the ciphertext bytes ``[ciphertext_offset,
    ciphertext_offset + ciphertext_length)`` of the stored object (hub prefix included), ready
    for ``ObjectStore.open(key, offset=..., length=...)``. An empty range reads no segment:
    ``ciphertext_length`` is 0 and ``first_segment == end_segment``.
    """

    plaintext_size: int
    offset: int
    length: int
    first_segment: int
    end_segment: int
    ciphertext_offset: int
    ciphertext_length: int

    @property
    def segment_count(self) -> int:
        """How many segments the whole object has (at least one, even when empty)."""
        return _segment_count(self.plaintext_size)


def plan_range(plaintext_size: int, *, offset: int, length: int | None = None) -> RangePlan:
    """Plan the read of plaintext bytes ``[offset, offset + length)`` (to the end if ``None``).

    ``ValueError`` if ``plaintext_size`` is impossible, ``offset`` is negative or past the end
    of the plaintext, or ``length`` is negative. ``offset == plaintext_size`` is an empty range.
    """
    for name, value in (("plaintext_size", plaintext_size), ("offset", offset)):
        _check_int(name, value)
    ciphertext_size(plaintext_size)  # ValueError for a negative or too large plaintext
    if not 0 <= offset <= plaintext_size:
        raise ValueError(f"offset must be in [0, {plaintext_size}], got {offset}")
    if length is not None:
        _check_int("length", length)
        if length < 0:
            raise ValueError(f"length must not be negative, got {length}")
    end = plaintext_size if length is None else min(plaintext_size, offset + length)
    if end == offset:
        return RangePlan(plaintext_size, offset, 0, 0, 0, HEADER_SIZE, 0)
    first = _segment_of(offset)
    last = _segment_of(end - 1)
    start = _ciphertext_start(first)
    stop = _ciphertext_start(last) + _segment_plaintext_length(plaintext_size, last) + _TAG_SIZE
    return RangePlan(plaintext_size, offset, end - offset, first, last + 1, start, stop - start)


class RangeDecryptor:
    """Decrypts the segments of one :class:`RangePlan`; built from the object's header.

    The constructor checks the 92-byte header (prefix, key commitment, Tink header) and raises
    :class:`IntegrityError` if it is not the header of an object sealed under ``dek`` for
    ``binding``; nothing has been read beyond the header at that point, so a caller can check
    before it starts a response. :meth:`decrypt` may then be called once.
    """

    __slots__ = ("_aead", "_nonce_prefix", "plan")

    def __init__(self, header: Buffer, dek: bytes, binding: Binding, *, plan: RangePlan) -> None:
        _check_dek(dek)
        aead, self._nonce_prefix = _open_header(
            bytes(header),
            dek=dek,
            expected_prefix=hub_prefix(dek, binding),
            associated_data=binding.associated_data(),
        )
        self._aead: AESGCM | None = aead
        self.plan = plan

    def decrypt(self, chunks: Iterable[Buffer]) -> Iterator[bytes]:
        """Yield the plaintext of the range from the planned ciphertext bytes, in any chunking.

        ``chunks`` must be exactly the ``plan.ciphertext_length`` bytes at
        ``plan.ciphertext_offset``. Each piece yielded lies within one segment, and is handed
        out only once that segment verified; on any failure :class:`IntegrityError` is raised
        after the pieces of the segments that verified before it.
        """
        aead, self._aead = self._aead, None
        if aead is None:
            raise RuntimeError("a RangeDecryptor decrypts its range once")
        return _decrypt_segments(aead, chunks, nonce_prefix=self._nonce_prefix, plan=self.plan)

    def decrypt_reads(self, read: Callable[[int], Buffer]) -> Iterator[bytes]:
        """:meth:`decrypt` for a source that reads any number of bytes in one piece (an object
        store's reader): each planned segment is read in exactly its own size and goes to the
        cipher as it arrived, never copied together from two chunks. The same checks and the
        same guarantees as :meth:`decrypt`; more bytes than planned (one byte is tried after
        the last segment) are :class:`IntegrityError` too."""
        aead, self._aead = self._aead, None
        if aead is None:
            raise RuntimeError("a RangeDecryptor decrypts its range once")
        return _read_segments(aead, read, nonce_prefix=self._nonce_prefix, plan=self.plan)


def _decrypt_segments(
    aead: AESGCM, chunks: Iterable[Buffer], *, nonce_prefix: bytes, plan: RangePlan
) -> Iterator[bytes]:
    final = plan.segment_count - 1
    index = plan.first_segment
    buffer = bytearray()  # a segment that arrived in pieces; grows to one segment at most
    filled = 0
    for chunk in chunks:
        view = _byte_view(chunk)
        while view:
            if index >= plan.end_segment:  # bytes beyond the plan: the object is not the one
                raise IntegrityError
            need = _segment_plaintext_length(plan.plaintext_size, index) + _TAG_SIZE
            last = index == final
            if filled == 0 and len(view) >= need:  # the whole segment in this chunk: no copy
                plaintext = _open_segment(
                    aead, view[:need], nonce_prefix=nonce_prefix, index=index, last=last
                )
                view = view[need:]
            else:
                take = min(need - filled, len(view))
                _stage(buffer, filled, view[:take])
                filled += take
                view = view[take:]
                if filled < need:
                    continue
                filled = 0
                # The staged view is passed and dropped at once: _stage may grow the buffer
                # later, which it cannot while a view of it is alive (across the yield below).
                plaintext = _open_segment(
                    aead, _staged(buffer, need), nonce_prefix=nonce_prefix, index=index, last=last
                )
            yield _clip(plaintext, plan=plan, index=index)
            index += 1
    if index < plan.end_segment:  # fewer bytes than planned: truncated
        raise IntegrityError


def _read_segments(
    aead: AESGCM, read: Callable[[int], Buffer], *, nonce_prefix: bytes, plan: RangePlan
) -> Iterator[bytes]:
    final = plan.segment_count - 1
    for index in range(plan.first_segment, plan.end_segment):
        need = _segment_plaintext_length(plan.plaintext_size, index) + _TAG_SIZE
        ciphertext = read(need)
        if len(ciphertext) != need:  # fewer bytes than planned: truncated
            raise IntegrityError
        plaintext = _open_segment(
            aead, ciphertext, nonce_prefix=nonce_prefix, index=index, last=index == final
        )
        del ciphertext  # one segment of ciphertext held at a time, not two
        yield _clip(plaintext, plan=plan, index=index)
    if read(1):  # bytes beyond the plan: not the object planned
        raise IntegrityError


def _clip(plaintext: bytes, *, plan: RangePlan, index: int) -> bytes:
    start = _plaintext_start(index)
    low = max(plan.offset - start, 0)
    high = min(plan.offset + plan.length - start, len(plaintext))
    return plaintext[low:high]  # the same object, not a copy, when the segment is all wanted


def _segment_count(plaintext_size: int) -> int:
    # A full first segment is the last one when nothing follows it, as in ciphertext_size.
    return 1 + max(0, -(-(plaintext_size - FIRST_SEGMENT_PLAINTEXT) // SEGMENT_PLAINTEXT))


def _segment_of(position: int) -> int:
    """The segment holding plaintext byte ``position``."""
    if position < FIRST_SEGMENT_PLAINTEXT:
        return 0
    return 1 + (position - FIRST_SEGMENT_PLAINTEXT) // SEGMENT_PLAINTEXT


def _plaintext_start(index: int) -> int:
    return 0 if index == 0 else FIRST_SEGMENT_PLAINTEXT + (index - 1) * SEGMENT_PLAINTEXT


def _segment_plaintext_length(plaintext_size: int, index: int) -> int:
    end = min(plaintext_size, FIRST_SEGMENT_PLAINTEXT + index * SEGMENT_PLAINTEXT)
    return end - _plaintext_start(index)


def _ciphertext_start(index: int) -> int:
    """Where segment ``index`` starts in the stored object: 92, then 52 + index * 1 MiB."""
    return HEADER_SIZE + _plaintext_start(index) + index * _TAG_SIZE


def _check_int(name: str, value: object) -> None:
    # bool is an int to Python, but True as an offset is a caller's bug, not byte 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
