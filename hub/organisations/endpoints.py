"""``GET /api/v1/organisations``: the chain's organisations, for any authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from auth.dependencies import current_principal
from hub.deps import SessionDep, StrictQuery
from hub.errors import problem_responses
from hub.organisations import service
from hub.organisations.schemas import OrganisationOut, OrganisationPage

router = APIRouter(
    prefix="/api/v1",
    tags=["organisations"],
    responses=problem_responses(),
    dependencies=[StrictQuery],
)


@router.get(
    "/organisations",
    response_model=OrganisationPage,
    summary="List organisations",
    dependencies=[Depends(current_principal)],
)
def list_organisations(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrganisationPage:
    rows, next_cursor = service.page(session, limit=limit, cursor=cursor)
    return OrganisationPage(
        items=[OrganisationOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=next_cursor,
    )
