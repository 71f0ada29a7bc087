"""The chain's organisations: the rules for adding, renaming, disabling and enabling one, and
seeding them into a fresh database.

The rules, the same for the API, ``ketenhub org`` and ``ketenhub org import``:

- **Code**: an upper-case letter, then 1 to 15 upper-case letters or digits. A gemeente's code is
  its CBS code, ``GM`` and four digits (``GM0363``), and only a gemeente has a code of that
  shape, so no other organisation can pass for one.
- **Name**: see :func:`hub.core.names.clean_name`.
- **Kind**: an :class:`~hub.tables.organisations.OrganisationKind`, fixed once the organisation
  exists. The sharing policy decides by kind (``gemeente`` covers every gemeente, including
  those added after the policy was loaded), so changing a kind would silently change who may
  read what; it is refused.
- **Disabling** stops the organisation acting and granting: the token endpoint refuses its
  clients at once, every replica refuses the tokens they hold within
  :data:`~hub.core.cached.CUT_OFF` seconds (:mod:`hub.tokens.standing`), and its shares grant
  nothing.
  Its documents stay readable to whom the policy allows: they belong to the chain's cases and
  their retention. Enabling restores its clients and its shares, but not the tokens that
  disabling ended: its clients get new ones.
- **Not one's own**: an administrator's client cannot disable its own organisation through the
  API, which would end its own access and that of everyone it works with in one request; an
  operator can, on the hub's host, with ``ketenhub org disable``.

``CHAIN`` is DESIGN.md's table. The national partners are always created; the two gemeenten are
demo data (real gemeenten are added by their CBS code when they join, or all at once with
``ketenhub org import``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlmodel import Session

from audit.events import Action
from hub.core import db
from hub.core.errors import BadRequest, Conflict, Forbidden, HubError, NotFound, Unprocessable
from hub.core.names import clean_name
from hub.directory import organisations_repository as repository
from hub.directory.organisations import OrganisationDirectory
from hub.organisations.schemas import OrganisationIn, OrganisationPatch
from hub.tables.organisations import CODE_PATTERN, Organisation, OrganisationKind
from hub.trail.recorder import About
from hub.web.pagination import Page, decode_cursor
from hub.web.recording import Call, RecordingService

_CODE: Final = re.compile(CODE_PATTERN)  # with fullmatch, so "$" cannot pass a newline
_CBS_CODE: Final = re.compile(r"GM[0-9]{4}")
KINDS: Final = ", ".join(kind.value for kind in OrganisationKind)


@dataclass(frozen=True, slots=True)
class OrganisationSeed:
    """An organisation's code, name and kind, as given (``CHAIN``) or once validated."""

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


# -- the rules -----------------------------------------------------------------------------------


def valid_code(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


def validated(code: str, name: str, kind: str) -> OrganisationSeed:
    """The organisation these fields describe, or ``ValueError`` naming the first problem.

    Messages show what was given only through ``repr``, so that a hostile value cannot put
    control sequences on an operator's terminal."""
    if not valid_code(code):
        raise ValueError(
            f"{code!r} is not an organisation code: an upper-case letter, then 1 to 15 "
            "upper-case letters or digits"
        )
    try:
        known_kind = OrganisationKind(kind)
    except ValueError:
        raise ValueError(f"unknown kind {kind!r}; use one of {KINDS}") from None
    is_cbs_code = _CBS_CODE.fullmatch(code) is not None
    if known_kind is OrganisationKind.GEMEENTE and not is_cbs_code:
        raise ValueError(f"a gemeente's code is its CBS code, GM and four digits, not {code!r}")
    if known_kind is not OrganisationKind.GEMEENTE and is_cbs_code:
        raise ValueError(f"{code} is a gemeente's CBS code; only kind gemeente may have it")
    return OrganisationSeed(code, clean_name(name), known_kind)


def get_or_raise(session: Session, code: str) -> Organisation:
    organisation = repository.get(session, code) if valid_code(code) else None
    if organisation is None:
        raise NotFound(f"no organisation {code!r}")
    return organisation


def add(session: Session, seed: OrganisationSeed) -> Organisation:
    """Add a validated organisation, enabled; 409 if its code is taken."""
    organisation = Organisation(code=seed.code, name=seed.name, kind=seed.kind, enabled=True)
    if not repository.insert(session, organisation):
        raise Conflict(f"organisation {seed.code} exists already")
    return organisation


def rename(session: Session, organisation: Organisation, name: str) -> bool:
    """Give ``organisation`` the (clean) ``name``; whether that changed anything."""
    if organisation.name == name:
        return False
    organisation.name = name
    session.add(organisation)
    session.flush()
    return True


def set_enabled(
    session: Session, organisation: Organisation, *, enabled: bool, now: datetime
) -> bool:
    """Enable or disable ``organisation``; whether that changed anything.

    Disabling notes the time: its clients' tokens issued before it never act again, even once
    the organisation is enabled (disabling ends them; it does not suspend them)."""
    if organisation.enabled == enabled:
        return False
    organisation.enabled = enabled
    if not enabled:
        organisation.disabled_at = now
    session.add(organisation)
    session.flush()
    return True


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
    if after is not None and not (isinstance(after, str) and valid_code(after)):
        raise BadRequest("the cursor is not one this API issued")
    rows = repository.list_page(session, after=after, limit=limit + 1)
    page = Page.of(rows, limit=limit, query=_QUERY, after=lambda row: row.code)
    return page.items, page.next_cursor


# -- the API's administrator ---------------------------------------------------------------------


def about(code: str) -> About:
    """What an event on one organisation is about. Only a well-formed code is recorded:
    anything else was never an organisation, and may be anything a client sent."""
    return About("organisation", code if valid_code(code) else None)


@dataclass(frozen=True, slots=True)
class OrganisationsDeps:
    directory: OrganisationDirectory


class OrganisationService(RecordingService):
    """Adding and changing organisations for one administrator's request, each recorded.

    A refusal undoes what the request changed and keeps only its own record
    (:meth:`~hub.web.recording.RecordingService.refuse`).
    """

    def __init__(self, call: Call, deps: OrganisationsDeps) -> None:
        super().__init__(call)
        self.deps = deps

    def _refuse(self, error: HubError, action: Action, code: str, detail: str) -> HubError:
        return self.refuse(error, action, about(code), detail=detail)

    def changed(self) -> None:
        """The directory forgets what it cached, once this request's changes are committed
        (after the commit: a reload before it would cache the old state for another CUT_OFF)."""
        db.after_commit(self.session, self.deps.directory.invalidate)

    def add(self, request: OrganisationIn) -> Organisation:
        action = Action.ORGANISATION_ADD
        try:
            seed = validated(request.code, request.name, request.kind)
        except ValueError as exc:
            raise self._refuse(Unprocessable(str(exc)), action, request.code, "invalid") from None
        try:
            organisation = add(self.session, seed)
        except Conflict as exc:
            raise self._refuse(exc, action, seed.code, "exists already") from None
        self.record(action, about(seed.code), detail=f"kind {seed.kind.value}")
        self.changed()
        return organisation

    def update(self, code: str, request: OrganisationPatch) -> Organisation:
        """``enabled`` and/or ``name``; each change, or its absence, is its own record."""
        action = Action.ORGANISATION_UPDATE
        if request.enabled is None and request.name is None:
            raise self._refuse(
                Unprocessable("give enabled, name or both"), action, code, "nothing to change"
            )
        try:
            organisation = get_or_raise(self.session, code)
        except NotFound as exc:
            raise self._refuse(exc, action, code, "unknown organisation") from None
        name = None
        if request.name is not None:
            try:
                name = clean_name(request.name)
            except ValueError as exc:
                raise self._refuse(Unprocessable(str(exc)), action, code, "invalid") from None
        if request.enabled is False and code == self.caller.party.code:
            raise self._refuse(
                Forbidden(
                    "an administrator cannot disable its own organisation through the API; "
                    "an operator can, with `ketenhub org disable`"
                ),
                Action.ORGANISATION_DISABLE,
                code,
                "own organisation",
            )
        if name is not None:
            renamed = rename(self.session, organisation, name)
            self.record(action, about(code), detail="renamed" if renamed else "name unchanged")
        if request.enabled is not None:
            changed = set_enabled(self.session, organisation, enabled=request.enabled, now=self.now)
            verb = "enabled" if request.enabled else "disabled"
            self.record(
                Action.ORGANISATION_ENABLE if request.enabled else Action.ORGANISATION_DISABLE,
                about(code),
                detail=verb if changed else f"already {verb}",
            )
        self.changed()
        return organisation
