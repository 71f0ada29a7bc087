"""Tests of decryption pulled from a reader in exact segment sizes (``decrypt_reads``).

The hub's downloads read each segment from the store's reader in exactly its own size
(:func:`storage.envelope.decrypt_reads` for a whole object,
:meth:`storage.envelope_range.RangeDecryptor.decrypt_reads` for a range), so that no segment is
copied together from two chunks. These tests hold them to the same guarantees as the chunked
decryption: the same bytes, and for every kind of damage the one opaque ``IntegrityError``
with nothing of the failing segment released before it.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from storage.envelope import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    decrypt_reads,
)
from storage.envelope_range import RangeDecryptor, plan_range
from storage.errors import IntegrityError
from tests.storage.test_envelope_range import (
    BINDING,
    DEK,
    MULTI,
    OTHER_DEK,
    OTHER_DOCUMENT,
    SIZES,
    F,
    S,
    _flip,
    _sealed,
    _segment_start,
)


class Reads:
    """A reader over bytes that records the size of every read asked of it."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)
        self.sizes: list[int] = []

    def read(self, size: int) -> bytes:
        self.sizes.append(size)
        return self._file.read(size)


def _released(pieces: Callable[[], object]) -> bytes:
    """What a read handed out before it raised IntegrityError (it must raise)."""
    released = bytearray()
    with pytest.raises(IntegrityError) as caught:  # noqa: PT012 - counts what came out first
        for piece in pieces():  # type: ignore[attr-defined]
            released += piece
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    return bytes(released)


def _whole(data: bytes, size: int, *, dek: bytes = DEK, binding=BINDING):  # type: ignore[no-untyped-def]
    return lambda: decrypt_reads(Reads(data).read, dek, binding, plaintext_size=size)


# --- whole objects ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_a_whole_object_reads_back_in_one_read_per_segment(size: int) -> None:
    plaintext, ciphertext = _sealed(size)
    reads = Reads(ciphertext)
    pieces = list(decrypt_reads(reads.read, DEK, BINDING, plaintext_size=size))
    assert b"".join(pieces) == plaintext
    # The header, then each segment in exactly its own size, then one byte that is not there.
    assert reads.sizes[0] == HEADER_SIZE
    assert reads.sizes[-1] == 1
    assert sum(reads.sizes[1:-1]) == len(ciphertext) - HEADER_SIZE
    assert reads.sizes[1] == min(size, F) + 16
    assert all(n == SEGMENT_SIZE for n in reads.sizes[2:-2])
    assert all(0 < len(piece) <= S for piece in pieces)


def test_a_flipped_bit_in_a_later_segment_releases_only_the_segments_before() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    damaged = _flip(ciphertext, _segment_start(2) + 500, bit=3)
    assert _released(_whole(damaged, MULTI)) == plaintext[: F + S]


def test_a_flipped_bit_in_the_header_releases_nothing() -> None:
    _, ciphertext = _sealed(MULTI)
    assert _released(_whole(_flip(ciphertext, 30), MULTI)) == b""


def test_a_truncated_object_releases_only_the_complete_segments() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    assert _released(_whole(ciphertext[:-1], MULTI)) == plaintext[: F + 2 * S]
    # Cut at a segment boundary: the recorded size says the segments before the cut are not
    # the last, so they authenticate as what they are, and the missing one fails.
    assert _released(_whole(ciphertext[: _segment_start(3)], MULTI)) == plaintext[: F + 2 * S]


def test_an_extended_object_is_rejected_after_the_last_segment() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    assert _released(_whole(ciphertext + b"\x00", MULTI)) == plaintext


def test_a_recorded_size_that_is_not_the_objects_is_rejected() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    # One segment fewer than stored: the third is then read as the last, which it is not.
    assert _released(_whole(ciphertext, F + S + 1000)) == plaintext[: F + S]


def test_another_key_or_binding_is_rejected_at_the_header() -> None:
    _, ciphertext = _sealed(MULTI)
    assert _released(_whole(ciphertext, MULTI, dek=OTHER_DEK)) == b""
    assert _released(_whole(ciphertext, MULTI, binding=OTHER_DOCUMENT)) == b""


def test_an_impossible_size_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        list(decrypt_reads(Reads(b"").read, DEK, BINDING, plaintext_size=-1))


# --- ranges ----------------------------------------------------------------------------------


def _range(ciphertext: bytes, offset: int, length: int | None, size: int = MULTI):  # type: ignore[no-untyped-def]
    plan = plan_range(size, offset=offset, length=length)
    body = ciphertext[plan.ciphertext_offset : plan.ciphertext_offset + plan.ciphertext_length]
    decryptor = RangeDecryptor(ciphertext[:HEADER_SIZE], DEK, BINDING, plan=plan)
    return plan, body, decryptor


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, None), (0, 1), (F - 1, 2), (F, S), (F + S - 1, 2), (F + 2 * S, 1000), (5, None)],
)
def test_a_range_reads_back_in_one_read_per_segment(offset: int, length: int | None) -> None:
    plaintext, ciphertext = _sealed(MULTI)
    plan, body, decryptor = _range(ciphertext, offset, length)
    reads = Reads(body)
    end = MULTI if length is None else offset + length
    assert b"".join(decryptor.decrypt_reads(reads.read)) == plaintext[offset:end]
    assert reads.sizes[-1] == 1
    assert len(reads.sizes) == plan.end_segment - plan.first_segment + 1


def test_a_flipped_bit_in_a_range_releases_only_the_segments_before() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    damaged = _flip(ciphertext, _segment_start(2) + 500, bit=6)
    _, body, decryptor = _range(damaged, F + 10, S)  # segments 1 and 2
    assert _released(lambda: decryptor.decrypt_reads(Reads(body).read)) == plaintext[F + 10 : F + S]


def test_a_short_range_releases_only_the_complete_segments() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    _, body, decryptor = _range(ciphertext, F - 4, S)  # segments 0 and 1
    short = body[:-1]
    assert _released(lambda: decryptor.decrypt_reads(Reads(short).read)) == plaintext[F - 4 : F]


def test_bytes_beyond_a_range_are_rejected() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    _, body, decryptor = _range(ciphertext, 0, 10)
    extended = body + b"\x00"
    assert _released(lambda: decryptor.decrypt_reads(Reads(extended).read)) == plaintext[:10]


def test_a_range_decrypts_once_whichever_way() -> None:
    _, ciphertext = _sealed(MULTI)
    _, body, decryptor = _range(ciphertext, 0, 10)
    list(decryptor.decrypt_reads(Reads(body).read))
    with pytest.raises(RuntimeError, match="once"):
        decryptor.decrypt_reads(Reads(body).read)
    with pytest.raises(RuntimeError, match="once"):
        decryptor.decrypt([body])


def test_every_size_reads_back_whole_through_a_range_of_everything() -> None:
    for size in SIZES:
        plaintext, ciphertext = _sealed(size)
        _, body, decryptor = _range(ciphertext, 0, None, size)
        assert b"".join(decryptor.decrypt_reads(Reads(body).read)) == plaintext
