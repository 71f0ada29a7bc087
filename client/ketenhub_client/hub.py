"""The SDK: :class:`Hub`, one partner system's typed view of one Ketenhub hub.

::

    from ketenhub_client import Hub

    with Hub.from_file("https://hub.example.nl", "iom-case-system", Path("key.json")) as hub:
        done = hub.upload(Path("lp.pdf"), document_type="travel_document", v_number=v_number)
        print(done.document_id, done.receipt.seq)
        for document in hub.iter_documents():
            ...

Tokens come by ``client_credentials`` with ``private_key_jwt`` and are cached
(:mod:`.credentials`); retries, backoff and errors are :mod:`.transport`'s; uploads use tus
(:mod:`.uploads`) and downloads resume (:mod:`.downloads`). The v-number of a case only ever
travels in request bodies (or tus metadata, a header), never in a URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx

from ketenhub_client import downloads, uploads
from ketenhub_client.config import Settings, check_hub_url
from ketenhub_client.credentials import ClientKey
from ketenhub_client.models import (
    AuditKeys,
    Checkpoint,
    Consistency,
    Delivery,
    Document,
    Download,
    InboxItem,
    Inclusion,
    Page,
    Share,
    Upload,
    Webhook,
)
from ketenhub_client.pending import Pending
from ketenhub_client.transport import Session

API: Final = "/api/v1"
T = TypeVar("T")

Progress = Callable[[int, int | None], None]
"""Called as bytes move: (bytes done, bytes in all or None when unknown)."""


def idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` value: an RFC 8941 sf-string, as the IETF draft has it."""
    return f'"{uuid.uuid4()}"'


class Hub:
    """A partner system's client of one hub (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        key: ClientKey,
        *,
        scope: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        self.session = Session(
            check_hub_url(base_url),
            client_id,
            key,
            scope=scope,
            timeout=timeout,
            retries=retries,
            transport=transport,
            **extra,
        )

    @classmethod
    def from_file(cls, base_url: str, client_id: str, key_file: Path, **options: Any) -> Hub:
        """A hub client whose private JWK is in ``key_file`` (readable by its owner only)."""
        return cls(base_url, client_id, ClientKey.from_file(key_file), **options)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Hub:
        return cls.from_file(settings.hub, settings.client_id, settings.key_file, **options)

    @property
    def base_url(self) -> str:
        return self.session.base_url

    @property
    def issuer(self) -> str:
        return str(self.session.metadata()["issuer"])

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _json(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> Any:
        return self.session.request(method, f"{API}{path}", expect=expect, **kwargs).json()

    # -- documents -----------------------------------------------------------------------------

    def upload(
        self,
        path: Path,
        *,
        document_type: str,
        v_number: str,
        title: str | None = None,
        progress: Progress | None = None,
        chunk_size: int = uploads.CHUNK_SIZE,
        key: str | None = None,
        resume_from: Path | None = None,
    ) -> Upload:
        """Upload ``path`` resumably (tus), resuming after breaks; the document and its receipt.
        ``resume_from``: a directory where unfinished uploads are remembered, so a later call
        for the same file and metadata goes on where this one stopped (:mod:`.pending`)."""
        return uploads.upload(
            self,
            path,
            document_type=document_type,
            v_number=v_number,
            title=title,
            progress=progress,
            chunk_size=chunk_size,
            key=key or idempotency_key(),
            pending=None if resume_from is None else Pending(resume_from),
        )

    def upload_form(
        self,
        path: Path,
        *,
        document_type: str,
        v_number: str,
        title: str | None = None,
        key: str | None = None,
    ) -> Upload:
        """Upload ``path`` in one multipart request (``POST /documents``): for small files,
        or hubs without resumable uploads. Retried safely under one ``Idempotency-Key``."""
        return uploads.upload_form(
            self,
            path,
            document_type=document_type,
            v_number=v_number,
            title=title,
            key=key or idempotency_key(),
        )

    def download(
        self, document_id: str, path: Path, *, progress: Progress | None = None
    ) -> Download:
        """Download into ``path`` by way of ``path.part``, resuming what an earlier run left,
        and only rename it once its SHA-256 matches the hub's ``Repr-Digest``."""
        return downloads.download(self, document_id, path, progress=progress)

    def document(self, document_id: str) -> Document:
        return Document.from_json(self._json("GET", f"/documents/{uuid.UUID(document_id)}"))

    def documents(
        self, *, limit: int = 50, cursor: str | None = None, document_type: str | None = None
    ) -> Page[Document]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if document_type:
            params["document_type"] = document_type
        return Page.from_json(self._json("GET", "/documents", params=params), Document.from_json)

    def iter_documents(self, **filters: Any) -> Iterator[Document]:
        """Every visible document, page by page."""
        return _all_pages(lambda cursor: self.documents(cursor=cursor, **filters))

    def search(
        self,
        v_number: str,
        *,
        document_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Document]:
        """The visible documents of one person (the v-number goes in the body)."""
        body: dict[str, Any] = {"v_number": v_number, "limit": limit}
        if document_type:
            body["document_type"] = document_type
        if cursor:
            body["cursor"] = cursor
        return Page.from_json(
            self._json("POST", "/documents/search", json=body), Document.from_json
        )

    # -- shares --------------------------------------------------------------------------------

    def share_document(
        self,
        document_id: str,
        *,
        grantee: str,
        purpose: str,
        expires_at: datetime,
        key: str | None = None,
    ) -> Share:
        """Share one document with organisation ``grantee`` until ``expires_at``."""
        return self._share(
            {"document_id": str(uuid.UUID(document_id))},
            grantee=grantee,
            purpose=purpose,
            expires_at=expires_at,
            key=key,
        )

    def share_case(
        self,
        v_number: str,
        *,
        document_types: Sequence[str],
        grantee: str,
        purpose: str,
        expires_at: datetime,
        key: str | None = None,
    ) -> Share:
        """Share a person's documents of ``document_types``, now and later, with ``grantee``."""
        return self._share(
            {"v_number": v_number, "document_types": list(document_types)},
            grantee=grantee,
            purpose=purpose,
            expires_at=expires_at,
            key=key,
        )

    def _share(
        self,
        what: Mapping[str, Any],
        *,
        grantee: str,
        purpose: str,
        expires_at: datetime,
        key: str | None,
    ) -> Share:
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must carry a time zone")
        body = {
            **what,
            "grantee": grantee,
            "purpose": purpose,
            "expires_at": expires_at.isoformat(),
        }
        headers = {"Idempotency-Key": key or idempotency_key()}
        return Share.from_json(
            self._json("POST", "/shares", json=body, headers=headers, expect=(200, 201))
        )

    def revoke(self, share_id: str) -> None:
        self.session.request("DELETE", f"{API}/shares/{uuid.UUID(share_id)}", expect=(204,))

    def shares(self, *, limit: int = 50, cursor: str | None = None) -> Page[Share]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return Page.from_json(self._json("GET", "/shares", params=params), Share.from_json)

    def iter_shares(self) -> Iterator[Share]:
        return _all_pages(lambda cursor: self.shares(cursor=cursor))

    # -- what became visible -------------------------------------------------------------------

    def inbox(self, *, cursor: str | None = None, limit: int = 50) -> Page[InboxItem]:
        """What became visible to this client after ``cursor`` (from the start without one).
        Keep ``next_cursor`` and pass it next time: nothing is missed, nothing comes twice."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return Page.from_json(self._json("GET", "/inbox", params=params), InboxItem.from_json)

    def add_webhook(self, url: str, *, events: Sequence[str] | None = None) -> Webhook:
        """Subscribe ``url``; the answer carries the signing secret, shown this once."""
        body: dict[str, Any] = {"url": url}
        if events:
            body["events"] = list(events)
        return Webhook.from_json(self._json("POST", "/webhooks", json=body, expect=(200, 201)))

    def webhooks(self) -> list[Webhook]:
        return [Webhook.from_json(item) for item in _items(self._json("GET", "/webhooks"))]

    def remove_webhook(self, webhook_id: str) -> None:
        self.session.request("DELETE", f"{API}/webhooks/{_segment(webhook_id)}", expect=(204,))

    def deliveries(
        self, webhook_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Delivery]:
        """Every delivery attempt to a subscription, newest first."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        answer = self._json("GET", f"/webhooks/{_segment(webhook_id)}/deliveries", params=params)
        return Page.from_json(answer, Delivery.from_json)

    # -- the audit log's public parts (for receipts and the witness) ---------------------------
    #
    # ``audit_keys``, ``audit_event`` and ``audit_consistency`` return the hub's JSON as sent:
    # they are the ``AuditSource`` that :func:`ketenhub_client.receipts.verify_receipt` reads,
    # which checks every byte itself. The typed reads below them are for a partner's own code.

    def audit_keys(self) -> Any:
        """``GET /api/v1/audit/keys``: the audit verifier keys, as JSON."""
        return self._json("GET", "/audit/keys")

    def audit_event(self, seq: int) -> Any:
        """``GET /api/v1/audit/events/{seq}``: an event this client was the actor of, with its
        inclusion proof against the latest checkpoint, as JSON."""
        return self._json("GET", f"/audit/events/{int(seq)}")

    def audit_consistency(self, size1: int, size2: int) -> Any:
        """``GET /api/v1/audit/consistency?from=…&to=…``: a consistency proof, as JSON."""
        return self._json("GET", "/audit/consistency", params={"from": size1, "to": size2})

    def verifier_keys(self) -> AuditKeys:
        return AuditKeys.from_json(self.audit_keys())

    def latest_checkpoint(self) -> Checkpoint:
        return Checkpoint.from_json(self._json("GET", "/audit/checkpoints/latest"))

    def consistency(self, first: int, second: int) -> Consistency:
        """A proof that the log of size ``second`` extends the one of size ``first`` (≥ 1)."""
        return Consistency.from_json(self.audit_consistency(first, second))

    def event(self, seq: int) -> Inclusion:
        """An event this client was the actor of, with its inclusion proof."""
        return Inclusion.from_json(self.audit_event(seq))


def _all_pages(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _items(answer: Any) -> list[Mapping[str, Any]]:
    """The items of a list answer, whether a bare array or ``{"items": [...]}``."""
    items = answer.get("items") if isinstance(answer, dict) else answer
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _segment(value: str) -> str:
    """``value`` as one URL path segment (an id), refusing anything that would not be one."""
    if not value or not all(c.isalnum() or c in "-_" for c in value):
        raise ValueError(f"not an id: {value!r}")
    return value
