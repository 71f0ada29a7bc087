"""Documents: metadata, lists, search and crypto-shredding; the rules every document operation
shares. Uploads are in :mod:`hub.documents.uploads`, content in :mod:`hub.documents.downloads`,
each a service built on :class:`DocumentService`.

Every operation decides the sharing policy, records what it did (or refused) in the audit trail
in the request's own transaction, and only then acts. The rules that hold throughout:

- **Not visible means 404.** A document the caller may not see is answered exactly like one that
  does not exist: same status, same body, and the same work on the way
  (:func:`hub.access.rule.resolve_visible`), so neither the answer nor its timing tells them
  apart. Only a document the caller *may* see but not act on (delete) answers 403. Lists show
  exactly the documents a read would allow (:mod:`hub.access.listing`).
- **Refusals are recorded.** A refusal undoes the request's work and records its event in the
  request's transaction, which keeps that record although the request fails
  (:meth:`hub.web.recording.RecordingService.refuse`).
- **The v-number** goes into the trail only as its pseudonym, and into the database only as its
  blind index and sealed copy (see :mod:`hub.subjects.keys`).
- **Upload** decides the policy on the metadata fields before a byte of content is read, and
  touches its database transaction only once the object is written, so no transaction (and on
  SQLite, no write lock) is held while a large file streams in.
- **Download** answers a conditional request before it touches the object: a 304 is a metadata
  read, recorded as such, and decrypts nothing (RFC 9110 §13, see :mod:`hub.web.preconditions`).
  Otherwise it records and commits its event before the first byte leaves. The first segment is
  decrypted before the answer starts, so a corrupt object is a clean error; a later corrupt segment
  aborts the transfer (the client sees a short body, never wrong bytes) and is recorded on its own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlmodel import Session

from audit.events import Action
from hub.access.repository import lock_live
from hub.access.rule import DOCUMENT_DELETED, Access, resolve_visible
from hub.core.errors import Forbidden, NotFound
from hub.documents import repository
from hub.documents.repository import DocumentFilter
from hub.rules.model import Policy, PolicyAction
from hub.subjects.keys import SubjectProtector
from hub.tables.documents import Document
from hub.trail.auditor import Receipt
from hub.trail.recorder import About, Transfer
from hub.vault import repository as vault_repository
from hub.vault import service as vault
from hub.vault.service import Vault
from hub.web.pagination import Page, time_id, time_id_position
from hub.web.recording import Call, RecordingService

logger = logging.getLogger(__name__)

DOCUMENT: Final = "document"
_NO_SUCH_DOCUMENT: Final = "no such document"
_MAX_TITLE: Final = 200


@dataclass(frozen=True, slots=True)
class DocumentsDeps:
    """What the documents services need from the running hub."""

    policy: Policy
    vault: Vault
    protector: Callable[[], SubjectProtector]


@dataclass(frozen=True, slots=True)
class Shown:
    """A document as its reader may see it: the row and its v-number in clear."""

    document: Document
    v_number: str


def about(document_id: uuid.UUID, v_number: str | None = None) -> About:
    """What an event on one document is about."""
    return About(DOCUMENT, str(document_id), v_number)


def transfer_of(document: Document, span: tuple[int, int] | None = None) -> Transfer:
    """What an upload or download of ``document`` moved, for its event's leaf: the whole
    content's SHA-256 and size, and for a range download the inclusive ``span`` served."""
    return Transfer(sha256=document.sha256, size=document.size, span=span)


class DocumentService(RecordingService):
    """The documents of one request, acted on by one caller."""

    def __init__(self, call: Call, deps: DocumentsDeps) -> None:
        super().__init__(call)
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
            action,
            about(document_id, self._v_number(hidden) if hidden is not None else None),
            rule=resolved.access.rule if hidden is not None else None,
            detail="not visible" if hidden is not None else "no such document",
        )

    def get(self, document_id: uuid.UUID) -> Shown:
        return self.read(document_id)[0]

    def read(self, document_id: uuid.UUID) -> tuple[Shown, Access]:
        """:meth:`get`, and the decision that let the caller see it (for a share: which one),
        so a page can say where a document came from. Recorded as one metadata read."""
        document, access = self._resolve(document_id, Action.DOCUMENT_READ)
        shown = self._shown(document)
        self.record(
            Action.DOCUMENT_READ,
            about(document.id, shown.v_number),
            rule=access.rule,
            purpose=access.purpose,
        )
        return shown, access

    def page(
        self, where: DocumentFilter, *, cursor: str | None, limit: int, v_number: str | None = None
    ) -> tuple[list[Shown], str | None]:
        """One page of the caller's visible documents, newest first; recorded as one event."""
        query = {"filter": [str(v) for v in _filter_key(where)], "org": self.caller.party.code}
        rows = repository.visible_page(
            self.session,
            policy=self.deps.policy,
            party=self.caller.party,
            where=where,
            now=self.now,
            after=time_id_position(cursor, query),
            limit=limit + 1,
        )
        page = Page.of(rows, limit=limit, query=query, after=lambda r: time_id(r.created_at, r.id))
        shown = [self._shown(row) for row in page.items]
        action = Action.DOCUMENT_SEARCH if v_number is not None else Action.DOCUMENT_LIST
        self.record(
            action, About(DOCUMENT, v_number=v_number), detail=f"{len(page.items)} documents"
        )
        return shown, page.next_cursor

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

    # -- deletion ------------------------------------------------------------------------------

    def delete(self, document_id: uuid.UUID) -> Receipt:
        document, _access = self._resolve(document_id, Action.DOCUMENT_DELETE)
        if lock_live(self.session, document.id) is None:
            # Another request shredded it after we found it: it is gone, as for a missing id.
            raise self.refuse(
                NotFound(_NO_SUCH_DOCUMENT),
                Action.DOCUMENT_DELETE,
                about(document.id),
                rule=DOCUMENT_DELETED,
                detail="deleted meanwhile",
            )
        v_number = self._shown(document).v_number
        decision = self.deps.policy.decide(
            self.caller.party,
            PolicyAction.DELETE,
            document.document_type,
            uploader=document.uploader,
        )
        subject = about(document.id, v_number)
        if not decision.allowed:
            raise self.refuse(
                Forbidden(f"{self.caller.party.code} may not delete this document"),
                Action.DOCUMENT_DELETE,
                subject,
                rule=decision.rule,
            )
        shred(self.session, self.deps.vault, document, now=self.now)
        return self.record_receipt(Action.DOCUMENT_DELETE, subject, rule=decision.rule)


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
