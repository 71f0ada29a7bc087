"""Tests of random access into sealed objects (``storage.envelope_range``), on bytes in memory.

Every read goes the way a caller's does: plan the range, check the 92-byte header, then feed
exactly the planned ciphertext bytes. Tampering cases check both the one opaque
``IntegrityError`` and exactly what was released before it.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tink import streaming_aead

from storage.envelope import (
    FIRST_SEGMENT_PLAINTEXT,
    HEADER_SIZE,
    PREFIX_SIZE,
    SEGMENT_PLAINTEXT,
    SEGMENT_SIZE,
    Binding,
    ciphertext_size,
    decrypt,
    encrypt,
    hub_prefix,
)
from storage.envelope_range import RangeDecryptor, RangePlan, plan_range
from storage.errors import IntegrityError
from tests.storage.test_tink_compat import _tink_encrypt, _tink_primitive

DEK = bytes(range(64, 96))
OTHER_DEK = bytes(range(96, 128))
BINDING = Binding(uuid.UUID("6f1c2f4e-8a4b-4d8e-9a57-1f0d2c3b4a59"), 3, bytes(range(48, 64)))
OTHER_DOCUMENT = Binding(uuid.UUID("a3bb189e-8bf9-4888-9912-ace4e6543002"), 3, BINDING.dek_id)

F = FIRST_SEGMENT_PLAINTEXT
S = SEGMENT_PLAINTEXT
SIZES = [0, 1, F - 1, F, F + 1, F + S - 1, F + S, F + S + 1, 3 * SEGMENT_SIZE + (1 << 19)]
# Four segments: a full first, two full middle ones and a short last one.
MULTI = F + 2 * S + 1000
CHUNKINGS = [None, 7_777, 1 << 16, SEGMENT_SIZE, SEGMENT_SIZE + 1]


@functools.cache
def _sealed(size: int) -> tuple[bytes, bytes]:
    """A plaintext of ``size`` bytes and its object, built once per size for the whole module."""
    plaintext = random.Random(size).randbytes(size)
    return plaintext, b"".join(encrypt([plaintext], DEK, BINDING))


def _chunks(data: bytes, chunking: int | None) -> Iterator[bytes]:
    size = chunking or max(1, len(data))
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _planned(ciphertext: bytes, plan: RangePlan) -> bytes:
    """The bytes a store returns for ``open(offset=ciphertext_offset, length=...)``: clipped."""
    return ciphertext[plan.ciphertext_offset : plan.ciphertext_offset + plan.ciphertext_length]


def _pieces(
    ciphertext: bytes,
    plan: RangePlan,
    *,
    chunking: int | None = None,
    segments: bytes | None = None,
    dek: bytes = DEK,
    binding: Binding = BINDING,
) -> list[bytes]:
    decryptor = RangeDecryptor(ciphertext[:HEADER_SIZE], dek, binding, plan=plan)
    body = _planned(ciphertext, plan) if segments is None else segments
    return list(decryptor.decrypt(_chunks(body, chunking)))


def _read(ciphertext: bytes, plan: RangePlan, *, chunking: int | None = None) -> bytes:
    return b"".join(_pieces(ciphertext, plan, chunking=chunking))


def _released(
    ciphertext: bytes,
    plan: RangePlan,
    *,
    segments: bytes | None = None,
    dek: bytes = DEK,
    binding: Binding = BINDING,
) -> bytes:
    """What a range read handed out before it raised IntegrityError (it must raise)."""
    released = bytearray()
    with pytest.raises(IntegrityError) as caught:  # noqa: PT012 - counts what came out first
        decryptor = RangeDecryptor(ciphertext[:HEADER_SIZE], dek, binding, plan=plan)
        body = _planned(ciphertext, plan) if segments is None else segments
        for piece in decryptor.decrypt(_chunks(body, 1 << 16)):
            released += piece
    assert str(caught.value) == str(IntegrityError())
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    return bytes(released)


def _flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 1 << bit
    return bytes(damaged)


def _segment_start(index: int) -> int:
    return HEADER_SIZE if index == 0 else PREFIX_SIZE + index * SEGMENT_SIZE


# --- which ciphertext to read ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "length", "segments", "ciphertext"),
    [
        (0, 1, (0, 1), (HEADER_SIZE, SEGMENT_SIZE - 40)),
        (F - 1, 1, (0, 1), (HEADER_SIZE, SEGMENT_SIZE - 40)),
        (F, 1, (1, 2), (PREFIX_SIZE + SEGMENT_SIZE, SEGMENT_SIZE)),
        (F - 1, 2, (0, 2), (HEADER_SIZE, 2 * SEGMENT_SIZE - 40)),
        (F + S - 1, 2, (1, 3), (PREFIX_SIZE + SEGMENT_SIZE, 2 * SEGMENT_SIZE)),
        (F + S, 1, (2, 3), (PREFIX_SIZE + 2 * SEGMENT_SIZE, SEGMENT_SIZE)),
        (F + 2 * S, 1000, (3, 4), (PREFIX_SIZE + 3 * SEGMENT_SIZE, 1000 + 16)),
        (MULTI - 1, None, (3, 4), (PREFIX_SIZE + 3 * SEGMENT_SIZE, 1000 + 16)),
    ],
)
def test_plan_reads_exactly_the_segments_that_hold_the_range(
    offset: int, length: int | None, segments: tuple[int, int], ciphertext: tuple[int, int]
) -> None:
    plan = plan_range(MULTI, offset=offset, length=length)
    assert (plan.first_segment, plan.end_segment) == segments
    assert (plan.ciphertext_offset, plan.ciphertext_length) == ciphertext
    assert plan.segment_count == 4


def test_plan_of_the_whole_object_covers_every_byte_after_the_header() -> None:
    plan = plan_range(MULTI, offset=0)
    assert plan.ciphertext_offset == HEADER_SIZE
    assert plan.ciphertext_offset + plan.ciphertext_length == ciphertext_size(MULTI)
    assert plan.length == MULTI


def test_plan_clips_a_length_beyond_the_end() -> None:
    assert plan_range(1000, offset=990, length=50).length == 10


@pytest.mark.parametrize(("size", "offset", "length"), [(0, 0, None), (0, 0, 5), (100, 100, 1)])
def test_an_empty_range_reads_no_segment(size: int, offset: int, length: int | None) -> None:
    plan = plan_range(size, offset=offset, length=length)
    assert (plan.length, plan.ciphertext_length) == (0, 0)
    assert plan.first_segment == plan.end_segment
    _, ciphertext = _sealed(size)
    assert _pieces(ciphertext, plan) == []


def test_plan_rejects_a_negative_offset() -> None:
    with pytest.raises(ValueError, match="offset"):
        plan_range(100, offset=-1, length=1)


def test_plan_rejects_an_offset_past_the_end() -> None:
    with pytest.raises(ValueError, match="offset"):
        plan_range(100, offset=101)


def test_plan_rejects_a_negative_length() -> None:
    with pytest.raises(ValueError, match="length"):
        plan_range(100, offset=0, length=-1)


def test_plan_rejects_a_negative_plaintext_size() -> None:
    with pytest.raises(ValueError, match="plaintext_size"):
        plan_range(-1, offset=0)


def test_plan_rejects_a_bool_offset() -> None:
    with pytest.raises(TypeError, match="offset"):
        plan_range(100, offset=True)


# --- reading ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 1),
        (F - 1, 1),  # last byte of the first segment
        (F, 1),  # first byte of the second
        (F - 1, 2),  # across the first boundary
        (F + S - 1, 2),  # across the second boundary
        (F - 10, S + 20),  # a whole middle segment and a bit of each neighbour
        (F + 2 * S, 1000),  # exactly the last segment
        (MULTI - 1, 1),  # the last byte
        (12345, None),  # from inside the first segment to the end
        (0, MULTI),  # the whole object
    ],
)
@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_range_at_and_across_segment_boundaries(
    offset: int, length: int | None, chunking: int | None
) -> None:
    plaintext, ciphertext = _sealed(MULTI)
    plan = plan_range(MULTI, offset=offset, length=length)
    end = MULTI if length is None else offset + length
    assert _read(ciphertext, plan, chunking=chunking) == plaintext[offset:end]
    assert plan.length == end - offset


@pytest.mark.parametrize("size", [F, F + S])
def test_a_full_last_segment_reads_as_the_last(size: int) -> None:
    plaintext, ciphertext = _sealed(size)
    assert _read(ciphertext, plan_range(size, offset=size - 3)) == plaintext[-3:]


def test_every_piece_lies_within_one_segment() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    pieces = _pieces(ciphertext, plan_range(MULTI, offset=10, length=MULTI - 20), chunking=None)
    assert [len(piece) for piece in pieces] == [F - 10, S, S, 1000 - 10]
    assert b"".join(pieces) == plaintext[10:-10]


def test_caller_may_reuse_its_chunk_buffer() -> None:
    # Partial segments are copied before the next chunk is asked for: a store that refills one
    # buffer for every chunk must not change pieces already handed out.
    plaintext, ciphertext = _sealed(MULTI)
    plan = plan_range(MULTI, offset=F - 5, length=2 * S)
    body = _planned(ciphertext, plan)
    buffer = bytearray(65_521)

    def refilled() -> Iterator[memoryview]:
        for start in range(0, len(body), len(buffer)):
            piece = body[start : start + len(buffer)]
            buffer[: len(piece)] = piece
            yield memoryview(buffer)[: len(piece)]

    decryptor = RangeDecryptor(ciphertext[:HEADER_SIZE], DEK, BINDING, plan=plan)
    assert b"".join(list(decryptor.decrypt(refilled()))) == plaintext[F - 5 : F - 5 + 2 * S]


def test_a_range_decryptor_decrypts_once() -> None:
    _, ciphertext = _sealed(1)
    plan = plan_range(1, offset=0)
    decryptor = RangeDecryptor(ciphertext[:HEADER_SIZE], DEK, BINDING, plan=plan)
    assert b"".join(decryptor.decrypt([_planned(ciphertext, plan)])) == _sealed(1)[0]
    with pytest.raises(RuntimeError, match="once"):
        decryptor.decrypt([_planned(ciphertext, plan)])


@st.composite
def _ranges(draw: st.DrawFn, size: int) -> tuple[int, int | None]:
    boundaries = [b for b in (0, F, F + S, F + 2 * S, F + 3 * S) if b < size] + [size]
    near = st.sampled_from(boundaries).flatmap(
        lambda b: st.integers(max(0, b - 2), min(size, b + 2))
    )
    offset = draw(st.one_of(near, st.integers(0, size)))
    end = draw(st.one_of(near, st.integers(offset, size + 3)))
    length = draw(st.one_of(st.none(), st.just(max(0, end - offset))))
    return offset, length


@settings(max_examples=150, deadline=None)
@given(size=st.sampled_from(SIZES), data=st.data(), chunking=st.sampled_from(CHUNKINGS))
def test_every_range_equals_the_slice(size: int, data: st.DataObject, chunking: int | None) -> None:
    plaintext, ciphertext = _sealed(size)
    offset, length = data.draw(_ranges(size))
    plan = plan_range(size, offset=offset, length=length)
    pieces = _pieces(ciphertext, plan, chunking=chunking)
    expected = plaintext[offset:] if length is None else plaintext[offset : offset + length]
    assert b"".join(pieces) == expected
    assert plan.length == len(expected)
    # Memory: nothing is handed out (or held) in more than one segment's worth.
    assert all(0 < len(piece) <= S for piece in pieces)


# --- Tink ------------------------------------------------------------------------------------


def test_ranges_of_a_tink_written_object() -> None:
    streaming_aead.register()
    size = F + S + 12_345
    plaintext = random.Random(7).randbytes(size)
    theirs = _tink_encrypt(_tink_primitive(DEK), plaintext, BINDING.associated_data())
    stored = hub_prefix(DEK, BINDING) + theirs
    assert len(stored) == ciphertext_size(size)
    for offset, length in [(0, 10), (F - 1, 2), (F + S - 1, 2), (F + S, 12_345), (5, None)]:
        plan = plan_range(size, offset=offset, length=length)
        end = size if length is None else offset + length
        assert _read(stored, plan, chunking=1 << 16) == plaintext[offset:end]


# --- tampering -------------------------------------------------------------------------------


def test_flipped_bit_in_the_first_segment_read_releases_nothing() -> None:
    _, ciphertext = _sealed(MULTI)
    plan = plan_range(MULTI, offset=F + 10, length=S)  # segments 1 and 2
    damaged = _flip(ciphertext, _segment_start(1) + 500)
    assert _released(damaged, plan) == b""


def test_flipped_bit_in_a_later_segment_read_releases_only_the_segments_before() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    plan = plan_range(MULTI, offset=F + 10, length=S)  # segments 1 and 2
    damaged = _flip(ciphertext, _segment_start(2) + 500, bit=6)
    assert _released(damaged, plan) == plaintext[F + 10 : F + S]


def test_flipped_bit_in_a_tag_is_rejected() -> None:
    _, ciphertext = _sealed(MULTI)
    plan = plan_range(MULTI, offset=F + 2 * S, length=1)
    assert _released(_flip(ciphertext, len(ciphertext) - 1, bit=7), plan) == b""


@pytest.mark.parametrize(
    "position",
    [0, 2, 4 + 15, 20, 20 + 31, PREFIX_SIZE],
    ids=["version", "magic", "dek_id", "commitment-first", "commitment-last", "tink-header-size"],
)
def test_flipped_bit_in_the_prefix_fails_before_any_segment(position: int) -> None:
    _, ciphertext = _sealed(MULTI)
    with pytest.raises(IntegrityError):
        RangeDecryptor(
            _flip(ciphertext, position)[:HEADER_SIZE],
            DEK,
            BINDING,
            plan=plan_range(MULTI, offset=F, length=1),
        )


@pytest.mark.parametrize("position", [PREFIX_SIZE + 1, PREFIX_SIZE + 33, HEADER_SIZE - 1])
def test_flipped_bit_in_salt_or_nonce_prefix_fails_on_the_first_segment(position: int) -> None:
    # The commitment does not cover the Tink header; the segment key and nonces do.
    _, ciphertext = _sealed(MULTI)
    plan = plan_range(MULTI, offset=F, length=S + 5)
    assert _released(_flip(ciphertext, position), plan) == b""


def test_a_short_header_is_rejected() -> None:
    _, ciphertext = _sealed(100)
    with pytest.raises(IntegrityError):
        RangeDecryptor(ciphertext[: HEADER_SIZE - 1], DEK, BINDING, plan=plan_range(100, offset=0))


def test_another_documents_binding_is_rejected_at_the_header() -> None:
    _, ciphertext = _sealed(MULTI)
    with pytest.raises(IntegrityError):
        RangeDecryptor(
            ciphertext[:HEADER_SIZE], DEK, OTHER_DOCUMENT, plan=plan_range(MULTI, offset=F)
        )


def test_another_dek_is_rejected_at_the_header() -> None:
    _, ciphertext = _sealed(MULTI)
    with pytest.raises(IntegrityError):
        RangeDecryptor(
            ciphertext[:HEADER_SIZE], OTHER_DEK, BINDING, plan=plan_range(MULTI, offset=F)
        )


def test_truncated_object_fails_a_range_in_the_last_segment() -> None:
    _, ciphertext = _sealed(MULTI)
    truncated = ciphertext[: _segment_start(3)]  # the last segment is missing
    plan = plan_range(MULTI, offset=F + 2 * S + 10, length=5)
    assert _planned(truncated, plan) == b""  # a store clips the range to what is there
    assert _released(truncated, plan) == b""


def test_a_partly_missing_range_releases_only_the_complete_segments() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    plan = plan_range(MULTI, offset=F - 4, length=S)  # segments 0 and 1
    short = _planned(ciphertext, plan)[:-1]
    assert _released(ciphertext, plan, segments=short) == plaintext[F - 4 : F]


def test_bytes_beyond_the_plan_are_rejected() -> None:
    plaintext, ciphertext = _sealed(MULTI)
    plan = plan_range(MULTI, offset=0, length=10)
    extended = _planned(ciphertext, plan) + b"\x00"
    assert _released(ciphertext, plan, segments=extended) == plaintext[:10]


def test_bytes_given_for_an_empty_range_are_rejected() -> None:
    _, ciphertext = _sealed(100)
    plan = plan_range(100, offset=100)
    assert _released(ciphertext, plan, segments=ciphertext[HEADER_SIZE:]) == b""


def test_reordered_segments_are_rejected() -> None:
    _, ciphertext = _sealed(MULTI)
    one, two = _segment_start(1), _segment_start(2)
    swapped = ciphertext[:one] + ciphertext[two : two + SEGMENT_SIZE] + ciphertext[one:two]
    swapped += ciphertext[two + SEGMENT_SIZE :]
    assert _released(swapped, plan_range(MULTI, offset=F, length=1)) == b""


def test_a_middle_segment_read_as_the_last_fails() -> None:
    # Claiming the object ends after segment 1 (a full one) makes the read use the last flag on
    # it; that segment was sealed as not last, so it must not verify.
    _, ciphertext = _sealed(MULTI)
    claimed = F + S
    plan = plan_range(claimed, offset=F + 5, length=10)
    assert plan.end_segment == plan.segment_count == 2
    assert _released(ciphertext, plan) == b""


def test_the_last_segment_read_as_a_middle_one_fails() -> None:
    # The reverse: segment 1 is the full last segment of an F + S object; a claimed larger size
    # reads it without the last flag.
    _, ciphertext = _sealed(F + S)
    plan = plan_range(F + S + 5, offset=F + 5, length=10)
    assert plan.segment_count == 3
    assert _released(ciphertext, plan) == b""


def test_tampering_outside_the_range_is_found_only_by_a_read_that_covers_it() -> None:
    # The documented limit: a range read authenticates the header and its own segments only.
    plaintext, ciphertext = _sealed(MULTI)
    damaged = _flip(ciphertext, _segment_start(2) + 7)
    assert _read(damaged, plan_range(MULTI, offset=F, length=S)) == plaintext[F : F + S]
    assert _released(damaged, plan_range(MULTI, offset=F + S, length=1)) == b""
    with pytest.raises(IntegrityError):
        b"".join(decrypt([damaged], DEK, BINDING))


def test_segments_from_another_object_under_the_same_key_are_rejected() -> None:
    # Same DEK and binding, so the prefix verifies; the salt (and with it the segment key) is
    # per object, so segments of one object never verify under another's header.
    plaintext, ciphertext = _sealed(MULTI)
    other = b"".join(encrypt([plaintext], DEK, BINDING))
    plan = plan_range(MULTI, offset=F, length=5)
    assert _released(ciphertext, plan, segments=_planned(other, plan)) == b""
