"""Tests of the streaming envelope format in ``storage.envelope``.

Every tampering case is its own test and checks two things: the decryptor raises the one opaque
``IntegrityError``, and it released exactly the plaintext of the intact segments before the
damaged one (none at all when the damage is in the prefix, the Tink header or segment 0).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import envelope
from storage.envelope import (
    FIRST_SEGMENT_PLAINTEXT,
    HEADER_SIZE,
    PREFIX_SIZE,
    SEGMENT_PLAINTEXT,
    SEGMENT_SIZE,
    Binding,
    Decryptor,
    Encryptor,
    PlaintextDigest,
    adecrypt,
    aencrypt,
    ciphertext_size,
    decrypt,
    encrypt,
    hub_prefix,
    plaintext_size,
)
from storage.errors import IntegrityError

DEK = bytes(range(32))
OTHER_DEK = bytes(range(100, 132))
BINDING = Binding(uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e"), 7, bytes(range(16, 32)))
OTHER_DOCUMENT = Binding(uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7"), 7, BINDING.dek_id)

F = FIRST_SEGMENT_PLAINTEXT
S = SEGMENT_PLAINTEXT
BOUNDARY_SIZES = [0, 1, F - 1, F, F + 1, F + S - 1, F + S, F + S + 1, 3 * SEGMENT_SIZE + (1 << 19)]
# Four segments: a full first, two full middle ones and a short last one.
MULTI_SIZE = F + 2 * S + 1000
MIB_64K = 1 << 16


def _plaintext(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _chunks(data: bytes, size: int) -> Iterator[memoryview]:
    view = memoryview(data)
    if not view:
        return
    for start in range(0, len(view), size):
        yield view[start : start + size]


def _split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _seal(plaintext: bytes, *, dek: bytes = DEK, binding: Binding = BINDING) -> bytes:
    return b"".join(encrypt(_chunks(plaintext, SEGMENT_SIZE), dek, binding))


def _segment_span(index: int, total: int) -> tuple[int, int]:
    """Byte range of segment ``index`` (ciphertext and tag) within an object of ``total`` bytes."""
    start = HEADER_SIZE if index == 0 else PREFIX_SIZE + index * SEGMENT_SIZE
    return start, min(PREFIX_SIZE + (index + 1) * SEGMENT_SIZE, total)


def _flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 1 << bit
    return bytes(damaged)


def _released(
    ciphertext: bytes, chunking: int, *, dek: bytes = DEK, binding: Binding = BINDING
) -> bytes:
    """Plaintext that ``decrypt`` handed out before raising IntegrityError (it must raise)."""
    released = bytearray()
    with pytest.raises(IntegrityError) as caught:  # noqa: PT012 - counts what came out first
        for piece in decrypt(_chunks(ciphertext, chunking), dek, binding):
            released += piece
    # Opaque: no message that differs by cause, nothing chained that would name the check.
    assert str(caught.value) == str(IntegrityError())
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    return bytes(released)


def _released_by_decryptor(
    ciphertext: bytes, *, dek: bytes = DEK, binding: Binding = BINDING
) -> bytes:
    released = bytearray()
    decryptor = Decryptor(dek, binding)
    with pytest.raises(IntegrityError):  # noqa: PT012 - the failure may come from either call
        for chunk in _chunks(ciphertext, MIB_64K):
            released += decryptor.update(chunk)
        released += decryptor.finalize()
    return bytes(released)


def assert_rejected(
    ciphertext: bytes,
    plaintext: bytes,
    *,
    intact: int,
    dek: bytes = DEK,
    binding: Binding = BINDING,
) -> None:
    """Decryption fails and releases exactly the first ``intact`` segments, whatever the chunks."""
    expected = plaintext[: 0 if intact == 0 else F + (intact - 1) * S]
    for chunking in (max(1, len(ciphertext)), 7_777, MIB_64K, SEGMENT_SIZE + 1):
        assert _released(ciphertext, chunking, dek=dek, binding=binding) == expected
    assert _released_by_decryptor(ciphertext, dek=dek, binding=binding) == expected


@pytest.fixture(scope="module")
def single() -> tuple[bytes, bytes]:
    plaintext = _plaintext(1000, seed=1)
    return plaintext, _seal(plaintext)


@pytest.fixture(scope="module")
def multi() -> tuple[bytes, bytes]:
    plaintext = _plaintext(MULTI_SIZE, seed=2)
    ciphertext = _seal(plaintext)
    assert plaintext_size(len(ciphertext)) == MULTI_SIZE
    return plaintext, ciphertext


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("chunking", [None, 4093, MIB_64K, SEGMENT_SIZE - 1, SEGMENT_SIZE + 1])
def test_round_trip(size: int, chunking: int | None) -> None:
    plaintext = _plaintext(size, seed=size)
    chunk_size = chunking or max(1, size)
    digests: list[PlaintextDigest] = []

    ciphertext = b"".join(
        encrypt(_chunks(plaintext, chunk_size), DEK, BINDING, on_digest=digests.append)
    )

    assert len(ciphertext) == ciphertext_size(size)
    assert plaintext_size(len(ciphertext)) == size
    assert digests == [PlaintextDigest(hashlib.sha256(plaintext).digest(), size)]
    for chunk_size_out in (max(1, len(ciphertext)), chunk_size, 1 << 23):
        assert b"".join(decrypt(_chunks(ciphertext, chunk_size_out), DEK, BINDING)) == plaintext


@pytest.mark.parametrize("size", [0, 1, 100, 4096])
def test_round_trip_one_byte_at_a_time(size: int) -> None:
    plaintext = _plaintext(size)
    encryptor = Encryptor(DEK, BINDING)
    ciphertext = b"".join(encryptor.update(plaintext[i : i + 1]) for i in range(size))
    ciphertext += encryptor.finalize()

    decryptor = Decryptor(DEK, BINDING)
    recovered = b"".join(decryptor.update(ciphertext[i : i + 1]) for i in range(len(ciphertext)))

    assert recovered + decryptor.finalize() == plaintext
    assert encryptor.digest == PlaintextDigest(hashlib.sha256(plaintext).digest(), size)


def test_round_trip_with_ten_megabyte_chunks_and_mixed_buffer_types() -> None:
    plaintext = _plaintext(10_000_000, seed=3)
    chunks: list[bytes | bytearray | memoryview] = [
        b"",
        bytearray(plaintext[:10]),
        memoryview(plaintext)[10:],
        b"",
    ]
    ciphertext = b"".join(encrypt(chunks, DEK, BINDING))
    pieces: list[bytes | bytearray | memoryview] = [
        b"",
        bytearray(ciphertext[:5]),
        memoryview(ciphertext)[5:],
        b"",
    ]
    assert b"".join(decrypt(pieces, DEK, BINDING)) == plaintext


def _refilled(data: bytes, size: int) -> Iterator[memoryview]:
    """``data`` in chunks that are all views of one buffer, refilled for every chunk."""
    buffer = bytearray(size)
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        buffer[: len(piece)] = piece
        yield memoryview(buffer)[: len(piece)]


@pytest.mark.parametrize("chunking", [4093, SEGMENT_SIZE - 1, SEGMENT_SIZE + 1])
def test_caller_may_reuse_its_chunk_buffer_and_output_pieces_stay_intact(chunking: int) -> None:
    # Partial segments are copied into the en/decryptor's own buffer before the next chunk is
    # asked for, and every piece handed out is an object of its own: collecting all pieces
    # first (as list() does) must give the same bytes as consuming them one by one.
    plaintext = _plaintext(F + 2 * S + 123, seed=11)
    ciphertext_pieces = list(encrypt(_refilled(plaintext, chunking), DEK, BINDING))
    ciphertext = b"".join(ciphertext_pieces)
    assert len(ciphertext) == ciphertext_size(len(plaintext))
    plaintext_pieces = list(decrypt(_refilled(ciphertext, chunking), DEK, BINDING))
    assert b"".join(plaintext_pieces) == plaintext


def test_exactly_full_first_segment_is_one_last_segment() -> None:
    encryptor = Encryptor(DEK, BINDING)
    # A full segment is held back: without a further byte it cannot be sealed as non-last.
    assert len(encryptor.update(_plaintext(F))) == HEADER_SIZE
    assert len(encryptor.finalize()) == SEGMENT_SIZE - 40
    assert ciphertext_size(F) == PREFIX_SIZE + SEGMENT_SIZE


def test_encryptor_seals_full_segment_once_another_byte_arrives() -> None:
    encryptor = Encryptor(DEK, BINDING)
    encryptor.update(_plaintext(F))
    assert len(encryptor.update(b"x")) == SEGMENT_SIZE - 40
    assert len(encryptor.finalize()) == 1 + 16


def test_decryptor_holds_back_a_segment_until_it_is_known_not_to_be_last(
    multi: tuple[bytes, bytes],
) -> None:
    plaintext, ciphertext = multi
    decryptor = Decryptor(DEK, BINDING)
    end_of_first = PREFIX_SIZE + SEGMENT_SIZE
    assert decryptor.update(ciphertext[:end_of_first]) == b""
    assert decryptor.update(ciphertext[end_of_first : end_of_first + 1]) == plaintext[:F]


def test_nothing_is_released_before_the_last_tag_arrives(single: tuple[bytes, bytes]) -> None:
    _, ciphertext = single
    decryptor = Decryptor(DEK, BINDING)
    assert b"".join(decryptor.update(ciphertext[i : i + 1]) for i in range(len(ciphertext))) == b""


# --- properties ------------------------------------------------------------------------------

_SMALL_BOUNDARIES = [size for size in BOUNDARY_SIZES if size <= F + S + 1]
_CIPHERTEXT_BOUNDARIES = [PREFIX_SIZE, HEADER_SIZE, PREFIX_SIZE + SEGMENT_SIZE]


@st.composite
def _cuts(draw: st.DrawFn, length: int, boundaries: list[int]) -> list[int]:
    near = st.sampled_from(boundaries).flatmap(
        lambda b: st.integers(min(max(0, b - 2), length), min(length, b + 2))
    )
    return draw(st.lists(st.one_of(st.integers(0, length), near), max_size=10))


@settings(max_examples=30, deadline=None)
@given(
    size=st.one_of(st.sampled_from(_SMALL_BOUNDARIES), st.integers(0, F + S + 5000)),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_round_trip_for_any_size_and_chunking(size: int, seed: int, data: st.DataObject) -> None:
    plaintext = _plaintext(size, seed)
    plaintext_cuts = data.draw(_cuts(size, [F, F + S]))

    encryptor = Encryptor(DEK, BINDING)
    ciphertext = b"".join(encryptor.update(part) for part in _split(plaintext, plaintext_cuts))
    ciphertext += encryptor.finalize()
    ciphertext_cuts = data.draw(_cuts(len(ciphertext), _CIPHERTEXT_BOUNDARIES))
    decryptor = Decryptor(DEK, BINDING)
    recovered = b"".join(decryptor.update(part) for part in _split(ciphertext, ciphertext_cuts))

    assert recovered + decryptor.finalize() == plaintext
    assert len(ciphertext) == ciphertext_size(size)
    assert encryptor.digest == PlaintextDigest(hashlib.sha256(plaintext).digest(), size)


@functools.cache
def _three_segments() -> tuple[bytes, bytes]:
    plaintext = _plaintext(F + S + 10, seed=4)
    return plaintext, _seal(plaintext)


@settings(max_examples=30, deadline=None)
@given(position=st.integers(0, ciphertext_size(F + S + 10) - 1), bit=st.integers(0, 7))
def test_any_flipped_bit_is_rejected_after_only_the_intact_segments(
    position: int, bit: int
) -> None:
    plaintext, ciphertext = _three_segments()
    # Segments are counted from byte 52; the prefix and Tink header belong to segment 0.
    damaged = (position - PREFIX_SIZE) // SEGMENT_SIZE if position >= PREFIX_SIZE else 0
    expected = plaintext[: 0 if damaged == 0 else F + (damaged - 1) * S]
    assert _released(_flip(ciphertext, position, bit), MIB_64K) == expected


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 1 << 45))
def test_plaintext_size_inverts_ciphertext_size(size: int) -> None:
    assert plaintext_size(ciphertext_size(size)) == size


@settings(max_examples=300, deadline=None)
@given(size=st.one_of(st.integers(0, 4 * SEGMENT_SIZE), st.integers(0, 1 << 45)))
def test_every_accepted_ciphertext_size_is_canonical(size: int) -> None:
    try:
        plain = plaintext_size(size)
    except IntegrityError:
        return
    assert ciphertext_size(plain) == size


@pytest.mark.parametrize(
    "size",
    [
        0,
        HEADER_SIZE + 15,  # no room for the tag
        PREFIX_SIZE + SEGMENT_SIZE + 1,  # a second segment shorter than a tag
        PREFIX_SIZE + SEGMENT_SIZE + 16,  # an empty second segment: never written
        PREFIX_SIZE + 2 * SEGMENT_SIZE + 16,
    ],
)
def test_plaintext_size_rejects_impossible_sizes(size: int) -> None:
    with pytest.raises(IntegrityError):
        plaintext_size(size)


def test_ciphertext_size_known_values() -> None:
    assert ciphertext_size(0) == 108
    assert ciphertext_size(F) == PREFIX_SIZE + SEGMENT_SIZE
    assert ciphertext_size(F + 1) == PREFIX_SIZE + SEGMENT_SIZE + 17
    assert ciphertext_size(F + S) == PREFIX_SIZE + 2 * SEGMENT_SIZE


# --- the prefix ------------------------------------------------------------------------------


def test_flipped_bit_in_version_byte_is_rejected(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    assert_rejected(_flip(ciphertext, 0), plaintext, intact=0)


def test_flipped_bit_in_magic_is_rejected(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    assert_rejected(_flip(ciphertext, 2, bit=5), plaintext, intact=0)


def test_flipped_bit_in_dek_id_is_rejected(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    assert_rejected(_flip(ciphertext, 4 + 15, bit=7), plaintext, intact=0)


def test_flipped_bit_in_commitment_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    assert_rejected(_flip(ciphertext, 20 + 31, bit=3), plaintext, intact=0)


def test_prefix_with_commitment_from_another_key_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    forged = hub_prefix(OTHER_DEK, BINDING) + ciphertext[PREFIX_SIZE:]
    assert_rejected(forged, plaintext, intact=0)
    # The forged prefix is valid for the other key, but the segments were not made with it.
    assert_rejected(forged, plaintext, intact=0, dek=OTHER_DEK)


def test_commitment_is_checked_before_any_segment_key_exists(
    multi: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ciphertext = multi
    constructed: list[bytes] = []

    def counting(key: bytes) -> AESGCM:
        constructed.append(key)
        return AESGCM(key)

    monkeypatch.setattr(envelope, "AESGCM", counting)
    with pytest.raises(IntegrityError):
        Decryptor(OTHER_DEK, BINDING).update(ciphertext)
    assert constructed == []


def test_commitment_matches_its_specification() -> None:
    commitment_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ketenhub/v1 key commitment"
    ).derive(DEK)
    head = b"\x01KHE" + BINDING.dek_id
    expected = head + hmac.digest(commitment_key, head + BINDING.associated_data(), "sha256")
    assert hub_prefix(DEK, BINDING) == expected
    assert _seal(b"")[:PREFIX_SIZE] == expected


def test_associated_data_layout() -> None:
    assert BINDING.associated_data() == (
        b"ketenhub\x01"
        + bytes.fromhex("0f8fad5bd9cb469fa16570867728950e")
        + b"\x00\x00\x00\x07"
        + bytes(range(16, 32))
    )
    assert len(BINDING.associated_data()) == 45


# --- the Tink header -------------------------------------------------------------------------


def test_flipped_bit_in_tink_header_size_byte_is_rejected(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    assert_rejected(_flip(ciphertext, PREFIX_SIZE), plaintext, intact=0)


def test_flipped_bit_in_salt_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    assert_rejected(_flip(ciphertext, PREFIX_SIZE + 1 + 17), plaintext, intact=0)


def test_flipped_bit_in_nonce_prefix_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    assert_rejected(_flip(ciphertext, HEADER_SIZE - 1, bit=6), plaintext, intact=0)


# --- segments --------------------------------------------------------------------------------


def test_flipped_bit_in_single_segment_body_is_rejected(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    assert_rejected(_flip(ciphertext, HEADER_SIZE + 500), plaintext, intact=0)


def test_flipped_bit_in_later_segment_body_releases_only_earlier_segments(
    multi: tuple[bytes, bytes],
) -> None:
    plaintext, ciphertext = multi
    start, _ = _segment_span(2, len(ciphertext))
    assert_rejected(_flip(ciphertext, start + 12345, bit=1), plaintext, intact=2)


def test_flipped_bit_in_tag_is_rejected(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    assert_rejected(_flip(ciphertext, len(ciphertext) - 1, bit=7), plaintext, intact=0)


def test_flipped_bit_in_later_segment_tag_releases_only_earlier_segments(
    multi: tuple[bytes, bytes],
) -> None:
    plaintext, ciphertext = multi
    _, end = _segment_span(1, len(ciphertext))
    assert_rejected(_flip(ciphertext, end - 16), plaintext, intact=1)


def test_swapped_segments_are_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    (a, b), (c, d) = _segment_span(1, len(ciphertext)), _segment_span(2, len(ciphertext))
    swapped = ciphertext[:a] + ciphertext[c:d] + ciphertext[a:b] + ciphertext[d:]
    assert len(swapped) == len(ciphertext)
    assert_rejected(swapped, plaintext, intact=1)


def test_duplicated_segment_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    a, b = _segment_span(1, len(ciphertext))
    duplicated = ciphertext[:b] + ciphertext[a:b] + ciphertext[b:]
    assert_rejected(duplicated, plaintext, intact=2)


def test_dropped_middle_segment_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    a, b = _segment_span(1, len(ciphertext))
    assert_rejected(ciphertext[:a] + ciphertext[b:], plaintext, intact=1)


# --- truncation and extension ----------------------------------------------------------------


def test_truncation_at_segment_boundary_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    _, end = _segment_span(2, len(ciphertext))
    # Segment 2 is now last but was sealed as non-last; segments 0 and 1 are intact.
    assert_rejected(ciphertext[:end], plaintext, intact=2)


def test_truncation_after_first_segment_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    assert_rejected(ciphertext[: PREFIX_SIZE + SEGMENT_SIZE], plaintext, intact=0)


def test_truncation_inside_segment_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    start, _ = _segment_span(2, len(ciphertext))
    assert_rejected(ciphertext[: start + 1000], plaintext, intact=2)


def test_truncation_inside_last_segment_is_rejected(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    assert_rejected(ciphertext[:-1], plaintext, intact=0)


@pytest.mark.parametrize("length", [1, PREFIX_SIZE - 1, PREFIX_SIZE, HEADER_SIZE - 1, HEADER_SIZE])
def test_truncation_inside_header_is_rejected(single: tuple[bytes, bytes], length: int) -> None:
    plaintext, ciphertext = single
    assert_rejected(ciphertext[:length], plaintext, intact=0)


def test_empty_input_is_rejected() -> None:
    assert_rejected(b"", b"", intact=0)


def test_empty_trailing_segment_is_rejected() -> None:
    # Only a key holder can make this (both tags are genuine) and no Tink writer does; Tink's
    # reader accepts it, but one plaintext must have one ciphertext size, so we refuse it.
    plaintext = _plaintext(F, seed=10)
    salt, nonce_prefix = bytes(32), bytes(7)
    segment_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=BINDING.associated_data()
    ).derive(DEK)
    aead = AESGCM(segment_key)
    forged = b"".join(
        (
            hub_prefix(DEK, BINDING),
            b"\x28",
            salt,
            nonce_prefix,
            aead.encrypt(nonce_prefix + b"\x00\x00\x00\x00\x00", plaintext, None),
            aead.encrypt(nonce_prefix + b"\x00\x00\x00\x01\x01", b"", None),
        )
    )
    assert_rejected(forged, plaintext, intact=1)


def test_one_appended_byte_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    # The real last segment is now followed by a byte, so it is opened as non-last and fails.
    assert_rejected(ciphertext + b"\x00", plaintext, intact=3)


def test_one_appended_byte_to_single_segment_object_is_rejected(
    single: tuple[bytes, bytes],
) -> None:
    plaintext, ciphertext = single
    assert_rejected(ciphertext + b"\x00", plaintext, intact=0)


def test_appended_whole_segment_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    a, b = _segment_span(3, len(ciphertext))
    assert_rejected(ciphertext + ciphertext[a:b], plaintext, intact=3)


def test_appended_full_size_segment_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    a, b = _segment_span(2, len(ciphertext))
    assert_rejected(ciphertext + ciphertext[a:b], plaintext, intact=3)


# --- binding and keys ------------------------------------------------------------------------


def test_object_moved_to_another_document_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    assert_rejected(ciphertext, plaintext, intact=0, binding=OTHER_DOCUMENT)


def test_object_moved_to_another_version_is_rejected() -> None:
    plaintext = _plaintext(F + 10, seed=5)
    version_8 = Binding(BINDING.document_id, 8, BINDING.dek_id)
    assert_rejected(_seal(plaintext, binding=version_8), plaintext, intact=0)


def test_objects_swapped_between_documents_with_their_own_deks_are_rejected() -> None:
    plaintext_a, plaintext_b = _plaintext(F + 10, seed=6), _plaintext(F + 20, seed=7)
    binding_b = Binding(OTHER_DOCUMENT.document_id, 1, bytes(16))
    object_a = _seal(plaintext_a)
    object_b = _seal(plaintext_b, dek=OTHER_DEK, binding=binding_b)
    assert_rejected(object_b, plaintext_b, intact=0)
    assert_rejected(object_a, plaintext_a, intact=0, dek=OTHER_DEK, binding=binding_b)


def test_wrong_associated_data_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    wrong_version = Binding(BINDING.document_id, BINDING.version + 1, BINDING.dek_id)
    assert_rejected(ciphertext, plaintext, intact=0, binding=wrong_version)


def test_wrong_dek_id_in_binding_is_rejected(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    wrong_dek_id = Binding(BINDING.document_id, BINDING.version, bytes(16))
    assert_rejected(ciphertext, plaintext, intact=0, binding=wrong_dek_id)


def test_wrong_dek_is_rejected(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    assert_rejected(ciphertext, plaintext, intact=0, dek=OTHER_DEK)


# --- state -----------------------------------------------------------------------------------


def test_decryptor_refuses_use_after_failure(single: tuple[bytes, bytes]) -> None:
    _, ciphertext = single
    decryptor = Decryptor(DEK, BINDING)
    with pytest.raises(IntegrityError):
        decryptor.update(_flip(ciphertext, 0))
    with pytest.raises(IntegrityError):
        decryptor.update(ciphertext)
    with pytest.raises(IntegrityError):
        decryptor.finalize()


def test_decryptor_refuses_use_after_finalize(single: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = single
    decryptor = Decryptor(DEK, BINDING)
    assert decryptor.update(ciphertext) + decryptor.finalize() == plaintext
    with pytest.raises(RuntimeError):
        decryptor.update(b"")


def test_encryptor_refuses_use_after_finalize() -> None:
    encryptor = Encryptor(DEK, BINDING)
    encryptor.finalize()
    with pytest.raises(RuntimeError):
        encryptor.update(b"x")
    with pytest.raises(RuntimeError):
        encryptor.finalize()


def test_digest_is_unavailable_before_finalize() -> None:
    encryptor = Encryptor(DEK, BINDING)
    encryptor.update(b"abc")
    with pytest.raises(RuntimeError):
        _ = encryptor.digest


def test_encrypt_reports_digest_before_the_final_piece() -> None:
    plaintext = _plaintext(F + 5, seed=8)
    digests: list[PlaintextDigest] = []
    stream = encrypt([plaintext], DEK, BINDING, on_digest=digests.append)
    received = 0
    # A consumer that stops once it has ciphertext_size(n) bytes never resumes the generator.
    while received < ciphertext_size(len(plaintext)):
        received += len(next(stream))
    assert digests == [PlaintextDigest(hashlib.sha256(plaintext).digest(), len(plaintext))]


# --- randomness ------------------------------------------------------------------------------

# Salt 0xa0..0xbf and nonce prefix 0xa0..0xa6 (see the fixed source below), DEK 00..1f.
KNOWN_ANSWER = bytes.fromhex(
    "014b4845101112131415161718191a1b1c1d1e1f7a23d50223e322908c14078955805334af17e81bc3fce1"
    "8f4d042eabe72e755328a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfa0"
    "a1a2a3a4a5a67ae127521f22a4ad776584b95c5b3a8e14c1e2ef4dd6fc28d2b3ea54218a344757ae93cd"
)


def _fixed_randbytes(size: int) -> bytes:
    return bytes(range(0xA0, 0xA0 + size))


def test_fixed_randomness_gives_deterministic_output() -> None:
    outputs = []
    for _ in range(2):
        encryptor = Encryptor(DEK, BINDING, randbytes=_fixed_randbytes)
        outputs.append(encryptor.update(b"Ketenhub test vector") + encryptor.finalize())
    assert outputs[0] == outputs[1] == KNOWN_ANSWER


def test_default_randomness_differs_per_object() -> None:
    first, second = _seal(b"same"), _seal(b"same")
    assert first[:PREFIX_SIZE] == second[:PREFIX_SIZE]
    assert first[PREFIX_SIZE:HEADER_SIZE] != second[PREFIX_SIZE:HEADER_SIZE]


@pytest.mark.parametrize("size", [0, 6, 8])
def test_randbytes_of_wrong_length_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="randbytes"):
        Encryptor(DEK, BINDING, randbytes=lambda _: bytes(size))


# --- argument checks -------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_dek_of_wrong_length_is_refused(length: int) -> None:
    dek = bytes(length)
    with pytest.raises(ValueError, match="DEK"):
        Encryptor(dek, BINDING)
    with pytest.raises(ValueError, match="DEK"):
        Decryptor(dek, BINDING)
    with pytest.raises(ValueError, match="DEK"):
        hub_prefix(dek, BINDING)


@pytest.mark.parametrize("length", [0, 15, 17, 32])
def test_dek_id_of_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="dek_id"):
        Binding(BINDING.document_id, 1, bytes(length))


@pytest.mark.parametrize("version", [-1, 2**32, 2**64])
def test_version_out_of_range_is_refused(version: int) -> None:
    with pytest.raises(ValueError, match="version"):
        Binding(BINDING.document_id, version, BINDING.dek_id)


@pytest.mark.parametrize("version", [0, 2**32 - 1])
def test_version_at_the_edges_is_accepted(version: int) -> None:
    binding = Binding(BINDING.document_id, version, BINDING.dek_id)
    assert b"".join(decrypt(encrypt([b"x"], DEK, binding), DEK, binding)) == b"x"


def test_binding_refuses_wrong_types() -> None:
    with pytest.raises(TypeError):
        Binding(str(BINDING.document_id), 1, BINDING.dek_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Binding(BINDING.document_id, True, BINDING.dek_id)
    with pytest.raises(TypeError):
        Binding(BINDING.document_id, 1, bytearray(16))  # type: ignore[arg-type]


def test_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ciphertext_size(-1)
    with pytest.raises(ValueError, match="negative"):
        plaintext_size(-1)


# --- async -----------------------------------------------------------------------------------


async def _produce(data: bytes, size: int) -> AsyncIterator[bytes]:
    for chunk in _chunks(data, size):
        yield bytes(chunk)
        await asyncio.sleep(0)


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in stream])


def test_async_round_trip() -> None:
    plaintext = _plaintext(F + S + 7, seed=9)
    digests: list[PlaintextDigest] = []

    async def round_trip() -> bytes:
        stream = aencrypt(_produce(plaintext, MIB_64K), DEK, BINDING, on_digest=digests.append)
        ciphertext = await _collect(stream)
        assert len(ciphertext) == ciphertext_size(len(plaintext))
        return await _collect(adecrypt(_produce(ciphertext, 100_000), DEK, BINDING))

    assert asyncio.run(round_trip()) == plaintext
    assert digests == [PlaintextDigest(hashlib.sha256(plaintext).digest(), len(plaintext))]


def test_async_decrypt_releases_only_intact_segments(multi: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = multi
    start, _ = _segment_span(3, len(ciphertext))
    damaged = _flip(ciphertext, start + 10)
    released = bytearray()

    async def consume() -> None:
        async for piece in adecrypt(_produce(damaged, MIB_64K), DEK, BINDING):
            released.extend(piece)

    with pytest.raises(IntegrityError):
        asyncio.run(consume())
    assert bytes(released) == plaintext[: F + 2 * S]
