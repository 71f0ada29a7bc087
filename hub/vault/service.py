"""Sealing, opening, shredding and re-wrapping document content.

The order of operations is what makes this safe:

- **Seal**: encrypt while streaming into the object store, then add the row (``flush``, never
  ``commit``: the caller's transaction also holds the audit record). If that transaction rolls
  back, the object is deleted again; if the process dies in between, the orphan sweep finds an
  object without a row.
- **Open**: unwrap the data key, check that the object has exactly the size the recorded
  plaintext size implies (so truncation or extension fails before a byte is released), then
  decrypt segment by segment; every segment is authenticated before it is yielded. A byte range
  reads and authenticates the header and only the segments that hold it.
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

from hub.core import db
from hub.tables.vault import SealedObject
from hub.vault import repository
from storage import envelope, envelope_range
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


def open_plaintext(
    vault: Vault, sealed: SealedObject, *, offset: int = 0, length: int | None = None
) -> ObjectReader:
    """Open sealed content, or the plaintext bytes ``[offset, offset + length)`` of it.

    Everything that can be checked before the first byte is checked here, so a caller that has
    this object can start a response: the key unwraps, the object exists and has exactly the
    expected size, and (for a range) its header and key commitment verify. Segments are still
    authenticated one by one as they stream.

    ``length=None`` means to the end, and a range is clipped to the plaintext like a slice; an
    ``offset`` past the end, or a negative one or length, is a ``ValueError`` (the HTTP layer
    answers 416 before calling). The reader's ``size`` is the number of plaintext bytes it
    yields: ``plaintext_size`` for the whole object, the clipped range's length otherwise. (That
    differs from a store's reader, whose ``size`` is the whole object's.)

    A range that covers the whole plaintext is one sequential read of the object, as before. Any
    other range reads the 92-byte header, then only the segments that hold the range (see
    :mod:`storage.envelope_range`): a read authenticates the header and those segments, never a
    segment it does not serve, so tampering elsewhere is found by the read that reaches it.
    """
    if sealed.wrapped_dek is None:
        raise ContentShredded
    plan = envelope_range.plan_range(sealed.plaintext_size, offset=offset, length=length)
    binding = _binding(sealed)
    dek = vault.keys.unwrap(
        WrappedKey(sealed.kek_id, sealed.wrapped_dek),
        document_id=sealed.document_id,
        version=sealed.version,
        dek_id=binding.dek_id,
    )
    store, key = vault.store, sealed.object_key
    expected_size = envelope.ciphertext_size(sealed.plaintext_size)
    if plan.length == sealed.plaintext_size:  # offset 0 and to the end: the whole object
        reader = _open_checked(store, key, expected_size=expected_size)
        # Pulled segment by segment in their exact sizes: no segment is copied together.
        chunks = envelope.decrypt_reads(
            reader.read, dek, binding, plaintext_size=sealed.plaintext_size
        )
        return StreamReader(size=sealed.plaintext_size, chunks=chunks, release=reader.close)
    with _open_checked(
        store, key, expected_size=expected_size, length=envelope.HEADER_SIZE
    ) as head:
        header = head.read(envelope.HEADER_SIZE)
    # Checks prefix, commitment and Tink header before any segment is even requested.
    decryptor = envelope_range.RangeDecryptor(header, dek, binding, plan=plan)
    if plan.ciphertext_length == 0:  # an empty range: no segment to read
        return StreamReader(size=0, chunks=iter(()), release=lambda: None)
    # The size is checked again: the object may have been replaced between the two reads.
    reader = _open_checked(
        store,
        key,
        expected_size=expected_size,
        offset=plan.ciphertext_offset,
        length=plan.ciphertext_length,
    )
    chunks = decryptor.decrypt_reads(reader.read)
    return StreamReader(size=plan.length, chunks=chunks, release=reader.close)


def _open_checked(
    store: ObjectStore,
    key: str,
    *,
    expected_size: int,
    offset: int = 0,
    length: int | None = None,
) -> ObjectReader:
    """Open (a range of) an object whose total size must be ``expected_size``.

    A different size means truncation, extension or another object: :class:`IntegrityError`
    before a byte is read, and the reader is closed again.
    """
    reader = store.open(key, offset=offset, length=length)
    if reader.size != expected_size:
        reader.close()
        raise IntegrityError
    return reader


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
    uploading = repository.uploads_wrapped_under(session, kek_id)
    if uploading:
        raise KeyRingError(
            f"{uploading} unfinished resumable uploads hold data keys wrapped under {kek_id}; "
            "retire it once they have completed or expired (KETENHUB_UPLOAD_EXPIRY)"
        )
    vault.keys.retire(kek_id)
