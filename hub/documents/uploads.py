"""Uploading a document: decide on the metadata fields, seal the file as it streams, record.

The policy is decided on the form's metadata fields before a byte of content is read (they
come first, see :mod:`hub.documents.form`), and the database transaction is touched only once
the object is written, so no transaction (and on SQLite, no writer lock) is held while a large
file streams in. Every refusal is recorded with what was known when it was made: the v-number
once the fields are read, the rule once the policy has decided.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from audit.events import Action
from hub.core.errors import Forbidden, HubError, PayloadTooLarge, Unprocessable
from hub.core.names import hidden_character
from hub.documents.form import FormReader, framing_limit
from hub.documents.service import DOCUMENT, DocumentService, Shown, about, transfer_of
from hub.documents.sniff import guarded
from hub.idempotency.keys import AnswerGone, fingerprint
from hub.idempotency.service import Answer
from hub.notifications import outbox
from hub.rules.model import DocumentType, PolicyAction
from hub.subjects.keys import check_v_number
from hub.tables.documents import Document
from hub.trail.auditor import Receipt
from hub.trail.recorder import About
from hub.vault import service as vault

_MAX_TITLE: Final = 200
_UPLOAD: Final = Action.DOCUMENT_UPLOAD


@dataclass(frozen=True, slots=True)
class Decided:
    """An upload's metadata, checked, and the policy's yes with the rule that gave it."""

    type_name: str
    v_number: str
    title: str | None
    document_type: DocumentType
    rule: str | None


class UploadService(DocumentService):
    """One caller's upload."""

    def largest_body(self, extra_fields: tuple[str, ...] = ()) -> int | None:
        """The longest body an upload of this caller can be: the largest maximum size of the
        types the policy lets it upload, and the form around the file; ``None`` when it may
        upload none (the policy's 403 then says why, once the fields are read)."""
        policy, party = self.deps.policy, self.caller.party
        sizes = [
            document_type.max_size
            for name, document_type in policy.document_types.items()
            if policy.decide(party, PolicyAction.UPLOAD, name).allowed
        ]
        return max(sizes) + framing_limit(extra_fields) if sizes else None

    def refuse_too_large(self, content_length: int, extra_fields: tuple[str, ...] = ()) -> None:
        """413 (recorded) for a declared ``Content-Length`` no upload of this caller can have,
        before a byte of the body is read: a client that sent ``Expect: 100-continue`` is told
        before it sends the body, any other before the hub reads it."""
        largest = self.largest_body(extra_fields)
        if largest is not None and content_length > largest:
            raise self.refuse(
                PayloadTooLarge(
                    f"the request body ({content_length} bytes) is larger than any document "
                    f"this client may upload can be ({largest} bytes, the form included)"
                ),
                _UPLOAD,
                About(DOCUMENT),
                detail="content-too-large",
            )

    def upload(
        self,
        chunks: Iterator[bytes],
        *,
        content_type: str | None,
        extra_fields: tuple[str, ...] = (),
        admit: Callable[[Mapping[str, str]], None] | None = None,
    ) -> tuple[Shown, Receipt]:
        """Read the form, decide, seal the file, record. See the module docstring for order.

        A form with ``extra_fields`` (the web UI's ``csrf_token``) is first shown to ``admit``,
        which raises a :class:`HubError` to refuse it: after the fields are read, before the
        policy is decided and before a byte of the file is.
        """
        shown, receipt, _ = self.upload_fingerprinted(
            chunks, content_type=content_type, extra_fields=extra_fields, admit=admit
        )
        return shown, receipt

    def upload_fingerprinted(
        self,
        chunks: Iterator[bytes],
        *,
        content_type: str | None,
        extra_fields: tuple[str, ...] = (),
        admit: Callable[[Mapping[str, str]], None] | None = None,
    ) -> tuple[Shown, Receipt, str]:
        """:meth:`upload`, and the upload's fingerprint for its ``Idempotency-Key``
        (:meth:`fingerprint_of`)."""
        try:
            form = FormReader(chunks, content_type, extra_fields=extra_fields)
            fields = form.read_fields()
            if admit is not None:
                admit(fields)
        except HubError as exc:
            raise self.refuse(exc, _UPLOAD, About(DOCUMENT), detail=exc.slug) from None
        decided = self.decide(fields, action=_UPLOAD)
        type_name, v_number, title = decided.type_name, decided.v_number, decided.title
        document_type, subject = decided.document_type, About(DOCUMENT, v_number=v_number)
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
            raise self.refuse(exc, _UPLOAD, subject, rule=decided.rule, detail=exc.slug) from None
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
        # In this transaction: the cases' grantees are told exactly when the upload commits.
        outbox.document_added(self.session, document, policy=self.deps.policy, now=self.now)
        receipt = self.record_receipt(
            _UPLOAD,
            about(document_id, v_number),
            rule=decided.rule,
            transfer=transfer_of(document),
        )
        meaning = self._meaning(type_name, v_number, title, form.filename, sealed.sha256)
        return Shown(document, v_number), receipt, meaning

    # -- Idempotency-Key ---------------------------------------------------------------------------

    def _meaning(
        self, type_name: str, v_number: str, title: str | None, filename: str | None, sha256: str
    ) -> str:
        """The fingerprint of an upload: its fields as read (the v-number as its blind index)
        and its content's SHA-256."""
        return fingerprint(
            {
                "document_type": type_name,
                "v_index": self.deps.protector().blind_index(v_number),
                "title": title,
                "filename": filename,
                "content_sha256": sha256,
            }
        )

    def fingerprint_of(self, chunks: Iterator[bytes], *, content_type: str | None) -> str:
        """The fingerprint of an upload whose key was used before: the body is read and its
        file hashed, bounded by the type's maximum size, and nothing is stored or recorded.

        An upload cannot be told from another by its fields alone (the same form, another
        scan), so the content must be read to be compared; it is not kept, since the first
        request's document already is.
        """
        try:
            form = FormReader(chunks, content_type)
            fields = form.read_fields()
        except HubError as exc:
            raise self.refuse(exc, _UPLOAD, About(DOCUMENT), detail=exc.slug) from None
        type_name, v_number, title = self._upload_fields(fields, action=_UPLOAD)
        document_type = self.deps.policy.document_type(type_name)
        limit = max(t.max_size for t in self.deps.policy.document_types.values())
        try:
            sha256 = _hashed(form.file_chunks(), document_type.max_size if document_type else limit)
        except HubError as exc:
            raise self.refuse(
                exc, _UPLOAD, About(DOCUMENT, v_number=v_number), detail=exc.slug
            ) from None
        return self._meaning(type_name, v_number, title, form.filename, sha256)

    def uploaded_again(self, answer: Answer) -> tuple[Shown, Receipt]:
        """The document an ``Idempotency-Key``'s first upload made, rendered from its row (its
        v-number is kept nowhere else), and that upload's receipt. 410 once it was shredded:
        a replay must not bring back what a shred destroyed."""
        document = (
            None if answer.resource_id is None else self.session.get(Document, answer.resource_id)
        )
        if document is None or document.v_number_sealed is None:
            raise self.refuse(
                AnswerGone("the document this Idempotency-Key uploaded was deleted since"),
                _UPLOAD,
                About(DOCUMENT),
                detail=AnswerGone.slug,
            )
        if answer.receipt is None:  # every upload's answer is kept with its receipt
            raise RuntimeError("an upload's kept answer has no receipt")
        return self._shown(document), answer.receipt

    def decide(self, fields: Mapping[str, str], *, action: Action) -> Decided:
        """Check an upload's metadata fields and decide the policy on them, before any content.

        Shared by the form upload (``document.upload``) and the creation of a resumable upload
        (``upload.create``): each refusal is recorded as ``action``, with the v-number once it
        is known and the rule once the policy has decided.
        """
        type_name, v_number, title = self._upload_fields(fields, action=action)
        subject = About(DOCUMENT, v_number=v_number)
        document_type = self.deps.policy.document_type(type_name)
        if document_type is None:
            raise self.refuse(
                Unprocessable(f"unknown document type {type_name!r}"),
                action,
                subject,
                detail="unknown document type",
            )
        decision = self.deps.policy.decide(self.caller.party, PolicyAction.UPLOAD, type_name)
        if not decision.allowed:
            raise self.refuse(
                Forbidden(f"{self.caller.party.code} may not upload documents of type {type_name}"),
                action,
                subject,
                rule=decision.rule,
            )
        return Decided(type_name, v_number, title, document_type, decision.rule)

    def _upload_fields(
        self, fields: Mapping[str, str], *, action: Action
    ) -> tuple[str, str, str | None]:
        def invalid(message: str) -> HubError:
            return self.refuse(
                Unprocessable(message), action, About(DOCUMENT), detail="invalid field"
            )

        missing = [name for name in ("document_type", "v_number") if not fields.get(name)]
        if missing:
            where = "form field(s)" if action is _UPLOAD else "Upload-Metadata key(s)"
            raise invalid(f"missing {where}: {', '.join(missing)}")
        try:
            v_number = check_v_number(fields["v_number"])
        except ValueError:
            raise invalid("v_number: a v-number is exactly 10 digits") from None
        type_name = fields["document_type"]
        title = fields.get("title") or None
        if title is not None and len(title) > _MAX_TITLE:
            raise invalid(f"title: at most {_MAX_TITLE} characters")
        hidden = hidden_character(title) if title is not None else None
        if hidden is not None:
            raise invalid(f"title: may not hold {hidden}; no control or bidi characters")
        return type_name, v_number, title


def _hashed(chunks: Iterable[bytes], max_size: int) -> str:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_size:
            raise PayloadTooLarge("the file is larger than its type's maximum size")
        digest.update(chunk)
    return digest.hexdigest()
