"""Resumable uploads (tus 1.0): decided at creation, sealed as they arrive, a document at the end.

The order of operations, and why:

- **Creation** decides everything the form upload decides before its first byte
  (:meth:`hub.documents.uploads.UploadService.decide`: type known, organisation may upload,
  v-number and title valid), and the size against the type's maximum, once. It draws the data
  key, wraps it under the KEK bound to the future document (id, version 0) exactly as
  ``sealed_object`` will hold it, and writes the object header. Recorded as ``upload.create``.
- **PATCH** appends at ``Upload-Offset``. The body is encrypted as it arrives into the final
  envelope format (:mod:`storage.envelope_resume`): each segment is sealed once its plaintext is
  complete, the last one (known by position: the length is known) as last. The sealed segments
  of one request become one *part* object; the unfinished segment's plaintext (the *tail*, at
  most one segment) is kept encrypted in the row. Nothing is plaintext at rest. The body is read
  with no transaction open; then one compare-and-set moves the offset (:func:`repository.advance`):
  of two requests at one offset, one wins and the other answers 409, its part deleted. Any replica
  may serve the next request: all state is in the database and the store. The first bytes are
  sniffed as the form path sniffs them; a type the document type does not take terminates the
  upload. A body that breaks off keeps what arrived (the client asks HEAD and resumes), unless it
  carried an ``Upload-Checksum``, which cannot be checked then.
- **Completion** (the last byte in, in the same request): the parts are read in order,
  decrypted and verified segment by segment (computing the SHA-256 and size), and their
  ciphertext concatenated into one new object, byte for byte an ordinary sealed document. Then,
  in one transaction: the ``sealed_object`` and ``document`` rows and the ``document.upload``
  event with its receipt; the parts' objects are deleted once that has committed.
- **Termination** (DELETE) and **expiry** (:mod:`hub.uploads.expiry`) delete the row and, after
  commit, the parts. Only the caller that created an upload may touch it; to anyone else it does
  not exist (404), like a document they may not see.
"""

from __future__ import annotations

import itertools
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session

from audit.events import Action
from hub.core import db
from hub.core.errors import (
    BadRequest,
    Conflict,
    HubError,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from hub.documents.headers import sanitise_filename
from hub.documents.service import DOCUMENT, DocumentsDeps, about, transfer_of
from hub.documents.uploads import UploadService
from hub.idempotency.keys import AnswerGone, fingerprint
from hub.idempotency.service import Answer
from hub.notifications import outbox
from hub.tables.uploads import Upload, UploadPart
from hub.trail.auditor import Receipt
from hub.trail.recorder import About
from hub.uploads import repository
from hub.uploads.completion import assemble, completed_rows
from hub.uploads.incoming import Incoming, Unacceptable
from hub.uploads.schemas import OFFSET_CONTENT_TYPE, Checksum, integer
from hub.uploads.schemas import metadata as parse_metadata
from hub.web.recording import Call
from storage import envelope
from storage.envelope_resume import (
    Resumed,
    SegmentSealer,
    ciphertext_start,
    new_header,
    open_tail,
    seal_tail,
)
from storage.keys import KEY_SIZE, WrappedKey
from storage.objects import ObjectStore

UPLOAD: Final = "upload"
_CREATE: Final = Action.UPLOAD_CREATE
_APPEND: Final = Action.UPLOAD_APPEND
_TERMINATE: Final = Action.UPLOAD_TERMINATE
_NO_SUCH_UPLOAD: Final = "no such upload"


@dataclass(frozen=True, slots=True)
class UploadsDeps:
    """What the uploads service needs besides the documents': the engine, to read an upload's
    state without opening the request's transaction while a body streams, and the expiry."""

    documents: DocumentsDeps
    engine: Engine
    expiry: timedelta


@dataclass(frozen=True, slots=True)
class Appended:
    """What a PATCH did: the new offset, and the document and receipt once it completed."""

    upload: Upload
    document_id: uuid.UUID | None = None
    receipt: Receipt | None = None


def owner_of(principal_user: str | None, issuer: str | None, client_id: str) -> str:
    """Who may touch an upload: the person, else the client (of the hub or a partner issuer)."""
    if principal_user is not None:
        return f"user:{principal_user}"
    return f"client:{issuer or ''}:{client_id}"


class UploadsService(UploadService):
    """One caller's resumable uploads."""

    def __init__(self, call: Call, deps: UploadsDeps) -> None:
        super().__init__(call, deps.documents)
        self.uploads = deps

    @property
    def owner(self) -> str:
        principal = self.caller.principal
        return owner_of(principal.user_id, principal.partner_issuer, principal.client_id)

    # -- creation ------------------------------------------------------------------------------

    def parse(
        self, *, length: str | None, metadata: str | None, deferred: bool
    ) -> tuple[int, dict[str, str]]:
        """The creation request's ``Upload-Length`` and ``Upload-Metadata``; ``deferred``: it
        sent ``Upload-Defer-Length``, which the hub does not support (the size is part of the
        decision). Refusals (400) are recorded as ``upload.create``."""
        try:
            if deferred:
                raise BadRequest(
                    "Upload-Defer-Length is not supported: the size is decided at creation"
                )
            return integer(length, header="Upload-Length"), parse_metadata(metadata)
        except HubError as exc:
            raise self.refuse(exc, _CREATE, About(UPLOAD), detail=exc.slug) from None

    def fingerprint(self, length: int, fields: Mapping[str, str]) -> str:
        """What an ``Idempotency-Key`` on creation stands for: the length and the metadata the
        hub reads, the v-number as its blind index (a hash of the number could be searched
        back)."""
        try:
            v_index: str | None = self.deps.protector().blind_index(fields.get("v_number", ""))
        except ValueError:
            v_index = None  # refused at the decision; a refused request keeps no key
        return fingerprint(
            {
                "upload_length": length,
                "document_type": fields.get("document_type"),
                "v_index": v_index,
                "title": fields.get("title"),
                "filename": fields.get("filename"),
            }
        )

    def created_again(self, answer: Answer) -> Upload:
        """The upload an ``Idempotency-Key``'s first creation made, answered again only while it
        lives: a terminated or expired one answers 410, never a Location that leads nowhere."""
        upload = None if answer.resource_id is None else self._peek(answer.resource_id)
        if upload is None or upload.owner != self.owner:
            raise self.refuse(
                AnswerGone("the upload this Idempotency-Key created was terminated or expired"),
                _CREATE,
                About(UPLOAD),
                detail=AnswerGone.slug,
            )
        return upload

    def create(self, length: int, fields: Mapping[str, str]) -> Upload:
        """Decide and create an upload of ``length`` bytes (see the module docstring)."""
        return self._create(length, fields)

    def _create(self, length: int, fields: Mapping[str, str]) -> Upload:
        decided = self.decide(fields, action=_CREATE)
        filename = fields.get("filename")
        subject = About(DOCUMENT, v_number=decided.v_number)
        if length == 0:
            raise self.refuse(
                Unprocessable("the file is empty"), _CREATE, subject, rule=decided.rule
            )
        maximum = decided.document_type.max_size
        if length > maximum:
            raise self.refuse(
                PayloadTooLarge(
                    f"Upload-Length {length} is larger than the limit of {maximum} bytes "
                    f"for {decided.type_name}"
                ),
                _CREATE,
                subject,
                rule=decided.rule,
            )
        protector = self.deps.protector()
        document_id = uuid.uuid4()
        dek, dek_id = secrets.token_bytes(KEY_SIZE), secrets.token_bytes(16)
        binding = envelope.Binding(document_id=document_id, version=0, dek_id=dek_id)
        wrapped = self.deps.vault.keys.wrap(dek, document_id=document_id, version=0, dek_id=dek_id)
        principal = self.caller.principal
        upload = Upload(
            owner=self.owner,
            organisation=self.caller.party.code,
            uploaded_by=principal.client_id,
            purpose=principal.processing_activity,
            document_id=document_id,
            document_type=decided.type_name,
            policy_rule=decided.rule,
            v_index=protector.blind_index(decided.v_number),
            v_number_sealed=protector.seal(decided.v_number, kind=DOCUMENT, row_id=document_id),
            title=decided.title,
            filename=sanitise_filename(filename) if filename else None,
            length=length,
            dek_id=dek_id.hex(),
            kek_id=wrapped.kek_id,
            wrapped_dek=wrapped.blob,
            header=new_header(dek, binding),
            created_at=self.now,
            expires_at=self.now + self.uploads.expiry,
        )
        self.session.add(upload)
        self.session.flush()
        self.record(
            _CREATE,
            About(UPLOAD, str(upload.id), decided.v_number),
            rule=decided.rule,
            detail=f"{length} bytes",
        )
        return upload

    # -- finding -------------------------------------------------------------------------------

    def _peek(self, upload_id: uuid.UUID) -> Upload | None:
        """The upload as committed now, read in a short transaction of its own, so the request's
        transaction stays unopened while a body streams (as the form upload's does)."""
        with Session(self.uploads.engine, expire_on_commit=False) as session:
            upload = repository.get(session, upload_id)
            if upload is not None:
                session.expunge(upload)
            return upload

    def _mine(self, upload_id: uuid.UUID, action: Action) -> Upload:
        """The caller's live upload; 404 for anyone else's, an expired or a missing one."""
        upload = self._peek(upload_id)
        if upload is None or upload.owner != self.owner:
            raise self.refuse(
                NotFound(_NO_SUCH_UPLOAD),
                action,
                About(UPLOAD, str(upload_id)),
                detail="not the caller's" if upload is not None else _NO_SUCH_UPLOAD,
            )
        if upload.completed_at is None and db.as_utc(upload.expires_at) <= self.now:
            raise self.refuse(
                NotFound(_NO_SUCH_UPLOAD), action, About(UPLOAD, str(upload_id)), detail="expired"
            )
        return upload

    def status(self, upload_id: uuid.UUID) -> Upload:
        """HEAD: where the upload stands. Not recorded when answered (the caller's own progress,
        no personal data); a refusal is recorded as ``upload.append``, whose first step it is."""
        return self._mine(upload_id, _APPEND)

    # -- appending -----------------------------------------------------------------------------

    def append(
        self,
        upload_id: uuid.UUID,
        chunks: Iterator[bytes],
        *,
        offset: str | None,
        content_type: str | None,
        content_length: str | None,
        checksum: Callable[[], Checksum | None],
        broken: Callable[[], bool],
    ) -> Appended:
        """PATCH: append ``chunks`` at ``offset``; complete the document with the last byte.

        ``broken`` tells, once ``chunks`` ended, whether the client hung up before its body was
        whole; what arrived is kept then (unless a checksum was asked for).
        """
        upload = self._mine(upload_id, _APPEND)
        subject = About(UPLOAD, str(upload.id))

        def refused(error: HubError, detail: str | None = None) -> HubError:
            return self.refuse(error, _APPEND, subject, detail=detail or error.slug)

        media = (content_type or "").split(";")[0].strip().lower()
        if media != OFFSET_CONTENT_TYPE:
            raise refused(
                UnsupportedMediaType(f"a PATCH body must be {OFFSET_CONTENT_TYPE}"),
                "content type",
            )
        try:
            at = integer(offset, header="Upload-Offset")
            wanted = checksum()
            declared = (
                None if content_length is None else integer(content_length, header="Content-Length")
            )
        except HubError as exc:
            raise refused(exc) from None
        if upload.completed_at is not None:
            raise refused(Conflict("the upload is complete"), "complete")
        if at != upload.received:
            raise refused(
                Conflict(f"Upload-Offset is {at}, but the upload is at {upload.received}"),
                "offset mismatch",
            )
        remaining = upload.length - upload.received
        if declared is not None and declared > remaining:
            raise refused(
                PayloadTooLarge(f"the body is larger than the {remaining} bytes still expected")
            )
        return self._receive(upload, chunks, wanted=wanted, broken=broken, refused=refused)

    def _receive(
        self,
        upload: Upload,
        chunks: Iterator[bytes],
        *,
        wanted: Checksum | None,
        broken: Callable[[], bool],
        refused: Callable[[HubError, str | None], HubError],
    ) -> Appended:
        store = self.deps.vault.store
        binding = _binding(upload)
        dek = self._dek(upload, binding)
        tail = b""
        if upload.tail is not None:
            tail = open_tail(dek, binding, upload.tail, offset=upload.received)
        resumed = Resumed(
            SegmentSealer(dek, binding, upload.header),
            total=upload.length,
            offset=upload.received,
            tail=tail,
        )
        incoming = Incoming(
            resumed,
            header=upload.header,
            tail=tail,
            content_type=upload.content_type,
            document_type=self.deps.policy.document_type(upload.document_type),
            checksum=wanted,
        )
        stream = incoming.pieces(chunks, broken=broken)
        try:
            first = next(stream, None)
            info = None if first is None else store.put(itertools.chain((first,), stream))
        except Unacceptable as exc:
            self._discard(upload)
            raise refused(exc.error, "content type") from None
        except HubError as exc:
            raise refused(exc, None) from None
        if info is not None:
            key = info.key
            db.after_rollback(self.session, lambda: store.delete(key))
        new_tail = resumed.tail
        advanced = repository.advance(
            self.session,
            upload,
            received=resumed.offset,
            tail=seal_tail(dek, binding, new_tail, offset=resumed.offset) if new_tail else None,
            content_type=incoming.content_type,
        )
        if not advanced:
            raise refused(Conflict("another request moved the upload first"), "offset race")
        if info is not None:
            index = incoming.first_index
            offset = 0 if index == 0 else ciphertext_start(index)
            part = UploadPart(
                upload_id=upload.id, offset=offset, object_key=info.key, size=info.size
            )
            repository.add_part(self.session, part)
        upload.received, upload.content_type = resumed.offset, incoming.content_type
        if resumed.offset < upload.length:
            return Appended(upload)
        return self._complete(upload)

    # -- completion ----------------------------------------------------------------------------

    def _complete(self, upload: Upload) -> Appended:
        store = self.deps.vault.store
        binding = _binding(upload)
        parts = repository.parts(self.session, upload.id)
        assembled = assemble(
            store, parts, dek=self._dek(upload, binding), binding=binding, length=upload.length
        )
        db.after_rollback(self.session, lambda: store.delete(assembled.object_key))
        document_type = self.deps.policy.document_type(upload.document_type)
        if document_type is None:
            raise RuntimeError("a complete upload's document type left the policy")
        sealed, document = completed_rows(
            upload,
            assembled,
            retain_until=document_type.retention.expires_at(self.now),
            now=self.now,
        )
        v_number_sealed, document_id = document.v_number_sealed, document.id
        if v_number_sealed is None:
            raise RuntimeError("a new document without its v-number")
        self.session.add(sealed)
        self.session.add(document)
        live = repository.get(self.session, upload.id)
        if live is None:
            raise RuntimeError("the upload vanished under its own row lock")
        # The document's rows hold the key and the v-number now; a copy kept here would outlive
        # the document's crypto-shredding until the row is swept.
        live.completed_at = self.now
        live.tail = live.wrapped_dek = live.v_number_sealed = None
        self.session.add(live)
        keys = [part.object_key for part in parts]
        repository.drop_parts(self.session, upload.id)
        self.session.flush()
        db.after_commit(self.session, lambda: delete_objects(store, keys))
        # In this transaction, as the form upload: the cases' grantees are told exactly when the
        # document exists.
        outbox.document_added(self.session, document, policy=self.deps.policy, now=self.now)
        v_number = self.deps.protector().open(v_number_sealed, kind=DOCUMENT, row_id=document_id)
        receipt = self.record_receipt(
            Action.DOCUMENT_UPLOAD,
            about(document_id, v_number),
            rule=upload.policy_rule,
            detail=f"resumable upload {upload.id}",
            transfer=transfer_of(document),
        )
        return Appended(live, document_id, receipt)

    # -- termination ---------------------------------------------------------------------------

    def terminate(self, upload_id: uuid.UUID) -> None:
        """DELETE: the upload and its parts go; a complete upload's document stays (409)."""
        upload = self._mine(upload_id, _TERMINATE)
        subject = About(UPLOAD, str(upload.id))
        if upload.completed_at is not None:
            raise self.refuse(
                Conflict("the upload is complete; delete the document instead"),
                _TERMINATE,
                subject,
                detail="complete",
            )
        keys = [part.object_key for part in repository.parts(self.session, upload.id)]
        repository.remove(self.session, upload.id)
        self.session.flush()
        store = self.deps.vault.store
        db.after_commit(self.session, lambda: delete_objects(store, keys))
        self.record(_TERMINATE, subject, detail=f"{upload.received} of {upload.length} bytes")

    def _discard(self, upload: Upload) -> None:
        """Terminate an upload whose content was refused, in a transaction of its own: the
        request fails, so its own transaction keeps only its refusal."""
        store = self.deps.vault.store
        with db.transaction(self.uploads.engine) as session:
            keys = [part.object_key for part in repository.parts(session, upload.id)]
            repository.remove(session, upload.id)
            db.after_commit(session, lambda: delete_objects(store, keys))

    def _dek(self, upload: Upload, binding: envelope.Binding) -> bytes:
        if upload.wrapped_dek is None:  # completed: PATCH and completion refuse it before this
            raise RuntimeError("a completed upload has no data key")
        return self.deps.vault.keys.unwrap(
            WrappedKey(upload.kek_id, upload.wrapped_dek),
            document_id=upload.document_id,
            version=0,
            dek_id=binding.dek_id,
        )


def _binding(upload: Upload) -> envelope.Binding:
    return envelope.Binding(
        document_id=upload.document_id, version=0, dek_id=bytes.fromhex(upload.dek_id)
    )


def delete_objects(store: ObjectStore, keys: list[str]) -> None:
    """Delete ``keys`` from ``store`` (after a commit: the rows that named them are gone)."""
    for key in keys:
        store.delete(key)


def expires_header(moment: datetime) -> str:
    """``Upload-Expires``: an RFC 9110 HTTP-date."""
    return format_datetime(db.as_utc(moment), usegmt=True)
