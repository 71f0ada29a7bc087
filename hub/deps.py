"""FastAPI dependencies: the request's database session and the hub's services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlmodel import Session

from hub import db
from hub.errors import Unprocessable
from hub.services import Services
from hub.vault.service import Vault


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """One session per request: committed when the handler returns, rolled back if it raises.

    Services only ``flush``; this is the single place a request's transaction commits, so a
    change and its audit record are written together or not at all.
    """
    with db.transaction(services.engine) as session:
        yield session


# scope="function": the dependency exits (commits) when the handler returns, before the
# response is sent. FastAPI's default, "request", would commit after the answer has gone out,
# so a failed commit (the audit write, say) could no longer fail the request.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_vault(services: ServicesDep) -> Vault:
    return services.vault


VaultDep = Annotated[Vault, Depends(get_vault)]


_SHOWABLE_PARAMETER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


def reject_unknown_query(request: Request) -> None:
    """Refuse query parameters the route does not declare (422).

    A misspelled filter (``?documnet_type=decision``) would otherwise be ignored, and the
    caller would get everything instead of what it asked for. A name is repeated in the
    message only when it cannot be personal data (a short word, not a v-number).
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or "access_token" in request.query_params:
        # A token in the query is refused by the bearer check itself, as RFC 6750 prescribes.
        return
    known = _query_names(route.dependant)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        shown = [name for name in unknown if _SHOWABLE_PARAMETER.fullmatch(name)]
        names = ", ".join(sorted(set(shown))) if len(shown) == len(unknown) else "unnamed"
        allowed = ", ".join(sorted(known)) or "none"
        raise Unprocessable(f"unknown query parameter ({names}); this route takes: {allowed}")


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route declares, its dependencies' included."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(param.alias for param in current.query_params)
        pending.extend(current.dependencies)
    return names


StrictQuery = Depends(reject_unknown_query)
