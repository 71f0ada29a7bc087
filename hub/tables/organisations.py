"""The ``organisation`` table: the chain partners, identified by a short code."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import DateTime, String
from sqlmodel import Field, SQLModel

CODE_PATTERN: Final = r"^[A-Z][A-Z0-9]{1,15}$"
"""An organisation's code: an upper-case letter, then 1 to 15 upper-case letters or digits."""


class OrganisationKind(StrEnum):
    """What kind of body an organisation is; the sharing policy may name a kind, not a code."""

    RIJK = "rijk"
    """A national government body: DT&V, IND, COA, Politie, KMar, DJI, BuZa."""
    GEMEENTE = "gemeente"
    """A municipality, identified by its CBS code (``GM0363``)."""
    STICHTING = "stichting"
    """A foundation with a statutory task, such as Nidos (guardianship of minors)."""
    INTERNATIONAAL = "internationaal"
    """An international organisation, such as IOM."""


class Organisation(SQLModel, table=True):
    """A chain partner. The database, not the policy file, is the source of truth for these."""

    __tablename__ = "organisation"

    code: str = Field(primary_key=True, max_length=16, regex=CODE_PATTERN)
    name: str = Field(max_length=200)
    # Stored as text, not a database enum: adding a kind must not need an ALTER TYPE.
    kind: OrganisationKind = Field(sa_type=String(32))
    enabled: bool = Field(default=True)
    # When it was last disabled: its clients' tokens issued before then never act again, even
    # once it is enabled (NULL: never disabled).
    disabled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
