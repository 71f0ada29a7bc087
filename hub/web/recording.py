"""What every service of a request shares: its transaction, its caller, and recording.

A request's service acts for one caller in one transaction (:class:`Call`, built by
:class:`hub.web.caller.Serving`). Each thing it does is recorded in that transaction through
:meth:`RecordingService.record`; each thing it refuses through :meth:`RecordingService.refuse`,
which undoes the request's work before it appends the refusal, so that the refusal is kept, and
nothing else is, although the request fails (see :class:`hub.web.deps.RequestTransaction`). The
outcome of a refusal follows from its error (:func:`outcome_of`), so the trail and the answer
cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

from sqlmodel import Session

from audit.events import Action, Outcome
from audit.log import Recorded
from auth.tokens import Principal
from hub.core.errors import Forbidden, HubError, NotFound
from hub.rules.model import Party
from hub.trail.auditor import Receipt
from hub.trail.context import Context
from hub.trail.recorder import About, Recorder, Transfer
from hub.web.deps import RequestTransaction


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is acting in a request: the token's principal, its organisation as the policy sees
    it (code and kind), and the request's audit context."""

    principal: Principal
    party: Party
    context: Context


@dataclass(frozen=True, slots=True)
class Call:
    """One request as its service sees it: the transaction, the caller, the recorder of the
    caller's events, and the time the request is decided at."""

    transaction: RequestTransaction
    caller: Caller
    recorder: Recorder
    now: datetime


def outcome_of(error: HubError) -> Outcome:
    """The recorded outcome of a refusal that answers with ``error``."""
    if isinstance(error, NotFound):
        return Outcome.NOT_FOUND
    if isinstance(error, Forbidden):
        return Outcome.DENIED
    if error.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return Outcome.ERROR
    return Outcome.INVALID


class RecordingService:
    """Base of the request-scoped services: every event they write goes through here."""

    def __init__(self, call: Call) -> None:
        self.transaction = call.transaction
        self.session: Session = call.transaction.session
        self.caller = call.caller
        self.recorder = call.recorder
        self.now = call.now

    def record(
        self,
        action: Action,
        about: About,
        *,
        rule: str | None = None,
        purpose: str | None = None,
        detail: str | None = None,
        transfer: Transfer | None = None,
    ) -> Recorded:
        """Record a success in this request's transaction; ``transfer`` is the content an
        upload or download moved (its hash, size and range go in the leaf)."""
        return self.recorder.record(
            self.session,
            action,
            about,
            rule=rule,
            purpose=purpose,
            detail=detail,
            transfer=transfer,
        )

    def record_receipt(
        self,
        action: Action,
        about: About,
        *,
        rule: str | None = None,
        purpose: str | None = None,
        detail: str | None = None,
        transfer: Transfer | None = None,
    ) -> Receipt:
        """:meth:`record`, and the signed receipt the answer carries."""
        recorded = self.record(
            action, about, rule=rule, purpose=purpose, detail=detail, transfer=transfer
        )
        return self.recorder.auditor.receipt(recorded)

    def refuse(
        self,
        error: HubError,
        action: Action,
        about: About,
        *,
        rule: str | None = None,
        purpose: str | None = None,
        detail: str | None = None,
    ) -> HubError:
        """Undo the request's work, record the refusal, and return ``error`` to raise."""
        outcome = outcome_of(error)
        self.transaction.refuse(
            lambda session: self.recorder.record(
                session, action, about, outcome, rule=rule, purpose=purpose, detail=detail
            )
        )
        return error
