"""``storage.envelope_resume``: an object sealed across many requests is an ordinary envelope
object, byte for byte the format's (Tink decrypts it too); the tail between requests is sealed
and bound to its offset."""

from __future__ import annotations

import random
import uuid

import pytest
from tink import streaming_aead

from storage import envelope
from storage.envelope import FIRST_SEGMENT_PLAINTEXT, PREFIX_SIZE, SEGMENT_PLAINTEXT, Binding
from storage.envelope_resume import (
    Resumed,
    SegmentSealer,
    last_segment,
    new_header,
    open_tail,
    seal_tail,
)
from storage.errors import IntegrityError
from tests.storage.test_tink_compat import _tink_decrypt, _tink_primitive

DEK = bytes(range(32))
BINDING = Binding(uuid.UUID("7d0f3c52-91a3-4e55-9e1b-0b6f1f0ad001"), 0, bytes(range(16, 32)))
F, S = FIRST_SEGMENT_PLAINTEXT, SEGMENT_PLAINTEXT
SIZES = [1, 7, F - 1, F, F + 1, F + S - 1, F + S, F + S + 1, F + 2 * S + 12345]


def sealed_in_requests(plaintext: bytes, cuts: list[int]) -> bytes:
    """The object as a resumable upload builds it: one Resumed per request, the tail sealed and
    opened again between requests, the header before segment 0."""
    header = new_header(DEK, BINDING)
    pieces, offset, tail = [header], 0, None
    for end in [*cuts, len(plaintext)]:
        opened = b"" if tail is None else open_tail(DEK, BINDING, tail, offset=offset)
        resumed = Resumed(
            SegmentSealer(DEK, BINDING, header), total=len(plaintext), offset=offset, tail=opened
        )
        pieces.extend(resumed.update(plaintext[offset:end]))
        offset = resumed.offset
        tail = seal_tail(DEK, BINDING, resumed.tail, offset=offset) if resumed.tail else None
    assert tail is None
    return b"".join(pieces)


@pytest.mark.parametrize("size", SIZES)
def test_an_object_sealed_across_requests_is_an_ordinary_envelope_object(size: int) -> None:
    plaintext = random.Random(size).randbytes(size)
    cuts = sorted(random.Random(size + 1).sample(range(1, size), min(5, size - 1)))
    ours = sealed_in_requests(plaintext, cuts)
    assert len(ours) == envelope.ciphertext_size(size)
    assert b"".join(envelope.decrypt([ours], DEK, BINDING)) == plaintext


@pytest.mark.parametrize("size", [1, F, F + 1, F + S + 1])
def test_tink_decrypts_an_object_sealed_across_requests(size: int) -> None:
    streaming_aead.register()
    primitive = _tink_primitive(DEK)
    plaintext = random.Random(size).randbytes(size)
    ours = sealed_in_requests(plaintext, [size // 2] if size > 1 else [])
    assert _tink_decrypt(primitive, ours[PREFIX_SIZE:], BINDING.associated_data()) == plaintext


def test_the_last_segment_is_known_by_position() -> None:
    assert [last_segment(n) for n in (1, F, F + 1, F + S, F + S + 1)] == [0, 0, 1, 1, 2]


def test_a_tail_opened_at_another_offset_fails() -> None:
    sealed = seal_tail(DEK, BINDING, b"%PDF-1.7", offset=8)
    assert open_tail(DEK, BINDING, sealed, offset=8) == b"%PDF-1.7"
    with pytest.raises(IntegrityError):
        open_tail(DEK, BINDING, sealed, offset=9)


def test_a_tail_of_another_document_or_key_fails() -> None:
    sealed = seal_tail(DEK, BINDING, b"tail", offset=4)
    other = Binding(uuid.uuid4(), 0, BINDING.dek_id)
    with pytest.raises(IntegrityError):
        open_tail(DEK, other, sealed, offset=4)
    with pytest.raises(IntegrityError):
        open_tail(bytes(32), BINDING, sealed, offset=4)


def test_a_tampered_tail_fails() -> None:
    sealed = bytearray(seal_tail(DEK, BINDING, b"tail", offset=4))
    sealed[-1] ^= 1
    with pytest.raises(IntegrityError):
        open_tail(DEK, BINDING, bytes(sealed), offset=4)
    with pytest.raises(IntegrityError):
        open_tail(DEK, BINDING, b"\x02" + bytes(sealed[1:]), offset=4)


def test_a_header_of_another_key_is_refused() -> None:
    header = new_header(bytes(32), BINDING)
    with pytest.raises(IntegrityError):
        SegmentSealer(DEK, BINDING, header)


def test_more_bytes_than_the_length_are_refused_before_any_is_taken() -> None:
    resumed = Resumed(
        SegmentSealer(DEK, BINDING, new_header(DEK, BINDING)), total=10, offset=0, tail=b""
    )
    with pytest.raises(ValueError, match="length"):
        list(resumed.update(b"x" * 11))
    assert resumed.offset == 0


def test_a_tail_that_does_not_end_at_the_offset_is_refused() -> None:
    sealer = SegmentSealer(DEK, BINDING, new_header(DEK, BINDING))
    with pytest.raises(ValueError, match="tail"):
        Resumed(sealer, total=F + 10, offset=F + 5, tail=b"x")
