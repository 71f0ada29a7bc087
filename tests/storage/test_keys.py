"""The local key ring: file handling, wrapping, rotation, re-wrap and limits."""

from __future__ import annotations

import base64
import json
import stat
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import (
    IntegrityError,
    KeyFileCorrupt,
    KeyFileInsecure,
    KeyFileMissing,
    KeyRingError,
    KeyUsageExhausted,
    UnknownKeyId,
)
from storage.keys import WRAPPED_SIZE, LocalKeyRing, WrappedKey, rewrap

DOC = uuid.UUID("6f1c7d8e-2a3b-4c5d-8e9f-0a1b2c3d4e5f")
DEK = bytes(range(32))
DEK_ID = bytes(range(100, 116))


@pytest.fixture
def ring_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "keyring.json"


@pytest.fixture
def ring(ring_path: Path) -> LocalKeyRing:
    return LocalKeyRing.create(ring_path)


def _wrap(ring: LocalKeyRing, *, version: int = 1) -> WrappedKey:
    return ring.wrap(DEK, document_id=DOC, version=version, dek_id=DEK_ID)


def test_create_writes_a_private_file_in_a_private_directory(
    ring: LocalKeyRing, ring_path: Path
) -> None:
    assert stat.S_IMODE(ring_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ring_path.parent.stat().st_mode) == 0o700
    document = json.loads(ring_path.read_text())
    assert document["format"] == "ketenhub-keyring/1"
    assert len(document["keks"]) == 1
    assert document["keks"][0]["id"] == ring.current_kek_id()


def test_create_refuses_to_overwrite(ring: LocalKeyRing, ring_path: Path) -> None:
    before = ring_path.read_bytes()
    with pytest.raises(KeyRingError, match="refusing to overwrite"):
        LocalKeyRing.create(ring_path)
    assert ring_path.read_bytes() == before


def test_wrap_and_unwrap_round_trip(ring: LocalKeyRing) -> None:
    wrapped = _wrap(ring)
    assert wrapped.kek_id == ring.current_kek_id()
    assert len(wrapped.blob) == WRAPPED_SIZE
    assert DEK not in wrapped.blob
    assert ring.unwrap(wrapped, document_id=DOC, version=1, dek_id=DEK_ID) == DEK


def test_wrapping_is_randomised(ring: LocalKeyRing) -> None:
    assert _wrap(ring).blob != _wrap(ring).blob


def test_wrapped_key_matches_an_independent_aes_gcm_computation(
    ring: LocalKeyRing, ring_path: Path
) -> None:
    kek = base64.b64decode(json.loads(ring_path.read_text())["keks"][0]["key"])
    wrapped = _wrap(ring)
    kek_id = wrapped.kek_id.encode()
    aad = (
        b"ketenhub-wrap\x01"
        + DOC.bytes
        + (1).to_bytes(4, "big")
        + DEK_ID
        + bytes([len(kek_id)])
        + kek_id
    )
    assert wrapped.blob[0] == 1
    assert AESGCM(kek).decrypt(wrapped.blob[1:13], wrapped.blob[13:], aad) == DEK


@pytest.mark.parametrize(
    "change",
    [
        {"document_id": uuid.UUID(int=1)},
        {"version": 2},
        {"dek_id": bytes(16)},
    ],
    ids=["other-document", "other-version", "other-dek-id"],
)
def test_unwrap_with_other_binding_fails(ring: LocalKeyRing, change: dict[str, object]) -> None:
    wrapped = _wrap(ring)
    binding: dict[str, object] = {"document_id": DOC, "version": 1, "dek_id": DEK_ID, **change}
    with pytest.raises(IntegrityError):
        ring.unwrap(wrapped, **binding)  # type: ignore[arg-type]


def test_unwrap_of_tampered_blob_fails(ring: LocalKeyRing) -> None:
    wrapped = _wrap(ring)
    for index in (0, 5, 20, len(wrapped.blob) - 1):
        tampered = bytearray(wrapped.blob)
        tampered[index] ^= 0x01
        with pytest.raises(IntegrityError):
            ring.unwrap(
                WrappedKey(wrapped.kek_id, bytes(tampered)),
                document_id=DOC,
                version=1,
                dek_id=DEK_ID,
            )


def test_unwrap_of_truncated_blob_fails(ring: LocalKeyRing) -> None:
    wrapped = _wrap(ring)
    with pytest.raises(IntegrityError):
        ring.unwrap(
            WrappedKey(wrapped.kek_id, wrapped.blob[:-1]), document_id=DOC, version=1, dek_id=DEK_ID
        )


def test_unwrap_with_unknown_kek_id_names_the_id(ring: LocalKeyRing) -> None:
    wrapped = _wrap(ring)
    with pytest.raises(UnknownKeyId, match="kek-doesnotexist"):
        ring.unwrap(
            WrappedKey("kek-doesnotexist", wrapped.blob), document_id=DOC, version=1, dek_id=DEK_ID
        )


def test_unwrap_under_a_wrong_kek_fails(ring: LocalKeyRing, tmp_path: Path) -> None:
    """A wrapped key relabelled as another KEK's (same id, other key material) never opens."""
    wrapped = _wrap(ring)
    other = LocalKeyRing.create(tmp_path / "other" / "keyring.json")
    document = json.loads((tmp_path / "other" / "keyring.json").read_text())
    document["keks"][0]["id"] = wrapped.kek_id
    forged_path = tmp_path / "forged" / "keyring.json"
    forged_path.parent.mkdir(mode=0o700)
    forged_path.write_text(json.dumps(document))
    forged_path.chmod(0o600)
    forged = LocalKeyRing(forged_path)
    assert other.current_kek_id() != wrapped.kek_id
    with pytest.raises(IntegrityError):
        forged.unwrap(wrapped, document_id=DOC, version=1, dek_id=DEK_ID)


def test_rotation_keeps_old_keys_working_and_wraps_new_ones_with_the_new_kek(
    ring: LocalKeyRing,
) -> None:
    old_kek = ring.current_kek_id()
    old = _wrap(ring)
    new_kek = ring.rotate()
    assert new_kek != old_kek
    assert ring.current_kek_id() == new_kek
    new = _wrap(ring, version=2)
    assert new.kek_id == new_kek
    assert ring.unwrap(old, document_id=DOC, version=1, dek_id=DEK_ID) == DEK
    assert ring.unwrap(new, document_id=DOC, version=2, dek_id=DEK_ID) == DEK
    assert [k.kek_id for k in ring.keks()] == [old_kek, new_kek]
    assert [k.current for k in ring.keks()] == [False, True]


def test_rewrap_moves_a_key_to_the_current_kek(ring: LocalKeyRing) -> None:
    old = _wrap(ring)
    new_kek = ring.rotate()
    moved = rewrap(ring, old, document_id=DOC, version=1, dek_id=DEK_ID)
    assert moved.kek_id == new_kek
    assert ring.unwrap(moved, document_id=DOC, version=1, dek_id=DEK_ID) == DEK
    assert rewrap(ring, moved, document_id=DOC, version=1, dek_id=DEK_ID) is moved


def test_retire_destroys_the_old_kek(ring: LocalKeyRing, ring_path: Path) -> None:
    old = _wrap(ring)
    ring.rotate()
    ring.retire(old.kek_id)
    assert old.kek_id not in ring_path.read_text()
    with pytest.raises(UnknownKeyId):
        ring.unwrap(old, document_id=DOC, version=1, dek_id=DEK_ID)


def test_the_current_kek_cannot_be_retired(ring: LocalKeyRing) -> None:
    with pytest.raises(KeyRingError, match="rotate first"):
        ring.retire(ring.current_kek_id())


def test_a_rotation_by_another_process_is_picked_up(ring_path: Path) -> None:
    clock = [0.0]
    first = LocalKeyRing.create(ring_path, reload_interval=2.0)
    second = LocalKeyRing(ring_path, reload_interval=2.0, monotonic=lambda: clock[0])
    new_kek = first.rotate()
    clock[0] = 2.5
    assert second.current_kek_id() == new_kek


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileMissing, match="ketenhub init"):
        LocalKeyRing(tmp_path / "nope.json")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(
    ring: LocalKeyRing, ring_path: Path, mode: int
) -> None:
    ring_path.chmod(mode)
    with pytest.raises(KeyFileInsecure, match="chmod 600"):
        LocalKeyRing(ring_path)


def test_key_file_behind_a_symlink_is_refused(
    ring: LocalKeyRing, ring_path: Path, tmp_path: Path
) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(ring_path)
    with pytest.raises(KeyRingError):
        LocalKeyRing(link)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"format": "other", "keks": []}',
        b'{"format": "ketenhub-keyring/1", "keks": []}',
        b'{"format": "ketenhub-keyring/1", "keks": [{"id": "k1"}]}',
        (
            b'{"format": "ketenhub-keyring/1", "keks": [{"id": "k1", "key": "AAAA", '
            b'"created_at": "2026-01-01T00:00:00+00:00"}]}'
        ),
        b'{"format": "ketenhub-keyring/1", "keks": [{"id": "../x", "key": "'
        + b"A" * 43
        + b'=", "created_at": "2026-01-01T00:00:00+00:00"}]}',
    ],
    ids=[
        "not-json",
        "not-object",
        "wrong-format",
        "no-keys",
        "missing-fields",
        "short-key",
        "bad-id",
    ],
)
def test_corrupt_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keyring.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileCorrupt):
        LocalKeyRing(path)


def test_corrupt_key_file_error_does_not_quote_key_material(
    ring_path: Path, ring: LocalKeyRing
) -> None:
    document = json.loads(ring_path.read_text())
    secret = document["keks"][0]["key"]
    document["keks"][0]["created_at"] = "garbage"
    ring_path.write_text(json.dumps(document))
    with pytest.raises(KeyFileCorrupt) as excinfo:
        LocalKeyRing(ring_path)
    assert secret not in str(excinfo.value)


def test_wrap_limit_is_enforced(ring_path: Path) -> None:
    ring = LocalKeyRing.create(ring_path, wrap_limit=3)
    for _ in range(3):
        _wrap(ring)
    with pytest.raises(KeyUsageExhausted, match="rotate"):
        _wrap(ring)
    ring.rotate()
    _wrap(ring)


def test_seeded_wrap_counts_count_towards_the_limit(ring_path: Path) -> None:
    ring = LocalKeyRing.create(ring_path, wrap_limit=10)
    ring.seed_wrap_counts({ring.current_kek_id(): 10})
    with pytest.raises(KeyUsageExhausted):
        _wrap(ring)
    assert ring.wrap_count(ring.current_kek_id()) == 10


def test_keyring_file_is_rewritten_atomically_on_rotation(
    ring: LocalKeyRing, ring_path: Path
) -> None:
    inode = ring_path.stat().st_ino
    ring.rotate()
    assert ring_path.stat().st_ino != inode
    assert stat.S_IMODE(ring_path.stat().st_mode) == 0o600
    assert [p.name for p in ring_path.parent.iterdir()] == ["keyring.json"]


def test_wrong_length_inputs_are_programming_errors(ring: LocalKeyRing) -> None:
    with pytest.raises(ValueError, match="256 bits"):
        ring.wrap(b"short", document_id=DOC, version=1, dek_id=DEK_ID)
    with pytest.raises(ValueError, match="16 bytes"):
        ring.wrap(DEK, document_id=DOC, version=1, dek_id=b"short")
    with pytest.raises(ValueError, match="32 bits"):
        ring.wrap(DEK, document_id=DOC, version=2**32, dek_id=DEK_ID)


def test_seal_and_unseal_a_secret(ring: LocalKeyRing) -> None:
    sealed = ring.seal(b"a private signing key", purpose="oauth-signing-key:sig-1")
    assert sealed.kek_id == ring.current_kek_id()
    assert b"private signing key" not in sealed.blob
    assert ring.unseal(sealed, purpose="oauth-signing-key:sig-1") == b"a private signing key"


def test_unseal_with_another_purpose_fails(ring: LocalKeyRing) -> None:
    sealed = ring.seal(b"secret", purpose="oauth-signing-key:sig-1")
    with pytest.raises(IntegrityError):
        ring.unseal(sealed, purpose="oauth-signing-key:sig-2")


def test_a_sealed_secret_is_not_a_wrapped_data_key(ring: LocalKeyRing) -> None:
    """Domain separation: a sealed 32-byte secret never unwraps as a document's data key."""
    sealed = ring.seal(DEK, purpose="x")
    with pytest.raises(IntegrityError):
        ring.unwrap(sealed, document_id=DOC, version=1, dek_id=DEK_ID)


def test_sealed_secrets_survive_rotation(ring: LocalKeyRing) -> None:
    sealed = ring.seal(b"secret", purpose="p")
    ring.rotate()
    assert ring.unseal(sealed, purpose="p") == b"secret"
