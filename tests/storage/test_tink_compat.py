"""Byte-for-byte compatibility of ``storage.envelope`` with Google Tink, in both directions.

The body after the 52-byte hub prefix claims to be an unmodified Tink ``AES256_GCM_HKDF_1MB``
stream. These tests hold that claim to the real ``tink`` package: a keyset is built around the
raw DEK, Tink decrypts what we write once the prefix is stripped, and we decrypt what Tink writes
once a prefix is put in front of it.
"""

from __future__ import annotations

import io
import random
import uuid

import pytest
import tink
from tink import cleartext_keyset_handle, streaming_aead
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2

from storage.envelope import (
    FIRST_SEGMENT_PLAINTEXT,
    PREFIX_SIZE,
    SEGMENT_PLAINTEXT,
    SEGMENT_SIZE,
    Binding,
    Encryptor,
    ciphertext_size,
    decrypt,
    encrypt,
    hub_prefix,
)
from storage.errors import IntegrityError

DEK = bytes(range(200, 232))
BINDING = Binding(uuid.UUID("3b241101-e2bb-4255-8caf-4136c566a962"), 42, bytes(range(16)))

F = FIRST_SEGMENT_PLAINTEXT
S = SEGMENT_PLAINTEXT
SIZES = [0, 1, F - 1, F, F + 1, F + S - 1, F + S, F + S + 1, 3 * SEGMENT_SIZE + 12345]
_AES_GCM_HKDF_STREAMING_TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey"


class _KeptBytesIO(io.BytesIO):
    """Tink closes the destination when its encrypting stream closes; keep what was written."""

    value = b""

    def close(self) -> None:
        if not self.closed:
            self.value = self.getvalue()
        super().close()


def _tink_primitive(dek: bytes) -> streaming_aead.StreamingAead:
    """A Tink StreamingAead over the raw DEK with the AES256_GCM_HKDF_1MB parameters."""
    key = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(version=0, key_value=dek)
    key.params.ciphertext_segment_size = SEGMENT_SIZE
    key.params.derived_key_size = 32
    key.params.hkdf_hash_type = common_pb2.SHA256
    keyset = tink_pb2.Keyset(primary_key_id=1)
    entry = keyset.key.add()
    entry.key_data.type_url = _AES_GCM_HKDF_STREAMING_TYPE_URL
    entry.key_data.value = key.SerializeToString()
    entry.key_data.key_material_type = tink_pb2.KeyData.SYMMETRIC
    entry.status = tink_pb2.ENABLED
    entry.key_id = 1
    entry.output_prefix_type = tink_pb2.RAW
    handle = cleartext_keyset_handle.from_keyset(keyset)
    return handle.primitive(streaming_aead.StreamingAead)


@pytest.fixture(scope="module")
def tink_aead() -> streaming_aead.StreamingAead:
    streaming_aead.register()
    return _tink_primitive(DEK)


def _tink_encrypt(primitive: streaming_aead.StreamingAead, plaintext: bytes, ad: bytes) -> bytes:
    destination = _KeptBytesIO()
    with primitive.new_encrypting_stream(destination, ad) as stream:
        # Uneven writes, so Tink's own buffering across segment boundaries is exercised too.
        for start in range(0, len(plaintext), 300_007):
            stream.write(plaintext[start : start + 300_007])
    return destination.value


def _tink_decrypt(primitive: streaming_aead.StreamingAead, ciphertext: bytes, ad: bytes) -> bytes:
    with primitive.new_decrypting_stream(io.BytesIO(ciphertext), ad) as stream:
        result: bytes = stream.read()
    return result


def _plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize("size", SIZES)
def test_tink_decrypts_our_ciphertext(tink_aead: streaming_aead.StreamingAead, size: int) -> None:
    plaintext = _plaintext(size)
    ours = b"".join(encrypt([plaintext], DEK, BINDING))

    assert ours[:PREFIX_SIZE] == hub_prefix(DEK, BINDING)
    assert _tink_decrypt(tink_aead, ours[PREFIX_SIZE:], BINDING.associated_data()) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_we_decrypt_tink_ciphertext(tink_aead: streaming_aead.StreamingAead, size: int) -> None:
    plaintext = _plaintext(size)
    theirs = _tink_encrypt(tink_aead, plaintext, BINDING.associated_data())
    stored = hub_prefix(DEK, BINDING) + theirs

    # Same length as ours: Tink also never ends on an empty segment, so sizes are canonical.
    assert len(stored) == ciphertext_size(size)
    for chunk in (len(stored) or 1, 65_536):
        pieces = [stored[i : i + chunk] for i in range(0, len(stored), chunk)]
        assert b"".join(decrypt(pieces, DEK, BINDING)) == plaintext


def test_tink_decrypts_our_deterministic_output(tink_aead: streaming_aead.StreamingAead) -> None:
    encryptor = Encryptor(DEK, BINDING, randbytes=bytes)  # all-zero salt and nonce prefix
    ours = encryptor.update(b"fixed salt and nonce prefix") + encryptor.finalize()
    assert ours[PREFIX_SIZE : PREFIX_SIZE + 40] == b"\x28" + bytes(39)
    assert _tink_decrypt(tink_aead, ours[PREFIX_SIZE:], BINDING.associated_data()) == (
        b"fixed salt and nonce prefix"
    )


def test_tink_rejects_our_ciphertext_under_wrong_associated_data(
    tink_aead: streaming_aead.StreamingAead,
) -> None:
    ours = b"".join(encrypt([_plaintext(F + 10)], DEK, BINDING))
    other_version = Binding(BINDING.document_id, BINDING.version + 1, BINDING.dek_id)
    with pytest.raises(tink.TinkError):
        _tink_decrypt(tink_aead, ours[PREFIX_SIZE:], other_version.associated_data())


def test_tink_rejects_our_ciphertext_with_prefix_left_on(
    tink_aead: streaming_aead.StreamingAead,
) -> None:
    ours = b"".join(encrypt([_plaintext(100)], DEK, BINDING))
    with pytest.raises(tink.TinkError):
        _tink_decrypt(tink_aead, ours, BINDING.associated_data())


def test_tink_rejects_our_ciphertext_under_another_key() -> None:
    streaming_aead.register()
    ours = b"".join(encrypt([_plaintext(100)], DEK, BINDING))
    with pytest.raises(tink.TinkError):
        _tink_decrypt(_tink_primitive(bytes(32)), ours[PREFIX_SIZE:], BINDING.associated_data())


def test_we_reject_tink_ciphertext_made_for_other_associated_data(
    tink_aead: streaming_aead.StreamingAead,
) -> None:
    # The prefix is valid for BINDING, so only the segment key (HKDF info = associated data)
    # can tell that Tink sealed this body for another document version.
    other_version = Binding(BINDING.document_id, BINDING.version + 1, BINDING.dek_id)
    theirs = _tink_encrypt(tink_aead, _plaintext(100), other_version.associated_data())
    with pytest.raises(IntegrityError):
        b"".join(decrypt([hub_prefix(DEK, BINDING) + theirs], DEK, BINDING))
