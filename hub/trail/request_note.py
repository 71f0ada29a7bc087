"""What one request has recorded so far, and who it turned out to be: its :class:`RequestNote`.

The outer layer that records refusals no service recorded
(:class:`hub.web.refusals.RefusalRecording`) opens a note for each request (:func:`noting`); it is
kept in a context variable, and marked by :meth:`hub.trail.auditor.Auditor.record` whenever it
appends an event that is not a success (:func:`note_recorded`), and by
:class:`hub.web.caller.Serving` once the token is accepted (:func:`note_actor`). The context is
copied into the worker threads that run dependencies and services, and the note is one mutable
object, so a mark made there is seen by the layer outside. Outside a request nothing is noted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from http import HTTPStatus

from audit.events import Outcome
from hub.trail.context import Actor


@dataclass(slots=True)
class RequestNote:
    """What one request has recorded, and who it turned out to be (see the module docstring)."""

    actor: Actor | None = None
    outcomes: set[Outcome] = field(default_factory=set)

    def covers(self, status: int) -> bool:
        """Whether an event already recorded stands for an answer of ``status``: any refusal
        for a 4xx, an ``error`` for a 5xx."""
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return Outcome.ERROR in self.outcomes
        return bool(self.outcomes - {Outcome.SUCCESS})


_NOTE: ContextVar[RequestNote | None] = ContextVar("ketenhub_request_note", default=None)


@contextlib.contextmanager
def noting() -> Iterator[RequestNote]:
    """A fresh note for the request running in this context, for the block's duration."""
    note = RequestNote()
    token = _NOTE.set(note)
    try:
        yield note
    finally:
        _NOTE.reset(token)


def note_recorded(outcome: Outcome) -> None:
    """The running request (if any) has recorded an event of ``outcome``."""
    note = _NOTE.get()
    if note is not None:
        note.outcomes.add(outcome)


def note_actor(actor: Actor) -> None:
    """The running request's token was accepted: it speaks for ``actor``."""
    note = _NOTE.get()
    if note is not None:
        note.actor = actor
