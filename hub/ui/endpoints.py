"""The web UI's own routes: the language switch (``POST /language``).

The switch is a form in every page's header; it sets the language cookie
(:data:`hub.ui.i18n.LANGUAGE_COOKIE`) and sends the browser back to the page it came from
(``next``: a local path only, never another site). It is an unsafe method on a page route,
so the CSRF checks apply (:mod:`hub.ui.csrf`): the browser's ``Origin``/``Sec-Fetch-Site``
always, and the session's token when there is a session. Before any session exists (the login
page of a first visit) there is no token to check; the browser's headers alone then stand
between another site and a changed language, which is all such a request could change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from hub.ui.csrf import FIELD, check_origin, check_token
from hub.ui.i18n import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE, parse_language
from hub.ui.navigation import local_path
from hub.ui.sessions import cookie_value
from hub.web.deps import ServicesDep, SessionDep

router = APIRouter(include_in_schema=False)


@router.post("/language")
def switch_language(
    request: Request,
    *,
    services: ServicesDep,
    lang: Annotated[str, Form()],
    session: SessionDep,
    next_path: Annotated[str, Form(alias="next")] = "/",
    csrf_token: Annotated[str | None, Form(alias=FIELD)] = None,
) -> RedirectResponse:
    check_origin(request, issuer=services.settings.issuer)
    web = services.web_sessions.load(session, cookie_value(request), now=datetime.now(UTC))
    if web is not None:
        check_token(web, csrf_token)
    response = RedirectResponse(local_path(next_path), status_code=303)
    language = parse_language(lang)
    if language is not None:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language.value,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            path="/",
            secure=True,
            httponly=True,
            samesite="lax",
        )
    return response
