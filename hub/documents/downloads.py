"""Serving a document's content: the download service and the stream it answers with.

:meth:`DownloadService.open_content` answers a conditional request before it touches the
object: a 304 is a metadata read, recorded as such, and decrypts nothing (RFC 9110 §13, see
:mod:`hub.web.preconditions`). Otherwise it opens the stream before the download's success event is
appended, so that the audit log's lock is not held during storage I/O, and checks everything it
can before the answer starts: the data key unwraps, the object has the size the recorded
plaintext implies, and the first segment authenticates. A failure there is refused as an
``error`` event and answers 500. The success event is then committed before the first byte
leaves; the rest of the content streams after that. A segment that fails then aborts the
transfer (the client gets a short body, never wrong bytes) and is recorded on its own, since the
request's transaction has ended.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from sqlalchemy import and_
from sqlmodel import col, select

from audit.events import Action, Outcome
from hub.core import db
from hub.core.errors import HubError, PreconditionFailed, ServiceUnavailable
from hub.documents.content import ByteRange, Conditions, etag, requested_range
from hub.documents.service import DocumentService, about, transfer_of
from hub.tables.documents import Document
from hub.tables.vault import SealedObject
from hub.trail.auditor import Receipt
from hub.trail.recorder import About
from hub.vault import repository as vault_repository
from hub.vault import service as vault
from hub.web.preconditions import EntityTag, MalformedPrecondition, Precondition, evaluate
from storage.errors import IntegrityError, ObjectNotFound

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Plaintext:
    """The bytes a download serves: ``first``, the piece authenticated before the answer
    started (in memory: sending it needs no I/O), then ``rest``, read and authenticated one
    segment at a time (blocking I/O: run it off the event loop). A failure in ``rest`` is
    recorded on its own and raised, and ``rest`` closes the object when it ends; :meth:`close`
    closes it whenever the transfer stops (also before ``rest`` ever ran).

    Iterating yields everything, ``first`` included, for a caller that simply wants the bytes.
    """

    first: bytes
    rest: Generator[bytes]
    release: Callable[[], None]

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            yield self.first
        yield from self.rest

    def close(self) -> None:
        self.rest.close()
        self.release()


@dataclass(slots=True)
class Content:
    """What a download serves: the document, the range, and the plaintext stream (not for HEAD,
    nor for a 304, ``not_modified``, which never opened the object)."""

    document: Document
    byte_range: ByteRange | None
    chunks: Plaintext | None
    receipt: Receipt
    not_modified: bool = False

    @property
    def length(self) -> int:
        return self.byte_range.length if self.byte_range else self.document.size


class StoredContentUnavailable(HubError):
    """The content exists in the database but cannot be served: corrupt or missing object."""

    slug = "stored-content-unavailable"


class DownloadService(DocumentService):
    """One caller's download (GET) or look at the content's headers (HEAD)."""

    def open_content(
        self,
        document_id: uuid.UUID,
        *,
        conditions: Conditions,
        head: bool,
    ) -> Content:
        """The document's content for a GET (``head=False``) or HEAD, under the request's
        ``conditions``. Visibility is decided first, so no precondition tells an invisible
        document from a missing one; then the preconditions (RFC 9110 §13.2.2), then the range,
        which HEAD ignores (§14.2: range handling is defined for GET only).

        A 304 is recorded as a metadata read (``document.read``, ``not modified``) and touches
        neither the data key nor the object; a 412 or a malformed precondition is recorded as
        an ``invalid`` request of the action asked for.
        """
        action = Action.DOCUMENT_READ if head else Action.DOCUMENT_DOWNLOAD
        # Held while visibility is decided: the session keeps its rows only as long as
        # someone does, and resolve_visible is to find this one there.
        loaded, sealed = (None, None) if head else self._with_sealed(document_id)
        document, access = self._resolve(document_id, action)
        del loaded
        subject = about(document.id, self._shown(document).v_number)
        current = etag(document.sha256)

        def invalid(exc: HubError, detail: str) -> HubError:
            return self.refuse(exc, action, subject, detail=detail)

        try:
            precondition = evaluate(
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
                current=EntityTag(current),
            )
        except MalformedPrecondition as exc:
            raise invalid(exc, "malformed precondition") from None
        if precondition is Precondition.FAILED:
            raise invalid(
                PreconditionFailed("the document's current ETag matches no tag of If-Match"),
                precondition.value,
            )
        if precondition is Precondition.NOT_MODIFIED:
            receipt = self.record_receipt(
                Action.DOCUMENT_READ,
                subject,
                rule=access.rule,
                purpose=access.purpose,
                detail=precondition.value,
            )
            return Content(document, None, None, receipt, not_modified=True)
        try:
            byte_range = (
                None
                if head
                else requested_range(
                    conditions.range,
                    size=document.size,
                    if_range=conditions.if_range,
                    current_etag=current,
                )
            )
        except HubError as exc:
            raise invalid(exc, "range not satisfiable") from None
        detail = "head" if head else None
        if byte_range is not None:
            detail = f"bytes {byte_range.start}-{byte_range.end}"
        # A download's leaf names the bytes it served (the whole content's hash and size, and
        # the range); a HEAD serves none and is a metadata read.
        transfer = None
        if not head:
            span = (byte_range.start, byte_range.end) if byte_range is not None else None
            transfer = transfer_of(document, span)
        # Opened (and its first segment authenticated) before the event is appended, so the
        # audit log's lock is held only for the append and the commit, not for storage I/O.
        chunks = None if head else self._open_stream(document, byte_range, subject, sealed)
        receipt = self.record_receipt(
            action,
            subject,
            rule=access.rule,
            purpose=access.purpose,
            detail=detail,
            transfer=transfer,
        )
        return Content(document, byte_range, chunks, receipt)

    def _with_sealed(self, document_id: uuid.UUID) -> tuple[Document | None, SealedObject | None]:
        """The document's row and its current sealed object in one statement (decision 0036).

        The row lands in the session, where :func:`~hub.access.rule.resolve_visible` finds it
        by its key without a round trip of its own; visibility is still decided there, as for
        any read, and the sealed object is used only for a document the caller may read. The
        statement is the same for a missing, deleted or hidden id, so neither its answer nor
        its timing tells them apart.
        """
        statement = (
            select(Document, SealedObject)
            .outerjoin(
                SealedObject,
                and_(
                    col(SealedObject.document_id) == Document.id,
                    col(SealedObject.version) == Document.version,
                ),
            )
            .where(Document.id == document_id)
        )
        row = self.session.exec(statement).first()
        return (row[0], row[1]) if row is not None else (None, None)

    def _open_stream(
        self,
        document: Document,
        byte_range: ByteRange | None,
        subject: About,
        sealed: SealedObject | None = None,
    ) -> Plaintext:
        current = sealed is not None and (sealed.document_id, sealed.version) == (
            document.id,
            document.version,
        )
        if sealed is None or not current:
            sealed = vault_repository.get_by_document(self.session, document.id, document.version)
        if sealed is None:
            raise self._unavailable(subject, ObjectNotFound("no sealed object"))
        try:
            reader = vault.open_plaintext(
                self.deps.vault,
                sealed,
                offset=byte_range.start if byte_range else 0,
                length=byte_range.length if byte_range else None,
            )
        except (IntegrityError, ObjectNotFound, vault.ContentShredded) as exc:
            raise self._unavailable(subject, exc) from None
        # If the commit that must precede the first byte fails, nobody will read this stream.
        db.after_rollback(self.session, reader.close)
        chunks = iter(reader)
        try:
            first = next(chunks, b"")
        except IntegrityError as exc:
            reader.close()
            raise self._unavailable(subject, exc) from None
        return Plaintext(
            first, self._rest(subject, chunks=chunks, close=reader.close), reader.close
        )

    def _unavailable(self, subject: About, exc: Exception) -> HubError:
        """Record the failure and answer 500 (no success was recorded yet)."""
        reference = uuid.uuid4().hex[:16]
        logger.error("document content unavailable (ref %s): %s", reference, type(exc).__name__)
        return self.refuse(
            StoredContentUnavailable(
                f"the stored content could not be served (reference {reference})"
            ),
            Action.DOCUMENT_DOWNLOAD,
            subject,
            detail=_failure(exc),
        )

    def _rest(
        self,
        subject: About,
        *,
        chunks: Iterator[bytes],
        close: Callable[[], None],
    ) -> Generator[bytes]:
        # Runs after the request's transaction has committed: a failure is recorded on its own.
        try:
            yield from chunks
        except IntegrityError:
            # No traceback: it would say no more than the event, and nothing of the content.
            logger.error("document content failed authentication mid-stream")  # noqa: TRY400
            try:
                self.recorder.record_alone(
                    Action.DOCUMENT_DOWNLOAD, subject, Outcome.ERROR, detail="integrity"
                )
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
