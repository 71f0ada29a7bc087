"""The account care pages: ``/account``, ``/account/activate/{token}``, ``/account/reset/{token}``.

``/account`` is a logged-in person's own page: they change their password with the old one and
a current code (TOTP or a recovery code), each wrong one counting as a failed login
(:meth:`hub.accounts.service.Accounts.change_password`); CSRF and the person are checked by
:data:`hub.ui.person.CurrentPerson`. A refusal is one message for a wrong password or code
(400, or 429 with ``Retry-After`` when the accounts service says to wait).

An administrator's ``ketenhub user add`` or ``user reset-password`` prints a one-time link;
opening it shows a form to choose a password, which posts back to the link (CSRF-checked, in a
session of the login flow's kind). The link only sets the password: the second factor is
enrolled, or entered, at the next login, through the authorization server's steps. The token is
a credential until it is used, so these routes are logged and traced by their template
(:mod:`hub.observability.secret_paths`), and the pages send no referrer (the pages' headers).

A link that is unknown, used or expired answers one page (404); a password that breaks the rules
answers the form again (422) and leaves the link usable. The password is never written back.
"""

from __future__ import annotations

import math
from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from hub.accounts.service import LinkInvalid, LoginRefused, PasswordRejected
from hub.login.problems import problem_page
from hub.login.progress import utcnow
from hub.trail.context import ContextDep
from hub.ui.csrf import check_origin, check_token
from hub.ui.person import CurrentPerson
from hub.ui.rendering import render, show_csrf_token, translator
from hub.ui.sessions import WebSession, cookie_value, load_or_start, set_cookie
from hub.web.deps import ServicesDep, SessionDep

_LINKS: Final = ("activate", "reset")
_MAX_TOKEN: Final = 128

router = APIRouter(include_in_schema=False)


def _rule(request: Request) -> str:
    gettext = translator(request)
    return gettext(
        "Choose a password of at least 12 and at most 256 characters that is not your username."
    )


@router.get("/account")
def account(request: Request, _person: CurrentPerson) -> HTMLResponse:
    return render(
        request, "account/change_password.html", {"errors": (), "retry_after": None, "done": False}
    )


@router.post("/account")
def change_password(  # the person and the form's three fields
    request: Request,
    person: CurrentPerson,
    *,
    services: ServicesDep,
    session: SessionDep,
    context: ContextDep,
    old_password: Annotated[str | None, Form()] = None,
    new_password: Annotated[str | None, Form()] = None,
    code: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    # A page's person always has a user id; without one (never), no account matches "".
    user_id = person.principal.user_id or ""
    errors: tuple[str, ...] = ()
    retry_after: int | None = None
    status = 200
    try:
        services.accounts.change_password(
            session,
            user_id=user_id,
            old_password=old_password or "",
            new_password=new_password or "",
            code=code or "",
            context=context,
        )
    except LoginRefused as refused:
        gettext = translator(request)
        errors = (gettext("The current password or the code is not right."),)
        retry_after = math.ceil(refused.retry_after) if refused.retry_after else None
        status = 429 if retry_after else 400
    except PasswordRejected:
        errors, status = (_rule(request),), 422
    response = render(
        request,
        "account/change_password.html",
        {"errors": errors, "retry_after": retry_after, "done": not errors},
        status_code=status,
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _title(request: Request, purpose: str) -> str:
    gettext = translator(request)
    return gettext("Activate your account") if purpose == "activate" else gettext("New password")


def _form(
    request: Request,
    web: WebSession,
    purpose: str,
    *,
    errors: tuple[str, ...] = (),
    done: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    show_csrf_token(request, web.csrf_token)
    return render(
        request,
        "account/set_password.html",
        {
            "title": _title(request, purpose),
            "action": request.url.path,
            "errors": errors,
            "done": done,
        },
        status_code=status_code,
    )


def _link_invalid(request: Request) -> HTMLResponse:
    gettext = translator(request)
    return problem_page(
        request,
        None,
        title=gettext("This link does not work"),
        explanation=gettext(
            "The link is not known, was used already or has expired. Ask your administrator "
            "for a new one."
        ),
        status_code=404,
        restart=False,
    )


def _link_route(purpose: str) -> None:
    path = f"/account/{purpose}/{{token}}"

    @router.get(path, name=f"account_{purpose}")
    def show(request: Request, token: str, services: ServicesDep, session: SessionDep) -> Response:
        if len(token) > _MAX_TOKEN:
            return _link_invalid(request)
        web, new_cookie = load_or_start(request, session, services, now=utcnow())
        response = _form(request, web, purpose)
        if new_cookie is not None:
            set_cookie(response, new_cookie)
        return response

    @router.post(path, name=f"account_{purpose}_set")
    def set_password(  # the link's token and the form's two fields
        request: Request,
        token: str,
        *,
        services: ServicesDep,
        session: SessionDep,
        context: ContextDep,
        csrf_token: Annotated[str | None, Form()] = None,
        new_password: Annotated[str | None, Form()] = None,
    ) -> Response:
        now = utcnow()
        web = services.web_sessions.load(session, cookie_value(request), now=now)
        if web is None:  # the form's session ended: show the form again, in a new one
            return show(request, token, services, session)
        check_origin(request, issuer=services.settings.issuer)
        check_token(web, csrf_token)
        if len(token) > _MAX_TOKEN:
            return _link_invalid(request)
        try:
            services.accounts.redeem_action_token(
                session,
                token=token,
                new_password=new_password or "",
                context=context,
                purpose=purpose,
            )
        except LinkInvalid:
            return _link_invalid(request)
        except PasswordRejected:
            return _form(request, web, purpose, errors=(_rule(request),), status_code=422)
        return _form(request, web, purpose, done=True)


for _purpose in _LINKS:
    _link_route(_purpose)
