"""What every service of a request shares: its session, its caller, and recording.

A request's service acts for one caller in one transaction. Each thing it does, or refuses, is
recorded in that transaction through :meth:`RecordingService.record` or
:meth:`RecordingService.refuse` (which marks the error so that the transaction, holding only the
record, is committed although the request fails; see :meth:`hub.errors.HubError.after_recording`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from sqlmodel import Session

from audit.events import Action, Event, Outcome
from hub.audit.service import Auditor, Receipt
from hub.caller import Caller
from hub.errors import HubError


class RecordingService:
    """Base of the request-scoped services; ``resource_type`` names what its events are about."""

    resource_type: ClassVar[str]

    def __init__(
        self, session: Session, *, audit: Auditor, caller: Caller, clock: Callable[[], datetime]
    ) -> None:
        self.session = session
        self.audit = audit
        self.caller = caller
        self.now = clock()

    def event(
        self, action: Action, outcome: Outcome, *, resource_type: str | None = None, **fields: Any
    ) -> Event:
        """An event by this caller about this service's resource (``resource_type`` overrides)."""
        return self.audit.event(
            self.caller.context,
            action,
            outcome,
            principal=self.caller.principal,
            resource_type=resource_type or self.resource_type,
            **fields,
        )

    def record(self, event: Event) -> Receipt:
        """Append ``event`` in this request's transaction; its signed receipt."""
        return self.audit.receipt(self.audit.record(self.session, event))

    def refuse(self, error: HubError, event: Event) -> HubError:
        """Record a refusal and return ``error``, marked so the record is kept."""
        self.audit.record(self.session, event)
        return error.after_recording()
