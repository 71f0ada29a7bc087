"""Serving a document's content: the stream that a download answers with.

:func:`open_stream` runs before the download's success event is appended, so that the audit
log's lock is not held during storage I/O. It checks everything it can before the answer
starts: the data key unwraps, the object has the size the recorded plaintext implies, and the
first segment authenticates. A failure there records an ``error`` event instead and answers
500. The success event is then committed before the first byte leaves; the rest of the content
streams after that. A segment that fails then aborts the transfer (the client gets a short
body, never wrong bytes) and is recorded on its own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit.events import Action, Outcome
from hub import db
from hub.audit.service import Receipt
from hub.documents.content import ByteRange
from hub.documents.models import Document
from hub.errors import HubError, ServiceUnavailable
from hub.vault import repository as vault_repository
from hub.vault import service as vault
from storage.errors import IntegrityError, ObjectNotFound

if TYPE_CHECKING:
    from hub.documents.service import DocumentService

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Content:
    """What a download serves: the document, the range, and the plaintext stream (not for HEAD,
    nor for a 304, ``not_modified``, which never opened the object)."""

    document: Document
    byte_range: ByteRange | None
    chunks: Iterator[bytes] | None
    receipt: Receipt
    not_modified: bool = False

    @property
    def length(self) -> int:
        return self.byte_range.length if self.byte_range else self.document.size


class StoredContentUnavailable(HubError):
    """The content exists in the database but cannot be served: corrupt or missing object."""

    slug = "stored-content-unavailable"


def open_stream(
    service: DocumentService, document: Document, byte_range: ByteRange | None, v_number: str
) -> Iterator[bytes]:
    sealed = vault_repository.get_by_document(service.session, document.id, document.version)
    if sealed is None:
        raise _unavailable(service, document, v_number, ObjectNotFound("no sealed object"))
    try:
        reader = vault.open_plaintext(
            service.deps.vault,
            sealed,
            offset=byte_range.start if byte_range else 0,
            length=byte_range.length if byte_range else None,
        )
    except (IntegrityError, ObjectNotFound, vault.ContentShredded) as exc:
        raise _unavailable(service, document, v_number, exc) from None
    # If the commit that must precede the first byte fails, nobody will read this stream.
    db.after_rollback(service.session, reader.close)
    chunks = iter(reader)
    try:
        first = next(chunks, b"")
    except IntegrityError as exc:
        reader.close()
        raise _unavailable(service, document, v_number, exc) from None
    return _rest(service, document, v_number, first=first, chunks=chunks, close=reader.close)


def _unavailable(
    service: DocumentService, document: Document, v_number: str, exc: Exception
) -> HubError:
    """Record the failure and answer 500 (no success was recorded yet)."""
    reference = uuid.uuid4().hex[:16]
    logger.error("document content unavailable (ref %s): %s", reference, type(exc).__name__)
    return service.refuse(
        StoredContentUnavailable(f"the stored content could not be served (reference {reference})"),
        service.event(
            Action.DOCUMENT_DOWNLOAD,
            Outcome.ERROR,
            resource_id=str(document.id),
            v_number=v_number,
            detail=_failure(exc),
        ),
    )


def _rest(
    service: DocumentService,
    document: Document,
    v_number: str,
    *,
    first: bytes,
    chunks: Iterator[bytes],
    close: Callable[[], None],
) -> Iterator[bytes]:
    # Runs after the request's transaction has committed: a failure is recorded on its own.
    try:
        if first:
            yield first
        yield from chunks
    except IntegrityError:
        # No traceback: it would say no more than the event, and nothing of the content.
        logger.error("document content failed authentication mid-stream")  # noqa: TRY400
        event = service.event(
            Action.DOCUMENT_DOWNLOAD,
            Outcome.ERROR,
            resource_id=str(document.id),
            v_number=v_number,
            detail="integrity",
        )
        try:
            service.deps.audit.record_alone(event)
        except ServiceUnavailable:
            logger.exception("could not record the failed download")
        raise
    finally:
        close()


def _failure(exc: Exception) -> str:
    if isinstance(exc, IntegrityError):
        return "integrity"
    if isinstance(exc, vault.ContentShredded):
        return "shredded"
    return "object missing"
