"""``/admin/users``: the people who log in, adding one (its one-time enrolment link shown once),
and per person disabling, enabling, unlocking, resetting the second factor or the password, and
changing roles.

Every action is the accounts service's (:class:`hub.pages.admin.people.PeopleAdmin`, the same
calls as ``ketenhub user``), recorded with the administrator as the actor. A one-time link is in
the body of the answer to the POST that made it, and nowhere else: the hub keeps only its hash,
no address or log line holds it, and the page is never cached (``Cache-Control: no-store``).
Nobody administers their own account here: changing one's own roles, disabling or resetting
oneself is refused with 403 and recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from auth.people import Role
from hub.accounts.service import USERNAME, OwnAccount
from hub.core.errors import HubError
from hub.core.purposes import PROCESSING_ACTIVITIES
from hub.directory import organisations_repository
from hub.pages.admin.people import (
    FactorResetter,
    Link,
    PasswordResetter,
    PeopleAdder,
    PeopleAdmin,
    PeopleDisabler,
    PeopleEnabler,
    PeopleReader,
    PeopleUnlocker,
    RoleChanger,
)
from hub.pages.dependencies import check_form
from hub.pages.display import display, page_context
from hub.pages.refusals import Gettext
from hub.tables.organisations import CODE_PATTERN
from hub.ui.person import CurrentPerson
from hub.ui.rendering import N_, render, translator

router = APIRouter(include_in_schema=False)

PAGE: Final = "/admin/users"
Username = Annotated[str, Path(pattern=USERNAME.pattern)]

STATE_NAMES: Final = {
    "active": N_("active"),
    "disabled": N_("disabled"),
    "locked": N_("locked"),
    "awaiting activation": N_("waiting for enrolment"),
    "awaiting factor": N_("waiting for the second factor"),
}
ROLE_NAMES: Final = {
    Role.CASEWORKER: N_("caseworker"),
    Role.AUDITOR: N_("auditor"),
    Role.ADMIN: N_("administrator"),
}
DONE: Final = {
    "disable": N_("The person is disabled: they cannot log in, and their sessions end."),
    "enable": N_("The person is enabled: they can log in again."),
    "unlock": N_("The person is unlocked: their failed logins are forgotten."),
    "reset-factor": N_(
        "The second factor is removed and the recovery codes are void; the person's sessions "
        "end, and they enrol a new factor at their next login."
    ),
    "roles": N_(
        "The roles are changed; the person's sessions end, and their next login "
        "carries the new roles."
    ),
}
_DEFAULT_PURPOSE: Final = "verantwoording"


def refusal(exc: HubError, _: Gettext) -> str:
    """What the people pages say for the accounts service's refusal ``exc``."""
    message = exc.message
    if isinstance(exc, OwnAccount):
        return _("You cannot change your own account; ask another administrator.")
    said = (
        ("no organisation", _("Choose the organisation from the list.")),
        ("is disabled; enable it first", _("The organisation is disabled; enable it first.")),
        ("a username is", _("A username is 3 to 64 characters of a-z, 0-9, '.', '_' and '-'.")),
        ("name at least one role", _("Choose at least one role.")),
        (
            "a caseworker cannot also be",
            _("A caseworker cannot also be an auditor or administrator (separation of duties)."),
        ),
        ("unknown processing activity", _("Choose the processing activity from the list.")),
        ("unknown role", _("Choose the roles from the list.")),
        ("exists already", _("This username is taken.")),
    )
    known = next((text for start, text in said if start in message), None)
    return known or _("This could not be done. Check what you entered and try again.")


def _ticked(form: FormData) -> list[str]:
    return [v for v in form.getlist("roles") if isinstance(v, str)]


def _role_options(request: Request) -> list[tuple[str, str]]:
    _ = translator(request)
    return [(role.value, _(ROLE_NAMES[role])) for role in Role]


@router.get(PAGE, response_class=HTMLResponse)
def users(
    request: Request,
    people: PeopleReader,
    organisation: Annotated[str | None, Query(max_length=16, pattern=CODE_PATTERN)] = None,
) -> HTMLResponse:
    summaries = people.summaries(organisation)
    _ = translator(request)
    codes = [o.code for o in organisations_repository.list_all(people.session)]
    return render(
        request,
        "pages/admin/users.html",
        page_context(
            request,
            summaries=summaries,
            organisation=organisation or "",
            organisation_options=[("", _("All organisations"))] + [(c, c) for c in codes],
            state_names=STATE_NAMES,
            role_names=ROLE_NAMES,
        ),
    )


def _new_form(
    request: Request,
    people: PeopleAdmin,
    *,
    values: dict[str, object],
    errors: list[str],
    status_code: int = 200,
) -> HTMLResponse:
    shown = display(request)
    organisations = organisations_repository.list_all(people.session)
    _ = translator(request)
    return render(
        request,
        "pages/admin/user_new.html",
        page_context(
            request,
            values=values,
            errors=errors,
            organisation_options=[("", _("Choose an organisation"))]
            + [(o.code, f"{o.name} ({o.code})") for o in organisations if o.enabled],
            role_options=_role_options(request),
            purpose_options=[
                (code, shown.purpose(code, text)) for code, text in PROCESSING_ACTIVITIES.items()
            ],
        ),
        status_code=status_code,
    )


@router.get(PAGE + "/new", response_class=HTMLResponse)
def new_user(request: Request, people: PeopleAdder) -> HTMLResponse:
    values: dict[str, object] = {"processing_activity": _DEFAULT_PURPOSE, "roles": []}
    return _new_form(request, people, values=values, errors=[])


@router.post(PAGE + "/new", response_class=HTMLResponse)
async def add_user(request: Request, people: PeopleAdder, person: CurrentPerson) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    text = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    username = text.get("username", "").strip().lower()
    organisation, purpose = text.get("organisation", ""), text.get("processing_activity", "")
    roles = _ticked(form)
    values: dict[str, object] = {
        "username": username,
        "organisation": organisation,
        "processing_activity": purpose,
        "roles": roles,
    }
    _ = translator(request)
    try:
        new, link = people.add(
            username=username,
            organisation=organisation,
            roles=roles,
            processing_activity=purpose,
        )
    except HubError as exc:  # recorded
        return _new_form(
            request, people, values=values, errors=[refusal(exc, _)], status_code=exc.status_code
        )
    return render(
        request,
        "pages/admin/user_link.html",
        page_context(request, link=link, created=True, person=new.person, role_names=ROLE_NAMES),
        status_code=201,
    )


def _user_page(
    request: Request,
    people: PeopleAdmin,
    username: str,
    *,
    errors: list[str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    summary = people.summary(username)
    roles = [r.value for r in summary.person.roles]
    return render(
        request,
        "pages/admin/user.html",
        page_context(
            request,
            summary=summary,
            roles=roles,
            role_options=_role_options(request),
            state_names=STATE_NAMES,
            role_names=ROLE_NAMES,
            errors=errors or [],
            done=DONE.get(done or ""),
            own=summary.person.username == people.caller.principal.username,
        ),
        status_code=status_code,
    )


@router.get(PAGE + "/{username}", response_class=HTMLResponse)
def user(
    request: Request,
    people: PeopleReader,
    username: Username,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return _user_page(request, people, username, done=done)


async def _act(
    request: Request,
    people: PeopleAdmin,
    person: CurrentPerson,
    username: str,
    *,
    done: str,
    act: Callable[[FormData], object],
) -> Response:
    """Check the form, run ``act`` (a call of ``people``), and show the person's page: with
    what was done (303 to it), or the refusal and its status."""
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    try:
        act(form)
    except HubError as exc:  # recorded, by the accounts service or PeopleAdmin
        if exc.status_code == 404:
            raise
        _ = translator(request)
        return _user_page(
            request, people, username, errors=[refusal(exc, _)], status_code=exc.status_code
        )
    return RedirectResponse(f"{PAGE}/{username}?done={done}", status_code=303)


@router.post(PAGE + "/{username}/disable", response_class=HTMLResponse)
async def disable(
    request: Request, people: PeopleDisabler, person: CurrentPerson, username: Username
) -> Response:
    return await _act(
        request, people, person, username, done="disable", act=lambda _: people.disable(username)
    )


@router.post(PAGE + "/{username}/enable", response_class=HTMLResponse)
async def enable(
    request: Request, people: PeopleEnabler, person: CurrentPerson, username: Username
) -> Response:
    return await _act(
        request, people, person, username, done="enable", act=lambda _: people.enable(username)
    )


@router.post(PAGE + "/{username}/unlock", response_class=HTMLResponse)
async def unlock(
    request: Request, people: PeopleUnlocker, person: CurrentPerson, username: Username
) -> Response:
    return await _act(
        request, people, person, username, done="unlock", act=lambda _: people.unlock(username)
    )


@router.post(PAGE + "/{username}/reset-factor", response_class=HTMLResponse)
async def reset_factor(
    request: Request, people: FactorResetter, person: CurrentPerson, username: Username
) -> Response:
    return await _act(
        request,
        people,
        person,
        username,
        done="reset-factor",
        act=lambda _: people.reset_factor(username),
    )


@router.post(PAGE + "/{username}/roles", response_class=HTMLResponse)
async def change_roles(
    request: Request, people: RoleChanger, person: CurrentPerson, username: Username
) -> Response:
    return await _act(
        request,
        people,
        person,
        username,
        done="roles",
        act=lambda form: people.change_roles(username, _ticked(form)),
    )


@router.post(PAGE + "/{username}/reset-password", response_class=HTMLResponse)
async def reset_password(
    request: Request, people: PasswordResetter, person: CurrentPerson, username: Username
) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    try:
        link: Link = people.reset_password(username)
    except HubError as exc:  # recorded
        if exc.status_code == 404:
            raise
        _ = translator(request)
        return _user_page(
            request, people, username, errors=[refusal(exc, _)], status_code=exc.status_code
        )
    return render(
        request,
        "pages/admin/user_link.html",
        page_context(request, link=link, created=False, person=None, role_names=ROLE_NAMES),
    )
