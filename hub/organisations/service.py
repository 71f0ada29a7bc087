"""The chain's organisations, and seeding them into a fresh database.

``CHAIN`` is DESIGN.md's table. The national partners are always created; the two gemeenten are
demo data (real gemeenten are added by their CBS code when they join).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlmodel import Session

from hub.errors import BadRequest
from hub.organisations import repository
from hub.organisations.models import Organisation, OrganisationKind
from hub.pagination import decode_cursor, encode_cursor


@dataclass(frozen=True, slots=True)
class OrganisationSeed:
    code: str
    name: str
    kind: OrganisationKind


CHAIN: Final = (
    OrganisationSeed("DTV", "Dienst Terugkeer en Vertrek", OrganisationKind.RIJK),
    OrganisationSeed("IND", "Immigratie- en Naturalisatiedienst", OrganisationKind.RIJK),
    OrganisationSeed("COA", "Centraal Orgaan opvang asielzoekers", OrganisationKind.RIJK),
    OrganisationSeed("POLITIE", "Politie", OrganisationKind.RIJK),
    OrganisationSeed("KMAR", "Koninklijke Marechaussee", OrganisationKind.RIJK),
    OrganisationSeed("DJI", "Dienst Justitiële Inrichtingen", OrganisationKind.RIJK),
    OrganisationSeed("BUZA", "Ministerie van Buitenlandse Zaken", OrganisationKind.RIJK),
    OrganisationSeed(
        "IOM", "International Organization for Migration", OrganisationKind.INTERNATIONAAL
    ),
    OrganisationSeed("NIDOS", "Stichting Nidos", OrganisationKind.STICHTING),
)
DEMO_GEMEENTEN: Final = (
    OrganisationSeed("GM0363", "Gemeente Amsterdam", OrganisationKind.GEMEENTE),
    OrganisationSeed("GM0344", "Gemeente Utrecht", OrganisationKind.GEMEENTE),
)


def ensure_organisations(session: Session, seeds: tuple[OrganisationSeed, ...]) -> list[str]:
    """Create the organisations that do not exist yet; returns the codes created.

    Existing rows are left as they are: an administrator may have renamed or disabled one, and
    running ``init`` again must not undo that.
    """
    created = []
    for seed in seeds:
        if repository.get(session, seed.code) is None:
            session.add(Organisation(code=seed.code, name=seed.name, kind=seed.kind))
            created.append(seed.code)
    session.flush()
    return created


_QUERY: Final = "organisations"


def page(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[Sequence[Organisation], str | None]:
    """One page in code order; the cursor is the last code seen, opaque to the caller."""
    after = decode_cursor(cursor, _QUERY)
    if after is not None and not isinstance(after, str):
        raise BadRequest("the cursor is not one this API issued")
    rows = repository.list_page(session, after=after, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(rows[limit - 1].code, _QUERY)
