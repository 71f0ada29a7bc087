"""A document as its page shows it: the audited read, where it came from, and the person's own
download receipts.

:meth:`DocumentPages.view` is the document service's own read (:meth:`~hub.documents.service.
DocumentService.read`): visibility decided by the one rule, a hidden document refused exactly as
a missing one, the read recorded with the rule and, through a share, its purpose. When the
share let the caller see it, the page says from whom, for which purpose and until when
(:class:`Provenance`). The download receipts are the caller's own successful
``document.download`` events of this document, read back from the trail: what the hub recorded
when it served the bytes, so the page can show them once a download has run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from audit.events import parse_time
from hub.core.db import as_utc
from hub.documents.downloads import DownloadService
from hub.documents.service import Shown
from hub.pages import repository
from hub.shares import repository as shares_repository
from hub.trail.auditor import b64

RECEIPTS_SHOWN: Final = 10


@dataclass(frozen=True, slots=True)
class Provenance:
    """The share through which the caller sees a document."""

    share_id: uuid.UUID
    grantor: str
    purpose: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OwnReceipt:
    """One download by the caller, as the trail holds it: position, leaf hash (base64), time."""

    seq: int
    leaf_hash: str
    time: datetime


@dataclass(frozen=True, slots=True)
class DocumentView:
    shown: Shown
    provenance: Provenance | None
    receipts: list[OwnReceipt]


class DocumentPages(DownloadService):
    """The documents of one page request: the reads and downloads of the API's services, and
    what a page shows beside them."""

    def view(self, document_id: uuid.UUID) -> DocumentView:
        """The document (an audited read; 404 for hidden and missing alike), its provenance
        and the caller's receipts."""
        shown, access = self.read(document_id)
        provenance = None
        if access.share_id is not None:
            share = shares_repository.get(self.session, access.share_id)
            if share is not None:  # it just granted this read, in this transaction
                provenance = Provenance(
                    share.id, share.grantor, share.purpose, as_utc(share.expires_at)
                )
        return DocumentView(shown, provenance, self.own_receipts(document_id))

    def own_receipts(self, document_id: uuid.UUID) -> list[OwnReceipt]:
        """The caller's own successful downloads of ``document_id``, newest first.

        Not itself recorded: it shows the caller's own events, which it holds the receipts of
        anyway, and nothing of the document (an id the caller never downloaded lists nothing,
        whether or not it exists).
        """
        actor = self.recorder.actor
        if actor is None:
            return []
        rows = repository.own_downloads(
            self.session,
            document_id=document_id,
            actor_type=actor.type.value,
            actor_id=actor.id,
            organisation=actor.organisation,
            limit=RECEIPTS_SHOWN,
        )
        return [OwnReceipt(row.seq, b64(row.leaf_hash), parse_time(row.time)) for row in rows]
