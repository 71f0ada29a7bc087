"""Who is acting in a request: the token's principal, its organisation as the policy sees it
(code and kind), and the request's audit context."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Request
from sqlmodel import Session

from audit.events import Action, Outcome
from auth.dependencies import BearerError, CurrentPrincipal
from auth.scopes import Scope, format_scopes
from auth.tokens import Principal
from hub.audit.context import Context, ContextDep
from hub.deps import ServicesDep, SessionDep
from hub.policy.model import Party
from hub.services import Services


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    party: Party
    context: Context


def current_caller(
    principal: CurrentPrincipal, services: ServicesDep, context: ContextDep
) -> Caller:
    known = services.organisations.get(principal.organisation)
    if known is None or not known.enabled:
        # The token was issued while the organisation existed; it no longer may act.
        raise BearerError(
            401, "the token's organisation is unknown or disabled", error="invalid_token"
        )
    return Caller(principal, Party(principal.organisation, known.kind), context)


CallerDep = Annotated[Caller, Depends(current_caller)]


class Scoped:
    """A dependency that admits callers whose token has ``scope``, and records a refusal.

    The refusal is recorded as ``action`` on the resource the route names (its path parameter
    ``id_param``), so the trail says what was refused. It ends the request with an error, so
    it is recorded in a transaction of its own. A class, not a closure: FastAPI resolves a
    dependency's annotations in its module, where a closure's local names do not exist.
    """

    def __init__(
        self,
        scope: Scope,
        action: Action,
        *,
        resource_type: str | None = None,
        id_param: str | None = None,
    ) -> None:
        self.scope = scope
        self.action = action
        self.resource_type = resource_type
        self.id_param = id_param

    def __call__(
        self,
        request: Request,
        principal: CurrentPrincipal,
        services: ServicesDep,
        context: ContextDep,
    ) -> Caller:
        self.check(request, principal, services, context)
        return current_caller(principal, services, context)

    def check(
        self, request: Request, principal: Principal, services: Services, context: Context
    ) -> None:
        """Return if the token has the scope; else record the refusal and raise 403."""
        if self.scope not in principal.scopes:
            raw = request.path_params.get(self.id_param) if self.id_param else None
            services.audit.record_alone(
                services.audit.event(
                    context,
                    self.action,
                    Outcome.DENIED,
                    principal=principal,
                    resource_type=self.resource_type,
                    resource_id=_uuid_or_none(raw),
                    detail="insufficient_scope",
                )
            )
            needed = format_scopes({self.scope})
            raise BearerError(
                403, f"this needs the scope {needed}", error="insufficient_scope", scope=needed
            )


def _uuid_or_none(value: object) -> str | None:
    """The path's id if it is one the hub could have issued. Anything else is not recorded: the
    path is not validated yet, and a confused client may have put personal data there."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


T = TypeVar("T")


class ScopedService(Generic[T]):
    """A dependency that admits the caller as :class:`Scoped` does, then builds a service for
    it around the request's session: ``build(session, services, caller)``."""

    def __init__(
        self,
        build: Callable[[Session, Services, Caller], T],
        scope: Scope,
        action: Action,
        *,
        resource_type: str,
        id_param: str | None = None,
    ) -> None:
        self._build = build
        self._admit = Scoped(scope, action, resource_type=resource_type, id_param=id_param)

    def __call__(
        self,
        request: Request,
        principal: CurrentPrincipal,
        services: ServicesDep,
        context: ContextDep,
        session: SessionDep,
    ) -> T:
        return self._build(session, services, self._admit(request, principal, services, context))
