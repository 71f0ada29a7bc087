"""The local key ring: file handling, wrapping, rotation, re-wrap and limits."""

from __future__ import annotations

import base64
import json
import os
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
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


def test_create_writes_a_private_read_only_file_in_a_private_directory(
    ring: LocalKeyRing, ring_path: Path
) -> None:
    assert stat.S_IMODE(ring_path.stat().st_mode) == 0o400
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


# -- which key file is accepted ---------------------------------------------------------------
# The tests run as root (as the suite does); a key file is accepted when owned by the process's
# user or by root, so "another owner" is any other uid. The hub's user as Kubernetes runs it (not
# root, the secret's group as a supplementary group) is a forked child that drops to such a uid.

STRANGER = 54321


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o440, 0o640])
def test_private_modes_are_accepted_outside_production(
    ring: LocalKeyRing, ring_path: Path, mode: int
) -> None:
    # Group read is for the process's own group (the file's group is root's here).
    ring_path.chmod(mode)
    assert LocalKeyRing(ring_path).current_kek_id() == ring.current_kek_id()


@pytest.mark.parametrize("mode", [0o400, 0o440])
def test_production_accepts_a_key_file_without_write_permission(
    ring: LocalKeyRing, ring_path: Path, mode: int
) -> None:
    ring_path.chmod(mode)
    assert LocalKeyRing(ring_path, allow_writable=False).current_kek_id()


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o200])
def test_production_refuses_a_writable_key_file(
    ring: LocalKeyRing, ring_path: Path, mode: int
) -> None:
    ring_path.chmod(mode)
    with pytest.raises(KeyFileInsecure, match=r"it is writable, which production refuses"):
        LocalKeyRing(ring_path, allow_writable=False)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (0o644, "others have access"),
        (0o604, "others have access"),
        (0o402, "others have access"),
        (0o660, "its group may write or execute it"),
        (0o410, "its group may write or execute it"),
        (0o700, "it is executable or has special bits"),
        (0o4400, "it is executable or has special bits"),
    ],
)
def test_a_key_file_open_to_others_is_refused_everywhere(
    ring: LocalKeyRing, ring_path: Path, mode: int, reason: str
) -> None:
    ring_path.chmod(mode)
    with pytest.raises(KeyFileInsecure, match=f"mode {mode:04o}: {reason}.*chmod 400"):
        LocalKeyRing(ring_path)


def test_a_key_file_of_another_user_is_refused(ring: LocalKeyRing, ring_path: Path) -> None:
    os.chown(ring_path, STRANGER, -1)
    with pytest.raises(KeyFileInsecure, match=f"owned by uid {STRANGER}"):
        LocalKeyRing(ring_path)


def test_group_read_for_a_group_the_hub_is_not_in_is_refused(
    ring: LocalKeyRing, ring_path: Path
) -> None:
    assert STRANGER not in os.getgroups()
    os.chown(ring_path, -1, STRANGER)
    ring_path.chmod(0o440)
    with pytest.raises(KeyFileInsecure, match=f"its group {STRANGER} may read it"):
        LocalKeyRing(ring_path, allow_writable=False)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "keyring.json"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileInsecure, match="not a regular file"):
        LocalKeyRing(fifo)


def _kubernetes_secret(volume: Path, ring_path: Path, *, stamp: str) -> Path:
    """Lay ``ring_path``'s file out as the kubelet mounts a secret, and return the path the
    hub is configured with: ``keyring.json -> ..data/keyring.json``, ``..data -> ..<stamp>``."""
    version = volume / f"..{stamp}"
    version.mkdir(parents=True)
    (version / "keyring.json").write_bytes(ring_path.read_bytes())
    (version / "keyring.json").chmod(0o440)
    data = volume / "..data"
    staged = volume / "..data_tmp"
    staged.symlink_to(version.name)
    staged.replace(data)  # the kubelet's atomic swap of a new version
    link = volume / "keyring.json"
    if not link.is_symlink():
        link.symlink_to("..data/keyring.json")
    return link


def test_a_key_file_mounted_as_a_kubernetes_secret_is_followed(
    ring: LocalKeyRing, ring_path: Path, tmp_path: Path
) -> None:
    volume = tmp_path / "secret"
    mounted = _kubernetes_secret(volume, ring_path, stamp="2026_01_01_00_00_00.000000001")
    first = LocalKeyRing(mounted, allow_writable=False, reload_interval=0)
    assert first.current_kek_id() == ring.current_kek_id()
    # The secret is updated: a new version directory, and ..data swapped to it.
    rotated = ring.rotate()
    _kubernetes_secret(volume, ring_path, stamp="2026_02_01_00_00_00.000000002")
    assert first.current_kek_id() == rotated


def test_the_end_of_a_symlink_chain_is_what_is_checked(
    ring: LocalKeyRing, ring_path: Path, tmp_path: Path
) -> None:
    mounted = _kubernetes_secret(tmp_path / "secret", ring_path, stamp="v1")
    target = (tmp_path / "secret" / "..v1" / "keyring.json").resolve()
    target.chmod(0o444)
    with pytest.raises(KeyFileInsecure, match=rf"{mounted} \(-> {target}\) has mode 0444"):
        LocalKeyRing(mounted)


def test_a_dangling_symlink_is_a_missing_key_file(tmp_path: Path) -> None:
    link = tmp_path / "keyring.json"
    link.symlink_to(tmp_path / "gone.json")
    with pytest.raises(KeyFileMissing, match="ketenhub init"):
        LocalKeyRing(link)


def test_rotation_through_a_symlink_replaces_its_target_and_keeps_the_link(
    ring: LocalKeyRing, ring_path: Path, tmp_path: Path
) -> None:
    link = tmp_path / "configured.json"
    link.symlink_to(ring_path)
    through_link = LocalKeyRing(link)
    new = through_link.rotate()
    assert link.is_symlink()
    assert json.loads(ring_path.read_text())["keks"][-1]["id"] == new


def _in_child(uid: int, groups: list[int], action: Callable[[], str]) -> str:
    """Run ``action`` in a forked child that has dropped root for ``uid`` with ``groups`` as
    its supplementary groups, as a container's user is; returns what it returned, or its
    exception as ``ExceptionName: message``."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(reader)
            os.setgroups(groups)
            os.setgid(uid)
            os.setuid(uid)
            try:
                outcome = action()
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which asserts
                outcome = f"{type(exc).__name__}: {exc}"
            os.write(writer, outcome.encode())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as fh:
        outcome = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, outcome
    return outcome


@pytest.fixture
def shared_volume() -> Iterator[Path]:
    """A directory that a non-root child can reach (pytest's own tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory(prefix="ketenhub-keys-") as made:
        volume = Path(made)
        volume.chmod(0o755)
        yield volume


def test_a_root_owned_secret_readable_by_the_hubs_group_is_accepted(
    ring: LocalKeyRing, ring_path: Path, shared_volume: Path
) -> None:
    # Kubernetes: runAsUser 10001, fsGroup 2000, secret defaultMode 0440, owned by root.
    hub_uid, fs_group = STRANGER - 1, STRANGER
    mounted = _kubernetes_secret(shared_volume, ring_path, stamp="v1")
    for path in (shared_volume / "..v1" / "keyring.json", shared_volume / "..v1"):
        os.chown(path, 0, fs_group)
    expected = ring.current_kek_id()

    def load() -> str:
        return LocalKeyRing(mounted, allow_writable=False).current_kek_id()

    def rotate() -> str:
        return LocalKeyRing(mounted, allow_writable=False).rotate()

    assert _in_child(hub_uid, [fs_group], load) == expected
    # Without the group the file cannot even be opened; a read-only secret cannot rotate.
    assert _in_child(hub_uid, [], load).startswith("KeyRingError: cannot open key file")
    assert _in_child(hub_uid, [fs_group], rotate) == (
        f"KeyRingError: cannot write key file {(shared_volume / '..v1' / 'keyring.json')}: "
        "Permission denied"
    )


def test_a_secret_readable_by_everyone_is_refused_for_a_non_root_hub(
    ring: LocalKeyRing, ring_path: Path, shared_volume: Path
) -> None:
    # Kubernetes' default secret mode is 0644: every process in the pod could read the keys.
    mounted = _kubernetes_secret(shared_volume, ring_path, stamp="v1")
    (shared_volume / "..v1" / "keyring.json").chmod(0o644)

    def load() -> str:
        return LocalKeyRing(mounted, allow_writable=False).current_kek_id()

    outcome = _in_child(STRANGER - 1, [STRANGER], load)
    assert outcome.startswith("KeyFileInsecure: key file")
    assert "others have access to it" in outcome


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
    assert stat.S_IMODE(ring_path.stat().st_mode) == 0o400
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
