"""API shapes of organisations."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hub.organisations.models import OrganisationKind


class OrganisationOut(BaseModel):
    code: str = Field(description="Short code; a gemeente's CBS code (GM0363)")
    name: str
    kind: OrganisationKind
    enabled: bool


class OrganisationPage(BaseModel):
    items: list[OrganisationOut]
    next_cursor: str | None
