"""The backend-for-frontend: ``GET /login``, ``GET /login/callback``, ``POST /logout``.

The web UI is the OAuth client ``ketenhub-web`` of the hub's own authorization server; its
tokens stay on the server, in the browser's web session (sealed), and the browser holds only the
session cookie (decision 0023).

- ``GET /login[?next=/path]`` starts an authorization request: a fresh ``state`` and PKCE
  verifier (S256) are kept in the session with the local path to return to
  (:func:`hub.login.targets.login_target`), and the browser goes to ``/oauth/authorize``. It
  always starts afresh, logged in or not: a session whose tokens no longer act must not send the
  person round between ``/login`` and the page that sent them.
- ``GET /login/callback`` takes the pending login out of the session first (so a callback is
  answered once), compares ``state`` in constant time, checks ``iss`` (RFC 9207), exchanges the
  code in-process with the verifier, ends the session's earlier login if any, gives the session
  a new id (no fixation: the id known before login opens nothing after it), stores the tokens
  and sends the person to ``next``. Anything that does not match is a page, and no code is
  exchanged.
- ``POST /logout`` (CSRF-checked) ends the login's refresh-token family and live access token,
  ends the session server-side, records ``user.logout`` and clears the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from audit.events import Action, ActorType
from auth.people import WEB_CLIENT_ID
from auth.tokens import InvalidToken
from hub.login.authorize import AUTHORIZE_PATH
from hub.login.problems import problem_page
from hub.login.progress import PENDING_KEY, PendingLogin, utcnow
from hub.login.targets import login_target
from hub.runtime import Services
from hub.tokens.service import GrantRefused
from hub.trail.context import Actor, ContextDep
from hub.trail.recorder import About, Recorder
from hub.ui.csrf import check_origin, check_token
from hub.ui.rendering import render, translator
from hub.ui.sessions import WebSession, clear_cookie, cookie_value, load_or_start, set_cookie
from hub.web.deps import ServicesDep, SessionDep

CALLBACK_PATH: Final = "/login/callback"
LOGGED_OUT_PATH: Final = "/logged-out"
_STATE_BYTES: Final = 32
_VERIFIER_BYTES: Final = 48  # 64 characters: RFC 7636 asks for 43 to 128

router = APIRouter(include_in_schema=False)

QueryText = Annotated[str | None, Query()]


def callback_uri(services: Services) -> str:
    """The web client's one registered redirect URI: ``<issuer>/login/callback``."""
    return services.settings.issuer.rstrip("/") + CALLBACK_PATH


def challenge_of(verifier: str) -> str:
    """RFC 7636 §4.2 S256: ``BASE64URL(SHA256(ASCII(code_verifier)))``, without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@router.get("/login")
def login(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    now = utcnow()
    web, new_cookie = load_or_start(request, session, services, now=now)
    pending = PendingLogin(
        state=secrets.token_urlsafe(_STATE_BYTES),
        verifier=secrets.token_urlsafe(_VERIFIER_BYTES),
        next_path=login_target(next_path),
        started_at=now,
    )
    web.progress[PENDING_KEY] = pending.encode()
    services.web_sessions.save(session, web, now=now)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": WEB_CLIENT_ID,
            "redirect_uri": callback_uri(services),
            "state": pending.state,
            "code_challenge": challenge_of(pending.verifier),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{AUTHORIZE_PATH}?{query}", status_code=303)
    if new_cookie is not None:
        set_cookie(response, new_cookie)
    return response


@router.get(CALLBACK_PATH)
def callback(  # the callback's four parameters (RFC 6749 §4.1.2, RFC 9207)
    request: Request,
    *,
    services: ServicesDep,
    session: SessionDep,
    context: ContextDep,
    code: QueryText = None,
    state: QueryText = None,
    iss: QueryText = None,
    error: QueryText = None,
) -> Response:
    now = utcnow()
    sessions = services.web_sessions
    web = sessions.load(session, cookie_value(request), now=now)
    if web is None:
        return _problem(request, None, "mismatch")
    pending = PendingLogin.decode(web.progress.pop(PENDING_KEY, None), now=now)
    sessions.save(session, web, now=now)  # answered once, whatever follows
    if (
        pending is None
        or state is None
        or not hmac.compare_digest(state.encode("utf-8"), pending.state.encode("ascii"))
        or iss != services.oauth.config.issuer  # RFC 9207: the hub always sends it
    ):
        return _problem(request, web, "mismatch")
    if error is not None or code is None:
        return _problem(request, web, "denied" if error == "access_denied" else "failed")
    try:
        tokens = services.oauth.exchange_code(
            session,
            code=code,
            redirect_uri=callback_uri(services),
            code_verifier=pending.verifier,
            audit=services.audit,
            context=context,
        )
    except GrantRefused:
        return _problem(request, web, "failed")
    try:
        principal = services.oauth.validator.validate(tokens.access_token)
    except InvalidToken:  # the person was disabled in the moment since the code was issued
        return _problem(request, web, "failed")
    if web.refresh_token is not None:  # a second login in this browser ends the first
        services.oauth.end_login(session, refresh_token=web.refresh_token)
    web, new_cookie = sessions.rotate(session, web, now=now)
    web.user_id = principal.user_id
    web.access_token, web.refresh_token = tokens.access_token, tokens.refresh_token
    sessions.save(session, web, now=now)
    response = RedirectResponse(pending.next_path, status_code=303)
    set_cookie(response, new_cookie)
    return response


@router.post("/logout")
def logout(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    context: ContextDep,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    now = utcnow()
    # The origin first: a form on another site arrives without the cookie (SameSite=Lax), and
    # must not even clear it.
    check_origin(request, issuer=services.settings.issuer)
    web = services.web_sessions.load(session, cookie_value(request), now=now)
    response = RedirectResponse(LOGGED_OUT_PATH, status_code=303)
    if web is None:  # nothing left to end
        clear_cookie(response)
        return response
    check_token(web, csrf_token)
    if web.refresh_token is not None:
        services.oauth.end_login(session, refresh_token=web.refresh_token)
    if web.user_id is not None:
        Recorder(services.audit, context, _person_actor(services, session, web)).record(
            session, Action.USER_LOGOUT, About("user", web.user_id)
        )
    services.web_sessions.end(session, web)
    clear_cookie(response)
    return response


def _person_actor(services: Services, session: Session, web: WebSession) -> Actor:
    """Who logs out: the person their token names (even one expired or disabled since: it is
    the hub's own token, kept on the server), else the account's person."""
    if web.access_token is not None:
        try:
            principal = services.oauth.validator.validate(
                web.access_token, check_revocation=False, check_standing=False
            )
        except InvalidToken:
            pass
        else:
            return Actor.of(principal)
    person = services.accounts.person(session, web.user_id) if web.user_id else None
    if person is None:
        return Actor(ActorType.USER, "unknown", client=WEB_CLIENT_ID)
    return Actor(
        ActorType.USER,
        person.username,
        person.organisation,
        services.audit.purpose_uri(person.processing_activity),
        client=WEB_CLIENT_ID,
    )


@router.get(LOGGED_OUT_PATH)
def logged_out(request: Request) -> HTMLResponse:
    return render(request, "login/logged_out.html", {})


def _problem(request: Request, web: WebSession | None, kind: str) -> HTMLResponse:
    gettext = translator(request)
    title, explanation = {
        "mismatch": (
            gettext("This login was not started here"),
            gettext(
                "The answer of the login does not belong to a login this browser started, or "
                "it was used already. Start again."
            ),
        ),
        "denied": (
            gettext("No access"),
            gettext("Your account has no access to these pages. Ask your administrator."),
        ),
        "failed": (
            gettext("Logging in did not work"),
            gettext("The login could not be completed. Start again."),
        ),
    }[kind]
    status = 403 if kind == "denied" else 400
    return problem_page(request, web, title=title, explanation=explanation, status_code=status)
