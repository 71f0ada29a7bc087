"""API shapes of organisations.

The bodies of ``POST`` and ``PATCH`` check only their shape (fields, types, sizes). The rules
for codes, names and kinds are checked by :mod:`hub.organisations.service`, so that breaking one
is a refusal recorded in the audit trail like any other; the OpenAPI document still states them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool

from hub.tables.organisations import CODE_PATTERN, OrganisationKind

_KINDS: list[JsonValue] = [kind.value for kind in OrganisationKind]


class OrganisationOut(BaseModel):
    code: str = Field(description="Short code; a gemeente's CBS code (GM0363)")
    name: str
    kind: OrganisationKind
    enabled: bool


class OrganisationPage(BaseModel):
    items: list[OrganisationOut]
    next_cursor: str | None


class OrganisationIn(BaseModel):
    """A new organisation; it starts enabled."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        max_length=64,
        description="Upper-case letters and digits; a gemeente's is its CBS code (GM0363), "
        "and only a gemeente's looks like one",
        json_schema_extra={"pattern": CODE_PATTERN},
    )
    name: str = Field(
        max_length=1000,
        description="1-200 printable characters after trimming; no control or bidi characters",
    )
    kind: str = Field(
        max_length=64,
        description="The policy may grant by kind: gemeente covers every gemeente",
        json_schema_extra={"enum": _KINDS},
    )


class OrganisationPatch(BaseModel):
    """What to change: ``enabled``, ``name`` or both."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = Field(
        default=None,
        description="false: its clients' tokens stop working and its shares stop granting",
    )
    name: str | None = Field(default=None, max_length=1000)
