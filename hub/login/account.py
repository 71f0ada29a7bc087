"""The account care pages: ``/account/activate/{token}`` and ``/account/reset/{token}``.

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

from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from hub.accounts.service import LinkInvalid, PasswordRejected
from hub.login.progress import utcnow
from hub.trail.context import ContextDep
from hub.ui.csrf import check_origin, check_token
from hub.ui.rendering import render, show_csrf_token, translator
from hub.ui.sessions import WebSession, cookie_value, load_or_start, set_cookie
from hub.web.deps import ServicesDep, SessionDep

_LINKS: Final = ("activate", "reset")
_MAX_TOKEN: Final = 128

router = APIRouter(include_in_schema=False)


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
    return render(
        request,
        "login/problem.html",
        {
            "title": gettext("This link does not work"),
            "explanation": gettext(
                "The link is not known, was used already or has expired. Ask your administrator "
                "for a new one."
            ),
            "restart": False,
        },
        status_code=404,
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
                session, token=token, new_password=new_password or "", context=context
            )
        except LinkInvalid:
            return _link_invalid(request)
        except PasswordRejected:
            gettext = translator(request)
            rule = gettext(
                "Choose a password of at least 12 and at most 256 characters that is not your "
                "username."
            )
            return _form(request, web, purpose, errors=(rule,), status_code=422)
        return _form(request, web, purpose, done=True)


for _purpose in _LINKS:
    _link_route(_purpose)
