"""The sweep of resumable uploads past their expiry (``KETENHUB_UPLOAD_EXPIRY``, 24 h).

Run with the retention timer in every replica. Each batch is one transaction: the rows go, an
unfinished upload's expiry is recorded as ``upload.expire`` (a completed one's record is the
``document.upload`` it made; its row only lingered so HEAD could still answer), and the parts'
objects are deleted once that has committed. Rows are taken ``FOR UPDATE SKIP LOCKED``, so two
replicas never sweep the same upload, and a PATCH in progress (which holds the row once it
moves the offset) is not swept under it; a PATCH that loses the row answers 409.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime

from audit.events import Action
from hub.core import db
from hub.documents.service import DOCUMENT
from hub.runtime import Services
from hub.trail.context import Context
from hub.trail.recorder import About, Recorder
from hub.uploads import repository
from hub.uploads.service import UPLOAD, delete_objects


def expire_uploads(
    services: Services,
    context: Context,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    batch: int = 100,
) -> int:
    """Sweep every expired upload; returns how many unfinished ones expired."""
    recorder = Recorder(services.audit, context)
    store = services.vault.store
    expired = 0
    while True:
        now = clock()
        with db.transaction(services.engine) as session:
            due = repository.expired(session, now=now, limit=batch)
            protector = services.protector() if due else None
            keys: list[str] = []
            for upload in due:
                keys.extend(part.object_key for part in repository.parts(session, upload.id))
                repository.remove(session, upload.id)
                if upload.v_number_sealed is None or protector is None:
                    continue  # completed: its record is the document.upload it made
                v_number = protector.open(
                    upload.v_number_sealed, kind=DOCUMENT, row_id=upload.document_id
                )
                recorder.record(
                    session,
                    Action.UPLOAD_EXPIRE,
                    About(UPLOAD, str(upload.id), v_number),
                    detail=f"{upload.received} of {upload.length} bytes",
                )
                expired += 1
            db.after_commit(session, functools.partial(delete_objects, store, keys))
        if len(due) < batch:
            return expired
