"""Typed audit events: what an event is about, who records it, and the one place that turns
them into an :class:`audit.events.Event`.

Every part of the hub that records does so through a :class:`Recorder`, built once for one
actor in one context: a request's caller (:mod:`hub.web.recording`), the operator of one
``ketenhub`` command (:func:`hub.cli.console.operator_recorder`), or the hub itself (a timer, the
start). What an operation acts on is an :class:`About`, built once per operation; what differs
between its outcomes (the rule that decided, the purpose, a short detail) is passed by name.
Nothing else reaches an event, so no caller can put an unvetted field, or a raw v-number, in the
trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlmodel import Session

from audit.events import Action, Event, Outcome
from audit.log import Recorded
from audit.pseudonyms import SUBJECT_TYPE
from hub.trail.auditor import Auditor
from hub.trail.context import Actor, Context


@dataclass(frozen=True, slots=True)
class About:
    """What an event is about: a resource by type and id, and the person concerned.

    ``v_number`` is personal data: the trail receives only its pseudonym, and it is left out of
    ``repr`` so that no log line or traceback shows it.
    """

    resource_type: str | None = None
    resource_id: str | None = None
    v_number: str | None = field(default=None, repr=False)

    def of(self, *, v_number: str | None) -> About:
        """The same resource, now that the person it concerns is known."""
        return replace(self, v_number=v_number)


NOTHING = About()
"""An event about no resource in particular (a token refused before its client is known)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """The content an upload received or a download served, for the leaf of its event.

    ``sha256`` (lowercase hex) and ``size`` (bytes) are always the document's *whole* content,
    so a partner compares them with what it holds; ``span`` is the inclusive ``(start, end)``
    byte offsets a range download served (``None``: all of it). Recorded as the leaf's
    ``content_sha256``, ``content_size`` and ``range`` (:mod:`audit.events`).
    """

    sha256: str
    size: int
    span: tuple[int, int] | None = None

    @property
    def range(self) -> str | None:
        return None if self.span is None else f"{self.span[0]}-{self.span[1]}"


class Recorder:
    """Builds and appends the events of one actor in one context."""

    def __init__(self, auditor: Auditor, context: Context, actor: Actor | None = None) -> None:
        self.auditor = auditor
        self.context = context
        self.actor = actor or context.actor

    def event(
        self,
        action: Action,
        about: About,
        outcome: Outcome = Outcome.SUCCESS,
        *,
        rule: str | None = None,
        purpose: str | None = None,
        detail: str | None = None,
        organisation: str | None = None,
        transfer: Transfer | None = None,
    ) -> Event:
        """The event: ``purpose`` is a processing-activity code (recorded as its URI, in place
        of the actor's own); ``organisation`` overrides the actor's (an operator acting on
        one); ``transfer`` is the content an upload or download moved."""
        context, actor = self.context, self.actor
        processing_activity = actor.processing_activity if actor is not None else None
        if purpose is not None:
            processing_activity = self.auditor.purpose_uri(purpose)
        subject = self.auditor.pseudonym(about.v_number) if about.v_number is not None else None
        return Event(
            action=action,
            outcome=outcome,
            actor_type=actor.type if actor is not None else None,
            actor_id=actor.id if actor is not None else None,
            organisation=organisation or (actor.organisation if actor is not None else None),
            resource_type=about.resource_type,
            resource_id=about.resource_id,
            trace_id=context.trace_id,
            span_id=context.span_id,
            foreign_span_id=context.foreign_span_id,
            processing_activity_id=processing_activity,
            data_subject_id=subject,
            data_subject_id_type=SUBJECT_TYPE if subject is not None else None,
            policy_rule=rule,
            source_address=context.source_address,
            detail=detail,
            actor_issuer=actor.issuer if actor is not None else None,
            actor_client=actor.client if actor is not None else None,
            content_sha256=transfer.sha256 if transfer is not None else None,
            content_size=transfer.size if transfer is not None else None,
            range=transfer.range if transfer is not None else None,
        )

    def record(
        self,
        session: Session,
        action: Action,
        about: About,
        outcome: Outcome = Outcome.SUCCESS,
        *,
        rule: str | None = None,
        purpose: str | None = None,
        detail: str | None = None,
        organisation: str | None = None,
        transfer: Transfer | None = None,
    ) -> Recorded:
        """Append the event in the session's transaction (see :meth:`Auditor.record`)."""
        event = self.event(
            action,
            about,
            outcome,
            rule=rule,
            purpose=purpose,
            detail=detail,
            organisation=organisation,
            transfer=transfer,
        )
        return self.auditor.record(session, event)

    def record_alone(
        self,
        action: Action,
        about: About,
        outcome: Outcome = Outcome.SUCCESS,
        *,
        rule: str | None = None,
        purpose: str | None = None,
        detail: str | None = None,
        organisation: str | None = None,
        transfer: Transfer | None = None,
    ) -> Recorded:
        """Append the event in a transaction of its own (see :meth:`Auditor.record_alone`)."""
        event = self.event(
            action,
            about,
            outcome,
            rule=rule,
            purpose=purpose,
            detail=detail,
            organisation=organisation,
            transfer=transfer,
        )
        return self.auditor.record_alone(event)
