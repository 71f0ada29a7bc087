"""Who is acting, from where, and in which trace: the fields every audit event shares.

A request's context comes from the trace the telemetry middleware made for it (see
:mod:`hub.observability.tracing`: the OpenTelemetry server span when tracing is on, else from
the W3C ``traceparent`` header, https://www.w3.org/TR/trace-context/) and its peer address. A
partner that sends ``traceparent`` continues its trace in the hub: the event keeps the
partner's trace id and records the partner's span as ``foreign_span_id``, the "foreign
operation" of the Logboek Dataverwerkingen that links to the partner's own log. A missing or
malformed header starts a new trace; it is never an error. The event's ``trace_id`` and
``span_id`` are those of the request's access log line and exported span.
"""

from __future__ import annotations

import getpass
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from audit.events import ActorType
from auth.tokens import Principal
from hub.observability.tracing import RequestTrace, request_trace


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a client (for its organisation, under a processing activity's URI), a person,
    the operator at the command line, or the hub itself."""

    type: ActorType
    id: str
    organisation: str | None = None
    processing_activity: str | None = None
    issuer: str | None = None
    """For a client of a trusted partner issuer, that issuer (``None``: one of the hub's own)."""
    client: str | None = None
    """For a person, the client they act through (the web UI's ``ketenhub-web``): the means,
    recorded as ``actor_client``. ``None`` for a client acting for itself."""

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """Who a token speaks for: the person it was issued to (by user name, with the client
        as the means), or else the client itself.

        Named ``of``, not ``client``: a class attribute of that name would clash with the
        ``client`` field of this slotted dataclass.
        """
        if principal.username is not None:
            return cls(
                ActorType.USER,
                principal.username,
                principal.organisation,
                principal.processing_activity,
                client=principal.client_id,
            )
        return cls(
            ActorType.CLIENT,
            principal.client_id,
            principal.organisation,
            principal.processing_activity,
            principal.partner_issuer,
        )


@dataclass(frozen=True, slots=True)
class Context:
    """Where an action comes from: trace, span and network origin, plus the actor when it is
    known before any credential is (the operator, the hub itself)."""

    trace_id: str
    span_id: str
    foreign_span_id: str | None = None
    source_address: str | None = None
    actor: Actor | None = None

    @classmethod
    def new(cls, *, source_address: str | None = None) -> Context:
        return cls(secrets.token_hex(16), secrets.token_hex(8), source_address=source_address)

    @classmethod
    def from_traceparent(cls, header: str | None, *, source_address: str | None) -> Context:
        return cls.of(RequestTrace.from_traceparent(header), source_address=source_address)

    @classmethod
    def of(cls, trace: RequestTrace, *, source_address: str | None) -> Context:
        return cls(
            trace.trace_id, trace.span_id, trace.foreign_span_id, source_address=source_address
        )

    @classmethod
    def operator(cls) -> Context:
        """The command line: the operator's login name is the actor."""
        try:
            login = getpass.getuser()
        except OSError:
            login = "unknown"
        return cls(
            secrets.token_hex(16),
            secrets.token_hex(8),
            actor=Actor(ActorType.OPERATOR, login[:64]),
        )


def system_context(name: str) -> Context:
    """The hub acting on its own: ``name`` says which part (``retention``, ``start``)."""
    return Context(secrets.token_hex(16), secrets.token_hex(8), actor=Actor(ActorType.SYSTEM, name))


def request_context(request: Request) -> Context:
    peer = request.client.host if request.client else None
    trace = request_trace(request.scope)
    if trace is None:  # an app assembled without the telemetry middleware
        return Context.from_traceparent(request.headers.get("traceparent"), source_address=peer)
    return Context.of(trace, source_address=peer)


async def context_dependency(request: Request) -> Context:
    """:func:`request_context` as a dependency: ``async``, since it only reads the request's
    scope and headers, so FastAPI runs it on the event loop instead of a worker thread (a hop
    per request, decision 0036)."""
    return request_context(request)


ContextDep = Annotated[Context, Depends(context_dependency)]
