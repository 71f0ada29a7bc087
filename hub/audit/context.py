"""Who is acting, from where, and in which trace: the fields every audit event shares.

A request's context comes from its W3C ``traceparent`` header (https://www.w3.org/TR/trace-context/)
and its peer address. A partner that sends ``traceparent`` continues its trace in the hub: the
event keeps the partner's trace id and records the partner's span as ``foreign_span_id``, the
"foreign operation" of the Logboek Dataverwerkingen that links to the partner's own log. A
missing or malformed header starts a new trace; it is never an error.
"""

from __future__ import annotations

import getpass
import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request

from audit.events import ActorType

_TRACEPARENT: Final = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_INVALID_TRACE: Final = "0" * 32
_INVALID_SPAN: Final = "0" * 16


@dataclass(frozen=True, slots=True)
class Context:
    """Where an action comes from: trace, span and network origin, plus a fallback actor."""

    trace_id: str
    span_id: str
    foreign_span_id: str | None = None
    source_address: str | None = None
    actor_type: ActorType | None = None
    actor_id: str | None = None

    @classmethod
    def new(cls, *, source_address: str | None = None) -> Context:
        return cls(secrets.token_hex(16), secrets.token_hex(8), source_address=source_address)

    @classmethod
    def from_traceparent(cls, header: str | None, *, source_address: str | None) -> Context:
        match = _TRACEPARENT.fullmatch(header.strip()) if header and len(header) < 128 else None
        if match is None or match[1] == _INVALID_TRACE or match[2] == _INVALID_SPAN:
            return cls.new(source_address=source_address)
        return cls(
            trace_id=match[1],
            span_id=secrets.token_hex(8),
            foreign_span_id=match[2],
            source_address=source_address,
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
            actor_type=ActorType.OPERATOR,
            actor_id=login[:64],
        )


def system_context(name: str) -> Context:
    """The hub acting on its own: ``name`` says which part (``retention``, ``start``)."""
    return Context(
        secrets.token_hex(16), secrets.token_hex(8), actor_type=ActorType.SYSTEM, actor_id=name
    )


def request_context(request: Request) -> Context:
    peer = request.client.host if request.client else None
    return Context.from_traceparent(request.headers.get("traceparent"), source_address=peer)


ContextDep = Annotated[Context, Depends(request_context)]
