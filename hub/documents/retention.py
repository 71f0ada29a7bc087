"""The end of retention: crypto-shredding documents whose type's retention period has passed.

Run by a timer in every replica (``KETENHUB_RETENTION_INTERVAL``) and by ``ketenhub documents
expire``. Each batch is one transaction: the documents' data keys and sealed v-numbers are
destroyed and a ``document.shred`` event recorded for each, naming the type's retention rule;
the objects are deleted once that has committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from audit.events import Action
from hub.core import db
from hub.documents import repository
from hub.documents.service import DOCUMENT, about, shred
from hub.runtime import Services
from hub.trail.context import Context
from hub.trail.recorder import Recorder


def expire_due(
    services: Services,
    context: Context,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    batch: int = 100,
) -> int:
    """Shred every document whose retention has ended; returns how many. ``context`` says who
    runs it: the hub's timer, or the operator's command."""
    recorder = Recorder(services.audit, context)
    total = 0
    while True:
        now = clock()
        with db.transaction(services.engine) as session:
            due = repository.expired(session, now=now, limit=batch)
            protector = services.protector() if due else None
            for document in due:
                v_number = (
                    protector.open(document.v_number_sealed, kind=DOCUMENT, row_id=document.id)
                    if protector is not None and document.v_number_sealed is not None
                    else None
                )
                shred(session, services.vault, document, now=now)
                recorder.record(
                    session,
                    Action.DOCUMENT_SHRED,
                    about(document.id, v_number),
                    rule=f"{document.document_type}.retention",
                    detail="retention ended",
                )
        total += len(due)
        if len(due) < batch:
            return total
