"""``GET|POST /oauth/authorize``: the authorization server's login pages.

``GET`` with an authorization request (RFC 6749 §4.1.1, with PKCE S256 and ``state``) validates
it, keeps it in the browser's web session as a new login at the password step, and redirects to
the bare ``/oauth/authorize``, which shows the current step: the request's parameters do not stay
in the address bar or the history. A request the hub cannot trust (unknown client, redirect URI
not registered, a parameter given twice) is shown as a page and never redirected; any other
error is redirected to the client with ``error`` and ``state`` (RFC 6749 §4.1.2.1).

``POST`` takes the form of the current step (:mod:`hub.login.progress`): the CSRF token and the
browser's ``Origin``/``Sec-Fetch-Site`` are checked first (:mod:`hub.ui.csrf`), then the hidden
``step`` must be the current one (else the form is stale and the current step is shown again).
Every refusal of a password or code is one page, whatever the cause (unknown user, wrong
password or code, disabled, locked): status 400, or 429 with ``Retry-After`` and "try again in
N seconds" when the accounts service says to wait. What was typed as a password or code is never
written back into a page. The enrolment's recovery codes are in the answer to the code that
confirmed the factor, and nowhere else.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from hub.accounts.service import LoginRefused
from hub.core.errors import Conflict, NotFound
from hub.login.problems import problem_page
from hub.login.progress import AUTHORIZATION_KEY, Authorization, Step, StepMismatch, utcnow
from hub.login.steps import AuthorizeError, LoginSteps, ShownKey
from hub.runtime import Services
from hub.trail.context import Context, ContextDep
from hub.ui.csrf import check_origin, check_token
from hub.ui.rendering import render, show_csrf_token, translator
from hub.ui.sessions import WebSession, cookie_value, load_or_start, set_cookie
from hub.web.deps import ServicesDep, SessionDep

AUTHORIZE_PATH: Final = "/oauth/authorize"
_MAX_QUERY_FIELDS: Final = 16
_RECOVERY: Final = (("factor", "recovery"),)
"""The one query the bare endpoint takes: the factor page's recovery-code variant."""

router = APIRouter(include_in_schema=False)

FormText = Annotated[str | None, Form()]


def _query(request: Request) -> list[tuple[str, str]] | None:
    """The query's parameters, parsed strictly; ``None`` when malformed or a name repeats
    (RFC 6749 §3.1: a parameter MUST NOT be included more than once)."""
    raw = request.url.query
    try:
        pairs = parse_qsl(
            raw, keep_blank_values=True, strict_parsing=bool(raw), max_num_fields=_MAX_QUERY_FIELDS
        )
    except ValueError:
        return None
    names = [name for name, _ in pairs]
    return pairs if len(names) == len(set(names)) else None


@router.get(AUTHORIZE_PATH)
def authorize(
    request: Request, services: ServicesDep, session: SessionDep, context: ContextDep
) -> Response:
    now = utcnow()
    web, new_cookie = load_or_start(request, session, services, now=now)
    flow = _Flow(request, services, session, context, web, now)
    query = _query(request)
    response: Response
    if query is None:
        response = _problem(request, web, "request")
    elif query and tuple(query) != _RECOVERY:
        response = flow.begin(query)
    else:
        progress = Authorization.decode(web.progress.get(AUTHORIZATION_KEY), now=now)
        if progress is None:
            response = _problem(request, web, "expired")
        else:
            response = flow.show(progress, recovery=bool(query))
    if new_cookie is not None:
        set_cookie(response, new_cookie)
    return response


@router.post(AUTHORIZE_PATH)
def authorize_step(
    request: Request,
    *,
    services: ServicesDep,
    session: SessionDep,
    context: ContextDep,
    csrf_token: FormText = None,
    step: FormText = None,
    username: FormText = None,
    password: FormText = None,
    code: FormText = None,
) -> Response:
    now = utcnow()
    web = services.web_sessions.load(session, cookie_value(request), now=now)
    if web is None:
        # Nothing to protect and nothing to change: the session (and its login) ended.
        return _problem(request, None, "expired")
    check_origin(request, issuer=services.settings.issuer)
    check_token(web, csrf_token)
    progress = Authorization.decode(web.progress.get(AUTHORIZATION_KEY), now=now)
    if progress is None:
        return _problem(request, web, "expired")
    try:
        progress.expect(step)
    except StepMismatch:
        return RedirectResponse(AUTHORIZE_PATH, status_code=303)
    flow = _Flow(request, services, session, context, web, now)
    return flow.take(progress, username=username or "", password=password or "", code=code or "")


class _Flow:
    """One request's view of the login: its services, its session and the browser's."""

    def __init__(  # noqa: PLR0917  # the request and what it brings, once
        self,
        request: Request,
        services: Services,
        session: Session,
        context: Context,
        web: WebSession,
        now: datetime,
    ) -> None:
        self.request = request
        self.services = services
        self.session = session
        self.web = web
        self.now = now
        self.steps = LoginSteps(
            session, accounts=services.accounts, oauth=services.oauth, context=context, now=now
        )

    def keep(self, progress: Authorization | None) -> None:
        """Store ``progress`` in the session (``None``: this login is over)."""
        if progress is None:
            self.web.progress.pop(AUTHORIZATION_KEY, None)
        else:
            self.web.progress[AUTHORIZATION_KEY] = progress.encode()
        self.services.web_sessions.save(self.session, self.web, now=self.now)

    def begin(self, query: Sequence[tuple[str, str]]) -> Response:
        try:
            progress = self.steps.begin(query, dict(self.request.headers))
        except AuthorizeError as error:
            return self.refused_authorization(error)
        self.keep(progress)
        return RedirectResponse(AUTHORIZE_PATH, status_code=303)

    def take(self, progress: Authorization, *, username: str, password: str, code: str) -> Response:
        """Do what the current step's form asks."""
        try:
            if progress.step is Step.PASSWORD:
                self.keep(self.steps.password(progress, username=username, password=password))
                return RedirectResponse(AUTHORIZE_PATH, status_code=303)
            if progress.step is Step.ENROL:
                enrolled = self.steps.confirm(progress, code=code)
                self.keep(enrolled.progress)
                show_csrf_token(self.request, self.web.csrf_token)
                return render(
                    self.request, "login/recovery_codes.html", {"codes": enrolled.recovery_codes}
                )
            if progress.step is Step.FACTOR:
                location = self.steps.factor(progress, code=code)
            else:
                location = self.steps.finish(progress)
        except LoginRefused as refused:
            if progress.step is Step.ENROLLED:  # disabled since the factor was set up
                self.keep(None)
                return _problem(self.request, self.web, "expired")
            return self.show(progress, refused=refused)
        except AuthorizeError as error:
            return self.refused_authorization(error)
        self.keep(None)
        return RedirectResponse(location, status_code=303)

    def refused_authorization(self, error: AuthorizeError) -> Response:
        """To the client with the error when it can be trusted with it, else a page."""
        if AUTHORIZATION_KEY in self.web.progress:
            self.keep(None)
        if error.location is not None:
            return RedirectResponse(error.location, status_code=303)
        return _problem(self.request, self.web, "client")

    def show(
        self,
        progress: Authorization,
        *,
        recovery: bool = False,
        refused: LoginRefused | None = None,
    ) -> Response:
        """The page of the current step; after a refusal, with its message and status."""
        show_csrf_token(self.request, self.web.csrf_token)
        wait = refused.retry_after if refused is not None else None
        retry_after = math.ceil(wait) if wait else None
        page: dict[str, object] = {"refused": refused is not None, "retry_after": retry_after}
        if progress.step is Step.PASSWORD:
            template = "login/password.html"
        elif progress.step is Step.FACTOR:
            template = "login/factor.html"
            page["recovery"] = recovery
        elif progress.step is Step.ENROL:
            try:
                shown, key = self.steps.key(progress)
            except (Conflict, NotFound):
                # Enrolled meanwhile (another tab), disabled, or reset: this login cannot go on.
                self.keep(None)
                return _problem(self.request, self.web, "expired")
            if shown != progress:
                self.keep(shown)
            template = "login/enrol.html"
            page |= {"qr_data_uri": _data_uri(key), "secret_groups": _groups(key.secret)}
        else:
            template = "login/recovery_codes.html"
            page["codes"] = ()
        status = 200 if refused is None else 429 if retry_after else 400
        response = render(self.request, template, page, status_code=status)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response


def _data_uri(key: ShownKey) -> str:
    """The QR code as an image the pages' CSP allows (``img-src 'self' data:``)."""
    return "data:image/svg+xml;base64," + base64.b64encode(key.qr_svg.encode()).decode("ascii")


def _groups(secret: str) -> str:
    """The key in groups of four, as authenticator apps show and accept it."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _problem(request: Request, web: WebSession | None, kind: str) -> HTMLResponse:
    """A login that cannot go on, as a page (400); the person can start again."""
    gettext = translator(request)
    title, explanation = {
        "request": (
            gettext("This login link is not valid"),
            gettext("The address of this login page is not right. Start from the hub's page."),
        ),
        "client": (
            gettext("This application cannot log you in"),
            gettext(
                "The application that sent you here is not known to the hub, or its address "
                "is not registered. You have not been sent back to it."
            ),
        ),
        "expired": (
            gettext("This login has expired"),
            gettext("Logging in took too long, or was started in another window. Start again."),
        ),
    }[kind]
    return problem_page(request, web, title=title, explanation=explanation)
