"""Sealing, opening, shredding and re-wrapping document content.

The order of operations is what makes this safe:

- **Seal**: encrypt while streaming into the object store, then add the row (``flush``, never
  ``commit``: the caller's transaction also holds the audit record). If that transaction rolls
  back, the object is deleted again; if the process dies in between, the orphan sweep finds an
  object without a row.
- **Open**: unwrap the data key, check that the object has exactly the size the recorded
  plaintext size implies (so truncation or extension fails before a byte is released), then
  decrypt segment by segment; every segment is authenticated before it is yielded.
- **Shred**: destroy the wrapped data key in the row first; only after that change has
  committed is the object deleted. From the moment of commit the content is unreadable, even
  where copies of the object survive.
- **Re-wrap**: after a KEK rotation, move every live data key to the newest KEK without touching
  an object; then the old KEK can be retired.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from hub import db
from hub.vault import repository
from hub.vault.models import SealedObject
from storage import envelope
from storage.errors import IntegrityError, KeyRingError
from storage.keys import KEY_SIZE, KeyProvider, WrappedKey, rewrap
from storage.objects import ObjectReader, ObjectStore, StreamReader


class ContentShredded(Exception):
    """The content was crypto-shredded; it can never be read again."""


@dataclass(frozen=True, slots=True)
class Vault:
    """The object store and key provider that sealed content lives in."""

    store: ObjectStore
    keys: KeyProvider
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def _binding(sealed: SealedObject) -> envelope.Binding:
    return envelope.Binding(
        document_id=sealed.document_id, version=sealed.version, dek_id=bytes.fromhex(sealed.dek_id)
    )


def seal(
    session: Session,
    vault: Vault,
    *,
    document_id: uuid.UUID,
    version: int,
    chunks: Iterable[bytes],
) -> SealedObject:
    """Encrypt ``chunks`` into a new object and record it. Memory stays bounded by one segment."""
    dek = secrets.token_bytes(KEY_SIZE)
    dek_id = secrets.token_bytes(16)
    binding = envelope.Binding(document_id=document_id, version=version, dek_id=dek_id)
    wrapped = vault.keys.wrap(dek, document_id=document_id, version=version, dek_id=dek_id)
    digests: list[envelope.PlaintextDigest] = []
    info = vault.store.put(envelope.encrypt(chunks, dek, binding, on_digest=digests.append))
    # The object exists from here on: whatever happens to the transaction, it must not be left.
    db.after_rollback(session, lambda: vault.store.delete(info.key))
    try:
        (digest,) = digests
        sealed = SealedObject(
            document_id=document_id,
            version=version,
            dek_id=dek_id.hex(),
            kek_id=wrapped.kek_id,
            wrapped_dek=wrapped.blob,
            object_key=info.key,
            plaintext_size=digest.size,
            sha256=digest.sha256.hex(),
            created_at=vault.clock(),
        )
        session.add(sealed)
        session.flush()
    except BaseException:
        vault.store.delete(info.key)
        raise
    return sealed


def open_plaintext(vault: Vault, sealed: SealedObject) -> ObjectReader:
    """Open sealed content for streaming.

    Everything that can be checked before the first byte is checked here, so a caller that has
    this object can start a response: the key unwraps, the object exists and has exactly the
    expected size. Later segments are still authenticated one by one as they stream.
    """
    if sealed.wrapped_dek is None:
        raise ContentShredded
    binding = _binding(sealed)
    dek = vault.keys.unwrap(
        WrappedKey(sealed.kek_id, sealed.wrapped_dek),
        document_id=sealed.document_id,
        version=sealed.version,
        dek_id=binding.dek_id,
    )
    reader = vault.store.open(sealed.object_key)
    if reader.size != envelope.ciphertext_size(sealed.plaintext_size):
        reader.close()
        raise IntegrityError
    return StreamReader(
        size=sealed.plaintext_size,
        chunks=envelope.decrypt(reader, dek, binding),
        release=reader.close,
    )


def shred(session: Session, vault: Vault, sealed: SealedObject) -> None:
    """Crypto-shred: destroy the wrapped data key now, delete the object after commit."""
    if sealed.wrapped_dek is None:
        return
    sealed.wrapped_dek = None
    sealed.shredded_at = vault.clock()
    session.add(sealed)
    session.flush()
    object_key = sealed.object_key
    db.after_commit(session, lambda: vault.store.delete(object_key))


def rewrap_all(session: Session, vault: Vault, *, batch_size: int = 500) -> int:
    """Move every live data key to the current KEK. Returns how many were re-wrapped.

    Objects are not touched. Safe to interrupt and run again: rows already under the current
    KEK are skipped.
    """
    current = vault.keys.current_kek_id()
    moved = 0
    for batch in repository.iter_not_wrapped_under(session, current, batch_size=batch_size):
        for sealed in batch:
            if sealed.wrapped_dek is None:
                continue  # shredded between the query and now: nothing left to move
            binding = _binding(sealed)
            wrapped = rewrap(
                vault.keys,
                WrappedKey(sealed.kek_id, sealed.wrapped_dek),
                document_id=sealed.document_id,
                version=sealed.version,
                dek_id=binding.dek_id,
            )
            sealed.kek_id = wrapped.kek_id
            sealed.wrapped_dek = wrapped.blob
            sealed.rewrapped_at = vault.clock()
            session.add(sealed)
            moved += 1
        session.flush()
    return moved


def retire_kek(session: Session, vault: Vault, kek_id: str) -> None:
    """Destroy a KEK once no live data key needs it."""
    remaining = repository.live_wrapped_under(session, kek_id)
    if remaining:
        raise KeyRingError(
            f"{remaining} data keys are still wrapped under {kek_id}; run `ketenhub keys rewrap`"
        )
    vault.keys.retire(kek_id)
