"""``/api/v1/organisations``: the chain's organisations.

Any authenticated caller may list them and read one. An administrator (scope ``admin``) adds
one (``POST``) and disables, enables or renames one (``PATCH``); each change, and each refusal,
is recorded in the audit trail with the administrator's client as the actor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from audit.events import Action
from auth.dependencies import current_principal
from auth.scopes import Scope
from hub.organisations import service
from hub.organisations.schemas import (
    OrganisationIn,
    OrganisationOut,
    OrganisationPage,
    OrganisationPatch,
)
from hub.organisations.service import OrganisationsDeps, OrganisationService
from hub.runtime import Services
from hub.tables.organisations import CODE_PATTERN, Organisation
from hub.web.caller import Serving
from hub.web.deps import SessionDep, StrictQuery
from hub.web.pagination import Cursor, Limit
from hub.web.problems import problem, problem_responses
from hub.web.recording import Call
from hub.web.routes import TokenFirstRoute

router = APIRouter(
    prefix="/api/v1",
    tags=["organisations"],
    responses=problem_responses(),
    dependencies=[StrictQuery],
    route_class=TokenFirstRoute,
)


def _administrator(call: Call, services: Services) -> OrganisationService:
    return OrganisationService(call, OrganisationsDeps(directory=services.organisations))


def _administering(action: Action) -> Serving[OrganisationService]:
    """The service for a route that needs ``admin``; a refusal is recorded as ``action``."""
    return Serving(_administrator, scope=Scope.ADMIN, action=action, resource_type="organisation")


Adding = Annotated[OrganisationService, Depends(_administering(Action.ORGANISATION_ADD))]
Changing = Annotated[OrganisationService, Depends(_administering(Action.ORGANISATION_UPDATE))]
Code = Annotated[str, Path(pattern=CODE_PATTERN, description="The organisation's code")]


def _out(organisation: Organisation) -> OrganisationOut:
    return OrganisationOut.model_validate(organisation, from_attributes=True)


@router.get(
    "/organisations",
    response_model=OrganisationPage,
    summary="List organisations",
    dependencies=[Depends(current_principal)],
)
def list_organisations(
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> OrganisationPage:
    rows, next_cursor = service.page(session, limit=limit, cursor=cursor)
    return OrganisationPage(items=[_out(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/organisations/{code}",
    response_model=OrganisationOut,
    summary="One organisation",
    dependencies=[Depends(current_principal)],
    responses={404: problem("No such organisation")},
)
def get_organisation(session: SessionDep, code: Code) -> OrganisationOut:
    return _out(service.get_or_raise(session, code))


@router.post(
    "/organisations",
    status_code=201,
    response_model=OrganisationOut,
    summary="Add an organisation (admin)",
    responses={
        409: problem("An organisation with that code exists already"),
        422: problem("A malformed code or name, an unknown kind, or a gemeente without CBS code"),
    },
)
def add_organisation(
    administrator: Adding, body: OrganisationIn, response: Response
) -> OrganisationOut:
    organisation = administrator.add(body)
    response.headers["Location"] = f"/api/v1/organisations/{organisation.code}"
    return _out(organisation)


@router.patch(
    "/organisations/{code}",
    response_model=OrganisationOut,
    summary="Disable, enable or rename an organisation (admin)",
    responses={
        403: problem("The token lacks admin, or an administrator disables its own organisation"),
        404: problem("No such organisation"),
        422: problem("Nothing to change, or a malformed name"),
    },
)
def change_organisation(
    administrator: Changing, code: Code, body: OrganisationPatch
) -> OrganisationOut:
    return _out(administrator.update(code, body))
