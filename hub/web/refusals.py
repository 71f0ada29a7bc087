"""Every refusal and every server error is an audit event: :class:`RefusalRecording`.

A plain ASGI middleware, outside every layer that can refuse a request (the body limits, the
routes, the exception handlers) and inside the telemetry, whose trace the event carries. For
each HTTP request it opens the request's note (:mod:`hub.trail.request_note`); when the answer
starts with a status of 400 or more, or the application raises (it then answers the 500
itself, logged once by :func:`hub.web.error_handlers.log_unexpected`, so that no traceback
with the exception's message follows), and no event already recorded stands for it, it
records one before the answer goes out:

- ``http.refuse`` for a 4xx, ``http.error`` for a 5xx; the outcome follows from the status
  (:func:`hub.trail.gate.outcome_of_status`); ``detail`` is the status, the method and the
  route's template (``401 GET /api/v1/documents``; ``unmatched`` for an unknown path), all the
  hub's own words: never the path as sent, a query, a header or a byte of the body;
- for an authenticated caller (the token was accepted: :class:`hub.web.caller.Serving`), with
  the client as actor, every time;
- for a caller who never authenticated, only when the process's gate
  (:class:`hub.trail.gate.RefusalGate`, :attr:`hub.trail.auditor.Auditor.refusals`) admits it
  (the first from its address in an interval); the rest are counted into one summary
  (``http.refuse_summary``), written by the timer of
  :func:`hub.trail.refusals.refusal_summaries`.

Events are appended in worker threads of a small pool of their own, never the shared one, so a
burst of refusals cannot take the threads the routes need. A failure to record is logged and
counted (:meth:`hub.trail.auditor.Auditor.record_alone`) and the answer goes out as it was: the
request was refused, and nothing was done that would need a record (decision 0020).
"""

from __future__ import annotations

import logging
from typing import Final

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audit.events import Action, Event
from hub.observability.middleware import route_template
from hub.observability.tracing import known_method
from hub.runtime import Services
from hub.trail.context import request_context
from hub.trail.gate import outcome_of_status
from hub.trail.recorder import NOTHING, Recorder
from hub.trail.refusals import admit
from hub.trail.request_note import RequestNote, noting
from hub.web.error_handlers import log_unexpected, unexpected_response

logger = logging.getLogger(__name__)

_FIRST_REFUSAL: Final = 400
_SERVER_ERROR: Final = 500
_RECORDING_THREADS: Final = 4


class RefusalRecording:
    """Records every 4xx and 5xx answer that no service recorded (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._threads: anyio.CapacityLimiter | None = None  # made in the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        with noting() as note:

            async def send_recorded(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    status = int(message["status"])
                    if status >= _FIRST_REFUSAL:
                        await self._settle(scope, note, status)
                await send(message)

            try:
                await self.app(scope, receive, send_recorded)
            except Exception as exc:  # noqa: BLE001 - answered as a 500, logged once
                request = Request(scope)
                reference = log_unexpected(request, exc)
                await self._settle(scope, note, _SERVER_ERROR)
                if started:
                    # The answer had begun: returning unfinished makes the server cut the
                    # connection, which is all a client can be told now. Not raised, so the
                    # error is logged once, by the line above, and not again with a traceback
                    # that quotes the exception's message.
                    return
                await unexpected_response(request, reference)(scope, receive, send)

    async def _settle(self, scope: Scope, note: RequestNote, status: int) -> None:
        """Record the answer ``status`` unless an event recorded already stands for it."""
        if note.covers(status):
            return
        services: Services | None = getattr(scope["app"].state, "services", None)
        if services is None:  # not started (or stopping): there is no trail to write to
            return
        try:
            events = self._events(services, scope, note, status)
        except Exception:  # an event that cannot be built must not turn a 4xx into a 500
            logger.exception("could not describe a refused request for the audit trail")
            return
        if not events:
            return
        auditor = services.audit

        def write() -> None:
            for event in events:
                try:
                    auditor.record_alone(event)
                except Exception as exc:  # noqa: BLE001 - logged; the answer stands
                    logger.error(  # noqa: TRY400 - no traceback: it could quote the statement
                        "could not record a refused request (%s): %s",
                        event.action,
                        type(exc).__name__,
                    )

        if self._threads is None:
            self._threads = anyio.CapacityLimiter(_RECORDING_THREADS)
        with anyio.CancelScope(shield=True):  # a client that hangs up still leaves its record
            await anyio.to_thread.run_sync(write, limiter=self._threads)

    def _events(
        self, services: Services, scope: Scope, note: RequestNote, status: int
    ) -> list[Event]:
        context = request_context(Request(scope))
        outcome = outcome_of_status(status)
        action = Action.HTTP_ERROR if status >= _SERVER_ERROR else Action.HTTP_REFUSE
        detail = f"{status} {known_method(str(scope.get('method', '')))} "
        detail += route_template(scope) or "unmatched"
        recorder = Recorder(services.audit, context, note.actor)
        this = recorder.event(action, NOTHING, outcome, detail=detail)
        if note.actor is not None:
            return [this]
        now, summaries = admit(services.audit, context.source_address, outcome, status)
        return [*summaries, this] if now else summaries
