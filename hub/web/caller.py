"""The one way an API route gets the service it calls: :class:`Serving`.

A route that acts for a caller declares ``Annotated[SomeService, Depends(Serving(...))]``. The
dependency authenticates the token (:data:`auth.dependencies.CurrentPrincipal`, whose standing,
organisation included, :mod:`hub.tokens.standing` alone decides), checks the route's scope, and
builds the feature's service around the request's transaction and caller (:class:`hub.web.recording.
Call`). A token without the scope is refused with 403, and the refusal is recorded, as every
refusal of an authenticated caller is, in the request's own transaction
(:class:`hub.web.deps.RequestTransaction`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from fastapi import Request
from sqlmodel import Session

from audit.events import Action, Outcome
from auth.dependencies import BearerError, CurrentPrincipal
from auth.scopes import Scope, format_scopes
from auth.tokens import Principal
from hub.directory.organisations import OrganisationDirectory
from hub.rules.model import Party
from hub.runtime import Services
from hub.trail.context import Actor, Context, ContextDep
from hub.trail.recorder import About, Recorder
from hub.trail.request_note import note_actor
from hub.web.deps import RequestTransaction, ServicesDep, TransactionDep
from hub.web.recording import Call, Caller

S = TypeVar("S")


def caller_of(principal: Principal, directory: OrganisationDirectory, context: Context) -> Caller:
    """The caller a validated token stands for, its organisation's kind from ``directory``."""
    known = directory.get(principal.organisation)
    if known is None:
        # The token's standing was checked against this directory as it was validated, and
        # organisations are never deleted: this cannot happen unless that check was skipped.
        raise RuntimeError("a token of an unknown organisation passed its standing check")
    return Caller(principal, Party(principal.organisation, known.kind), context)


class Serving(Generic[S]):
    """A dependency that admits the caller and builds its service: ``build(call, services)``.

    ``scope`` is what the route needs (``None``: any authenticated caller). A refusal for want
    of it is recorded as ``action`` on the resource the route names: ``resource_type``, and the
    path parameter ``id_param`` when the route has one. A class, not a closure: FastAPI
    resolves a dependency's annotations in its module, where a closure's local names do not
    exist.
    """

    def __init__(
        self,
        build: Callable[[Call, Services], S],
        *,
        scope: Scope | None,
        action: Action,
        resource_type: str,
        id_param: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._build = build
        self.scope = scope
        self.action = action
        self.resource_type = resource_type
        self.id_param = id_param
        self._clock = clock

    def __call__(
        self,
        request: Request,
        principal: CurrentPrincipal,
        services: ServicesDep,
        context: ContextDep,
        transaction: TransactionDep,
    ) -> S:
        actor = Actor.of(principal)
        note_actor(actor)  # from here on, every refusal of this request is the client's own
        return self.admit(request, principal, services, context, transaction)

    def admit(
        self,
        request: Request,
        principal: Principal,
        services: Services,
        context: Context,
        transaction: RequestTransaction,
    ) -> S:
        """Check ``principal`` against the route's scope (a refusal recorded in ``transaction``
        and raised as :meth:`refusal`), then build the service around it."""
        recorder = Recorder(services.audit, context, Actor.of(principal))
        if self.scope is not None and self.scope not in principal.scopes:
            raw = request.path_params.get(self.id_param) if self.id_param else None
            about = About(self.resource_type, uuid_or_none(raw))

            def record(session: Session) -> None:
                recorder.record(
                    session, self.action, about, Outcome.DENIED, detail="insufficient_scope"
                )

            transaction.refuse(record)
            raise self.refusal(self.scope)
        caller = caller_of(principal, services.organisations, context)
        return self._build(Call(transaction, caller, recorder, self._clock()), services)

    def refusal(self, scope: Scope) -> Exception:
        """What a caller without ``scope`` is answered: the API's RFC 6750 403."""
        needed = format_scopes({scope})
        return BearerError(
            403, f"this needs the scope {needed}", error="insufficient_scope", scope=needed
        )


def uuid_or_none(value: object) -> str | None:
    """The path's id if it is one the hub could have issued. Anything else is not recorded: the
    path is not validated yet, and a confused client may have put personal data there."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


T = TypeVar("T")


class ServingEither(Generic[S, T]):
    """A dependency for a route that two kinds of caller may use, each with its own service:
    ``first`` when the token holds its scope, else ``second`` when it holds that one's (an
    auditor reading the metadata of a document the trail names, say). A caller with neither is
    refused as ``first`` refuses, so the 403 names ``first``'s scope and is recorded as its
    action."""

    def __init__(self, first: Serving[S], second: Serving[T]) -> None:
        self.first = first
        self.second = second

    def __call__(
        self,
        request: Request,
        principal: CurrentPrincipal,
        services: ServicesDep,
        context: ContextDep,
        transaction: TransactionDep,
    ) -> S | T:
        note_actor(Actor.of(principal))
        first, second = self.first, self.second
        lacks_first = first.scope is not None and first.scope not in principal.scopes
        holds_second = second.scope is None or second.scope in principal.scopes
        if lacks_first and holds_second:
            return second.admit(request, principal, services, context, transaction)
        return first.admit(request, principal, services, context, transaction)
