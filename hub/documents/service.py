"""Documents: upload, metadata, lists, search, content and crypto-shredding.

Every operation decides the sharing policy, records what it did (or refused) in the audit trail
in the request's own transaction, and only then acts. The rules that hold throughout:

- **Not visible means 404.** A document the caller may not see is answered exactly like one that
  does not exist: same status, same body, and the same work on the way
  (:func:`hub.access.rule.resolve_visible`), so neither the answer nor its timing tells them
  apart. Only a document the caller *may* see but not act on (delete) answers 403. Lists show
  exactly the documents a read would allow (:mod:`hub.access.listing`).
- **Refusals are recorded.** A refusal records its event in the request's transaction and raises
  an error marked :meth:`~hub.errors.HubError.after_recording`, which commits that record although
  the request fails.
- **The v-number** goes into the trail only as its pseudonym, and into the database only as its
  blind index and sealed copy (see :mod:`hub.subjects.keys`).
- **Upload** decides the policy on the metadata fields before a byte of content is read, and
  touches its database transaction only once the object is written, so no transaction (and on
  SQLite, no write lock) is held while a large file streams in.
- **Download** answers a conditional request before it touches the object: a 304 is a metadata
  read, recorded as such, and decrypts nothing (RFC 9110 §13, see :mod:`hub.preconditions`).
  Otherwise it records and commits its event before the first byte leaves. The first segment is
  decrypted before the answer starts, so a corrupt object is a clean error; a later corrupt segment
  aborts the transfer (the client sees a short body, never wrong bytes) and is recorded on its own.
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlmodel import Session

from audit.events import Action, Outcome
from hub.access.rule import Access, resolve_visible
from hub.audit.service import Auditor, Receipt
from hub.caller import Caller
from hub.documents import repository
from hub.documents.content import Conditions, etag, requested_range
from hub.documents.downloads import Content, open_stream
from hub.documents.models import Document
from hub.documents.repository import DocumentFilter
from hub.documents.sniff import guarded
from hub.documents.upload import FormReader
from hub.errors import (
    Forbidden,
    HubError,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from hub.pagination import encode_cursor, time_id, time_id_position
from hub.policy.model import Policy, PolicyAction
from hub.preconditions import EntityTag, MalformedPrecondition, Precondition, evaluate
from hub.recording import RecordingService
from hub.subjects.keys import SubjectProtector, check_v_number
from hub.vault import repository as vault_repository
from hub.vault import service as vault
from hub.vault.service import Vault

logger = logging.getLogger(__name__)

DOCUMENT: Final = "document"
_NO_SUCH_DOCUMENT: Final = "no such document"
_MAX_TITLE: Final = 200


@dataclass(frozen=True, slots=True)
class DocumentsDeps:
    """What the documents service needs from the running hub."""

    policy: Policy
    audit: Auditor
    vault: Vault
    protector: Callable[[], SubjectProtector]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Shown:
    """A document as its reader may see it: the row and its v-number in clear."""

    document: Document
    v_number: str


class DocumentService(RecordingService):
    """The documents of one request, acted on by one caller."""

    resource_type = DOCUMENT

    def __init__(self, session: Session, deps: DocumentsDeps, caller: Caller) -> None:
        super().__init__(session, audit=deps.audit, caller=caller, clock=deps.clock)
        self.deps = deps

    def _v_number(self, document: Document) -> str | None:
        if document.v_number_sealed is None:
            return None
        return self.deps.protector().open(
            document.v_number_sealed, kind=DOCUMENT, row_id=document.id
        )

    def _shown(self, document: Document) -> Shown:
        v_number = self._v_number(document)
        if v_number is None:  # never for a live document (check constraint)
            raise NotFound(_NO_SUCH_DOCUMENT)
        return Shown(document, v_number)

    # -- upload --------------------------------------------------------------------------------

    def upload(self, chunks: Iterator[bytes], *, content_type: str | None) -> tuple[Shown, Receipt]:
        """Read the form, decide, seal the file, record. See the module docstring for order."""
        try:
            form = FormReader(chunks, content_type)
            fields = form.read_fields()
        except HubError as exc:
            raise self.refuse(
                exc, self.event(Action.DOCUMENT_UPLOAD, Outcome.INVALID, detail=exc.slug)
            ) from None
        type_name, v_number, title = self._upload_fields(fields)
        document_type = self.deps.policy.document_type(type_name)
        if document_type is None:
            raise self.refuse(
                Unprocessable(f"unknown document type {type_name!r}"),
                self.event(
                    Action.DOCUMENT_UPLOAD,
                    Outcome.INVALID,
                    v_number=v_number,
                    detail="unknown document type",
                ),
            )
        decision = self.deps.policy.decide(self.caller.party, PolicyAction.UPLOAD, type_name)
        if not decision.allowed:
            raise self.refuse(
                Forbidden(f"{self.caller.party.code} may not upload documents of type {type_name}"),
                self.event(
                    Action.DOCUMENT_UPLOAD,
                    Outcome.DENIED,
                    v_number=v_number,
                    policy_rule=decision.rule,
                ),
            )
        protector = self.deps.protector()
        document_id = uuid.uuid4()
        sniffed: list[str] = []
        chunks = guarded(
            form.file_chunks(),
            allowed=frozenset(document_type.content_types),
            max_size=document_type.max_size,
            on_type=sniffed.append,
        )
        try:
            sealed = vault.seal(
                self.session, self.deps.vault, document_id=document_id, version=0, chunks=chunks
            )
        except HubError as exc:
            # The object store left nothing behind; the session has not been used yet.
            raise self.refuse(
                exc,
                self.event(
                    Action.DOCUMENT_UPLOAD,
                    Outcome.INVALID,
                    v_number=v_number,
                    policy_rule=decision.rule,
                    detail=exc.slug,
                ),
            ) from None
        document = Document(
            id=document_id,
            document_type=type_name,
            uploader=self.caller.party.code,
            uploaded_by=self.caller.principal.client_id,
            purpose=self.caller.principal.processing_activity,
            v_index=protector.blind_index(v_number),
            v_number_sealed=protector.seal(v_number, kind=DOCUMENT, row_id=document_id),
            title=title,
            filename=form.filename,
            content_type=sniffed[0],
            size=sealed.plaintext_size,
            sha256=sealed.sha256,
            version=sealed.version,
            created_at=self.now,
            retain_until=document_type.retention.expires_at(self.now),
        )
        self.session.add(document)
        self.session.flush()
        receipt = self.record(
            self.event(
                Action.DOCUMENT_UPLOAD,
                Outcome.SUCCESS,
                resource_id=str(document_id),
                v_number=v_number,
                policy_rule=decision.rule,
            )
        )
        return Shown(document, v_number), receipt

    def _upload_fields(self, fields: Mapping[str, str]) -> tuple[str, str, str | None]:
        def invalid(message: str) -> HubError:
            return self.refuse(
                Unprocessable(message),
                self.event(Action.DOCUMENT_UPLOAD, Outcome.INVALID, detail="invalid field"),
            )

        missing = [name for name in ("document_type", "v_number") if not fields.get(name)]
        if missing:
            raise invalid(f"missing form field(s): {', '.join(missing)}")
        try:
            v_number = check_v_number(fields["v_number"])
        except ValueError:
            raise invalid("v_number: a v-number is exactly 10 digits") from None
        type_name = fields["document_type"]
        title = fields.get("title") or None
        if title is not None and (
            len(title) > _MAX_TITLE or any(unicodedata.category(c) == "Cc" for c in title)
        ):
            raise invalid(f"title: at most {_MAX_TITLE} characters, no control characters")
        return type_name, v_number, title

    # -- reading -------------------------------------------------------------------------------

    def _resolve(self, document_id: uuid.UUID, action: Action) -> tuple[Document, Access]:
        """The document if the caller may see it; else record and raise 404 (the record names
        the rule that hid an existing document, for auditors; the answer does not)."""
        resolved = resolve_visible(
            self.session,
            policy=self.deps.policy,
            party=self.caller.party,
            document_id=document_id,
            now=self.now,
        )
        if resolved.document is not None:
            return resolved.document, resolved.access
        hidden = resolved.hidden
        raise self.refuse(
            NotFound(_NO_SUCH_DOCUMENT),
            self.event(
                action,
                Outcome.NOT_FOUND,
                resource_id=str(document_id),
                v_number=self._v_number(hidden) if hidden is not None else None,
                policy_rule=resolved.access.rule if hidden is not None else None,
                detail="not visible" if hidden is not None else "no such document",
            ),
        )

    def get(self, document_id: uuid.UUID) -> Shown:
        document, access = self._resolve(document_id, Action.DOCUMENT_READ)
        shown = self._shown(document)
        self.record(
            self.event(
                Action.DOCUMENT_READ,
                Outcome.SUCCESS,
                resource_id=str(document.id),
                v_number=shown.v_number,
                policy_rule=access.rule,
                purpose=access.purpose,
            )
        )
        return shown

    def page(
        self, where: DocumentFilter, *, cursor: str | None, limit: int, v_number: str | None = None
    ) -> tuple[list[Shown], str | None]:
        """One page of the caller's visible documents, newest first; recorded as one event."""
        query = {"filter": [str(v) for v in _filter_key(where)], "org": self.caller.party.code}
        after = time_id_position(cursor, query)
        rows = repository.visible_page(
            self.session,
            policy=self.deps.policy,
            party=self.caller.party,
            where=where,
            now=self.now,
            after=after,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        shown = [self._shown(row) for row in rows]
        action = Action.DOCUMENT_SEARCH if v_number is not None else Action.DOCUMENT_LIST
        self.record(
            self.event(action, Outcome.SUCCESS, v_number=v_number, detail=f"{len(rows)} documents")
        )
        last = rows[-1] if rows else None
        next_cursor = (
            encode_cursor(time_id(last.created_at, last.id), query)
            if more and last is not None
            else None
        )
        return shown, next_cursor

    def search(
        self, v_number: str, where: DocumentFilter, *, cursor: str | None, limit: int
    ) -> tuple[list[Shown], str | None]:
        index = self.deps.protector().blind_index(v_number)
        where = DocumentFilter(
            document_type=where.document_type,
            created_since=where.created_since,
            created_until=where.created_until,
            v_index=index,
        )
        return self.page(where, cursor=cursor, limit=limit, v_number=v_number)

    # -- content -------------------------------------------------------------------------------

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
        document, access = self._resolve(document_id, action)
        v_number = self._shown(document).v_number
        current = etag(document.sha256)

        def invalid(exc: HubError, detail: str) -> HubError:
            return self.refuse(
                exc,
                self.event(
                    action,
                    Outcome.INVALID,
                    resource_id=str(document.id),
                    v_number=v_number,
                    detail=detail,
                ),
            )

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
            receipt = self.record(
                self.event(
                    Action.DOCUMENT_READ,
                    Outcome.SUCCESS,
                    resource_id=str(document.id),
                    v_number=v_number,
                    policy_rule=access.rule,
                    purpose=access.purpose,
                    detail=precondition.value,
                )
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
        # Opened (and its first segment authenticated) before the event is appended, so the
        # audit log's lock is held only for the append and the commit, not for storage I/O.
        chunks = None if head else open_stream(self, document, byte_range, v_number)
        receipt = self.record(
            self.event(
                action,
                Outcome.SUCCESS,
                resource_id=str(document.id),
                v_number=v_number,
                policy_rule=access.rule,
                purpose=access.purpose,
                detail=detail,
            )
        )
        return Content(document, byte_range, chunks, receipt)

    # -- deletion ------------------------------------------------------------------------------

    def delete(self, document_id: uuid.UUID) -> Receipt:
        document, _access = self._resolve(document_id, Action.DOCUMENT_DELETE)
        v_number = self._shown(document).v_number
        decision = self.deps.policy.decide(
            self.caller.party,
            PolicyAction.DELETE,
            document.document_type,
            uploader=document.uploader,
        )
        if not decision.allowed:
            raise self.refuse(
                Forbidden(f"{self.caller.party.code} may not delete this document"),
                self.event(
                    Action.DOCUMENT_DELETE,
                    Outcome.DENIED,
                    resource_id=str(document.id),
                    v_number=v_number,
                    policy_rule=decision.rule,
                ),
            )
        shred(self.session, self.deps.vault, document, now=self.now)
        return self.record(
            self.event(
                Action.DOCUMENT_DELETE,
                Outcome.SUCCESS,
                resource_id=str(document.id),
                v_number=v_number,
                policy_rule=decision.rule,
            )
        )


def shred(session: Session, store: Vault, document: Document, *, now: datetime) -> None:
    """Crypto-shred a document: its data key and sealed v-number are destroyed in this
    transaction, its object deleted once that has committed (:func:`hub.vault.service.shred`).
    The blind index stays, so the audit trail's subject reports still find the case."""
    sealed = vault_repository.get_by_document(session, document.id, document.version)
    if sealed is not None:
        vault.shred(session, store, sealed)
    document.deleted_at = now
    document.v_number_sealed = None
    session.add(document)
    session.flush()


def _filter_key(where: DocumentFilter) -> tuple[Any, ...]:
    return (where.document_type, where.created_since, where.created_until, where.v_index)
