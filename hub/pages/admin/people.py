"""The administration's services for one request: organisations (the API's
:class:`~hub.organisations.service.OrganisationService`) and people (:class:`PeopleAdmin`, the
accounts service that ``ketenhub user`` calls, with the administrator as the actor).

Each is built by :class:`hub.ui.person.PageServing` for a person with the scope ``admin``; a
person without it gets the 403 page, recorded as the route's action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from sqlmodel import Session

from audit.events import Action
from auth.people import Person, Role
from auth.scopes import Scope
from hub.accounts import repository as accounts_repository
from hub.accounts.service import (
    ACTIVATE,
    RESET,
    Accounts,
    NewUser,
    OwnAccount,
    UserSummary,
    one_time_link,
)
from hub.core.errors import HubError, Unprocessable
from hub.directory import clients_repository, organisations_repository
from hub.organisations.service import OrganisationsDeps, OrganisationService
from hub.runtime import Services
from hub.shares import repository as shares_repository
from hub.trail.context import Context
from hub.trail.recorder import About
from hub.ui.person import PageServing
from hub.web.recording import Call, RecordingService

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Counts:
    """What the administration's start page counts."""

    organisations: int
    people: int
    clients: int
    active_shares: int


def counts(session: Session, *, now: datetime) -> Counts:
    return Counts(
        organisations=len(organisations_repository.list_all(session)),
        people=sum(accounts_repository.count_by_organisation(session).values()),
        clients=sum(clients_repository.count_by_organisation(session).values()),
        active_shares=shares_repository.count_active(session, now=now),
    )


@dataclass(frozen=True, slots=True)
class Link:
    """A one-time link, shown once: to whom, and the address."""

    username: str
    address: str


class PeopleAdmin(RecordingService):
    """The accounts' administration for one administrator's request.

    The accounts service records every change with the context's actor, here the administrator
    (through the web client); a refusal it does not record itself (an unknown user, roles that
    clash, a taken username) is recorded here as the request's refusal. A change of one's own
    account (:class:`~hub.accounts.service.OwnAccount`) the accounts refuse and record."""

    def __init__(self, call: Call, accounts: Accounts, issuer: str) -> None:
        super().__init__(call)
        self.accounts = accounts
        self.issuer = issuer
        self.context: Context = replace(call.caller.context, actor=call.recorder.actor)

    def _refused(self, action: Action, work: Callable[[], T]) -> T:
        try:
            return work()
        except OwnAccount:
            raise  # recorded by the accounts service
        except HubError as exc:
            raise self.refuse(exc, action, About("user", None), detail=exc.message[:200]) from None

    @staticmethod
    def _roles(values: Iterable[str]) -> list[Role]:
        try:
            return [Role(value) for value in values]
        except ValueError:
            raise Unprocessable("unknown role; use " + ", ".join(Role)) from None

    def summaries(self, organisation: str | None) -> list[UserSummary]:
        return self.accounts.list_users(self.session, organisation=organisation)

    def summary(self, username: str) -> UserSummary:
        account = self.accounts.account(self.session, username)
        (found,) = [
            s
            for s in self.accounts.list_users(self.session, organisation=account.organisation)
            if s.person.user_id == account.user_id
        ]
        return found

    def add(
        self, *, username: str, organisation: str, roles: Iterable[str], processing_activity: str
    ) -> tuple[NewUser, Link]:
        new = self._refused(
            Action.USER_ADD,
            lambda: self.accounts.add_user(
                self.session,
                organisation=organisation,
                username=username,
                roles=self._roles(roles),
                processing_activity=processing_activity,
                context=self.context,
            ),
        )
        return new, Link(new.person.username, one_time_link(self.issuer, ACTIVATE, new.link_token))

    def disable(self, username: str) -> Person:
        return self._refused(
            Action.USER_DISABLE,
            lambda: self.accounts.disable_user(
                self.session, username=username, context=self.context
            ),
        )

    def enable(self, username: str) -> Person:
        return self._refused(
            Action.USER_ENABLE,
            lambda: self.accounts.enable_user(
                self.session, username=username, context=self.context
            ),
        )

    def unlock(self, username: str) -> Person:
        return self._refused(
            Action.USER_UNLOCK,
            lambda: self.accounts.unlock(self.session, username=username, context=self.context),
        )

    def reset_factor(self, username: str) -> Person:
        return self._refused(
            Action.USER_FACTOR_RESET,
            lambda: self.accounts.reset_factor(
                self.session, username=username, context=self.context
            ),
        )

    def reset_password(self, username: str) -> Link:
        token = self._refused(
            Action.USER_PASSWORD_RESET,
            lambda: self.accounts.reset_password(
                self.session, username=username, context=self.context
            ),
        )
        name = username.strip().lower()
        return Link(name, one_time_link(self.issuer, RESET, token))

    def change_roles(self, username: str, roles: Iterable[str]) -> Person:
        return self._refused(
            Action.USER_ROLE_CHANGE,
            lambda: self.accounts.change_roles(
                self.session, username=username, roles=self._roles(roles), context=self.context
            ),
        )


def _organisations(call: Call, services: Services) -> OrganisationService:
    return OrganisationService(call, OrganisationsDeps(directory=services.organisations))


def _people(call: Call, services: Services) -> PeopleAdmin:
    return PeopleAdmin(call, services.accounts, services.settings.issuer)


def _admin(build: Callable[[Call, Services], object], action: Action, resource_type: str) -> Any:
    """The dependency of an administration page; a refusal is recorded as ``action``."""
    return Depends(
        PageServing(build, scope=Scope.ADMIN, action=action, resource_type=resource_type)
    )


_ORG, _USER = "organisation", "user"

# Reading a page of the administration is no action of its own; a person without the scope is
# refused as for the change the page exists for.
OrganisationAdmin = Annotated[
    OrganisationService, _admin(_organisations, Action.ORGANISATION_UPDATE, _ORG)
]
OrganisationAdder = Annotated[
    OrganisationService, _admin(_organisations, Action.ORGANISATION_ADD, _ORG)
]
OrganisationDisabler = Annotated[
    OrganisationService, _admin(_organisations, Action.ORGANISATION_DISABLE, _ORG)
]
OrganisationEnabler = Annotated[
    OrganisationService, _admin(_organisations, Action.ORGANISATION_ENABLE, _ORG)
]
PeopleReader = Annotated[PeopleAdmin, _admin(_people, Action.USER_ADD, _USER)]
PeopleAdder = Annotated[PeopleAdmin, _admin(_people, Action.USER_ADD, _USER)]
PeopleDisabler = Annotated[PeopleAdmin, _admin(_people, Action.USER_DISABLE, _USER)]
PeopleEnabler = Annotated[PeopleAdmin, _admin(_people, Action.USER_ENABLE, _USER)]
PeopleUnlocker = Annotated[PeopleAdmin, _admin(_people, Action.USER_UNLOCK, _USER)]
FactorResetter = Annotated[PeopleAdmin, _admin(_people, Action.USER_FACTOR_RESET, _USER)]
PasswordResetter = Annotated[PeopleAdmin, _admin(_people, Action.USER_PASSWORD_RESET, _USER)]
RoleChanger = Annotated[PeopleAdmin, _admin(_people, Action.USER_ROLE_CHANGE, _USER)]
