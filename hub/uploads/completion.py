"""Completing a resumable upload: its parts become one ordinary sealed object, and its rows.

:func:`assemble` reads the parts in order and writes their concatenation as one new object (a
streamed copy, which works on every store), decrypting on the way: every segment is
authenticated, the plaintext's SHA-256 and size are computed, and the object's size is checked
against the length, so a part that was lost, replaced or tampered with fails the completion
instead of making a document nobody can read. :func:`completed_rows` builds the
``sealed_object`` and ``document`` rows exactly as the form upload makes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.tables.documents import Document
from hub.tables.uploads import Upload, UploadPart
from hub.tables.vault import SealedObject
from storage import envelope
from storage.objects import ObjectStore


@dataclass(frozen=True, slots=True)
class Assembled:
    """The completed object, and the SHA-256 (hex) and size of the plaintext it holds."""

    object_key: str
    sha256: str
    size: int


def assemble(
    store: ObjectStore,
    parts: Sequence[UploadPart],
    *,
    dek: bytes,
    binding: envelope.Binding,
    length: int,
) -> Assembled:
    """Concatenate ``parts`` into one new object, authenticating every segment on the way.

    Raises :class:`~storage.errors.IntegrityError` for a segment that does not verify (the put
    is atomic: nothing is left), and ``RuntimeError`` when the sizes do not add up (the object
    is deleted again).
    """
    decryptor = envelope.Decryptor(dek, binding)
    digest = hashlib.sha256()
    size = 0

    def ciphertext() -> Iterator[bytes]:
        nonlocal size
        for part in parts:
            with store.open(part.object_key) as reader:
                for chunk in reader:
                    plaintext = decryptor.update(chunk)
                    digest.update(plaintext)
                    size += len(plaintext)
                    yield chunk
        last = decryptor.finalize()
        digest.update(last)
        size += len(last)

    info = store.put(ciphertext())
    if size != length or info.size != envelope.ciphertext_size(length):
        store.delete(info.key)
        raise RuntimeError("an upload's parts do not add up to its length")
    return Assembled(info.key, digest.hexdigest(), size)


def completed_rows(
    upload: Upload, assembled: Assembled, *, retain_until: datetime, now: datetime
) -> tuple[SealedObject, Document]:
    """The ``sealed_object`` and ``document`` rows of a completed upload: the data key wrapped
    at creation, the decision's fields, the sniffed type and the assembled content."""
    if upload.wrapped_dek is None or upload.v_number_sealed is None:
        raise RuntimeError("an unfinished upload lacks its data key or its v-number")
    if upload.content_type is None:
        raise RuntimeError("a complete upload was never sniffed")
    sealed = SealedObject(
        document_id=upload.document_id,
        version=0,
        dek_id=upload.dek_id,
        kek_id=upload.kek_id,
        wrapped_dek=upload.wrapped_dek,
        object_key=assembled.object_key,
        plaintext_size=assembled.size,
        sha256=assembled.sha256,
        created_at=now,
    )
    document = Document(
        id=upload.document_id,
        document_type=upload.document_type,
        uploader=upload.organisation,
        uploaded_by=upload.uploaded_by,
        purpose=upload.purpose,
        v_index=upload.v_index,
        v_number_sealed=upload.v_number_sealed,
        title=upload.title,
        filename=upload.filename,
        content_type=upload.content_type,
        size=assembled.size,
        sha256=assembled.sha256,
        version=0,
        created_at=now,
        retain_until=retain_until,
    )
    return sealed, document
