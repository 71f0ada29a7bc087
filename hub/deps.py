"""FastAPI dependencies: the request's database session and the hub's services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from hub import db
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
