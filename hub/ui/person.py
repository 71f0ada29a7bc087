"""The person a page is for: :data:`CurrentPerson`, and :class:`PageServing` for page routes.

A page route declares ``person: CurrentPerson`` (or a service through ``PageServing``). The
dependency, before the route runs:

1. loads the browser's web session (:mod:`hub.ui.sessions`); without a live, logged-in one it
   answers ``303 /login?next=<this page>`` (:class:`LoginRequired`; ``next`` a local path only);
2. validates the session's access token with the API's own validator
   (``app.state.token_validator``), so the person's standing counts exactly as for the API: a
   disabled user or organisation, a reset factor or password, a revoked login end the page
   too, within the same 2 seconds;
3. refreshes the tokens through the refresh grant (``services.oauth.refresh``, in process)
   when the access token has expired or ends within :data:`REFRESH_MARGIN`; a refused refresh
   (reuse, the login's 8 hours over, a disabled person) ends the session: to the login page;
4. records the use (the idle clock restarts), and for an unsafe method checks CSRF
   (:mod:`hub.ui.csrf`): the browser's ``Origin``/``Sec-Fetch-Site`` always, and the form's
   ``csrf_token`` when the body is a form, urlencoded or multipart. Only a route declared with
   :func:`hub.ui.csrf.checks_first_field` (the upload) has its multipart form left unread
   here, so as not to buffer its file: it checks the first field with
   :meth:`PagePerson.check_csrf` before it reads ``file``;
5. makes the person the request's actor, so a refusal from here on is recorded as theirs.

The session's bookkeeping (use, refresh, end) runs in a transaction of its own, committed
before the route runs: a page that fails still counted as use, and a rotated refresh token is
stored exactly when its rotation is committed. The refresh locks the session's row, so two
pages loading at once refresh once (the second finds the new tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, TypeVar, cast
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from auth.scopes import Scope
from auth.tokens import InvalidToken, Principal, TokenValidator
from hub.core import db
from hub.core.errors import Forbidden
from hub.runtime import Services
from hub.tokens.service import GrantRefused
from hub.trail.context import Actor, Context, ContextDep
from hub.trail.request_note import note_actor
from hub.ui.csrf import (
    FIELD,
    UNSAFE_METHODS,
    check_origin,
    check_token,
    route_checks_first_field,
)
from hub.ui.navigation import local_path
from hub.ui.rendering import show_csrf_token, show_person
from hub.ui.sessions import cookie_value
from hub.web.caller import Serving
from hub.web.deps import ServicesDep, TransactionDep
from hub.websessions.store import WebSession

S = TypeVar("S")

REFRESH_MARGIN: Final = timedelta(seconds=60)
"""A token that ends sooner is refreshed first, so no page fails halfway for an expired token."""

_FORM: Final = "application/x-www-form-urlencoded"
_MULTIPART: Final = "multipart/form-data"


class LoginRequired(Exception):
    """No live login: the app answers ``303`` to :attr:`location` (``/login?next=…``)."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login required")
        self.location = "/login?" + urlencode({"next": next_path})


@dataclass(frozen=True, slots=True)
class PagePerson:
    """The logged-in person of a page request, their session, and the token their forms carry."""

    principal: Principal
    web: WebSession
    csrf_token: str

    def check_csrf(self, submitted: str | None) -> None:
        """Check a form's ``csrf_token`` (a multipart form's first field); raises
        :class:`~hub.ui.csrf.CsrfRefused`."""
        check_token(self.web, submitted)


def _this_page(request: Request) -> str:
    target = request.url.path
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    return local_path(target)


def _validator(request: Request) -> TokenValidator:
    validator: TokenValidator = request.app.state.token_validator
    return validator


class _Bookkeeping:
    """The session's side of one page request, run in a worker thread (it blocks)."""

    def __init__(
        self, services: Services, validator: TokenValidator, context: Context, now: datetime
    ) -> None:
        self.services = services
        self.validator = validator
        self.context = context
        self.now = now

    def __call__(self, raw_cookie: str | None) -> tuple[WebSession, Principal] | None:
        sessions = self.services.web_sessions
        with db.transaction(self.services.engine) as session:
            web = sessions.load(session, raw_cookie, now=self.now)
            if web is None or not web.logged_in:
                return None
            principal = self._principal(web)
            if principal is None:
                refreshed = self._refresh(session, web)
                if refreshed is None:
                    return None
                web, principal = refreshed
            sessions.save(session, web, now=self.now)
            return web, principal

    def _principal(self, web: WebSession) -> Principal | None:
        """The access token's principal when it is valid for a while yet; else ``None``."""
        try:
            principal = self.validator.validate(web.access_token or "")
        except InvalidToken:
            return None
        return principal if principal.expires_at - self.now > REFRESH_MARGIN else None

    def _refresh(self, session: Session, web: WebSession) -> tuple[WebSession, Principal] | None:
        sessions = self.services.web_sessions
        current = sessions.locked(session, web, now=self.now)
        if current is None:
            return None
        if current.access_token != web.access_token:
            # Another request of this browser refreshed while this one waited for the lock.
            principal = self._principal(current)
            return (current, principal) if principal is not None else None
        if current.refresh_token is None:
            sessions.end(session, current)
            return None
        try:
            issued = self.services.oauth.refresh(
                session,
                refresh_token=current.refresh_token,
                audit=self.services.audit,
                context=self.context,
            )
        except GrantRefused:
            # Kept: the refusal's own work (a reused token revokes its family) and the end.
            sessions.end(session, current)
            return None
        current.access_token, current.refresh_token = issued.access_token, issued.refresh_token
        try:
            principal = self.validator.validate(issued.access_token)
        except InvalidToken:
            sessions.end(session, current)
            return None
        return current, principal


async def current_person(
    request: Request, services: ServicesDep, context: ContextDep
) -> PagePerson:
    """The dependency behind :data:`CurrentPerson` (see the module docstring)."""
    if request.method in UNSAFE_METHODS:
        # Before anything is looked up or refreshed: a forged post changes nothing at all.
        check_origin(request, issuer=services.settings.issuer)
    bookkeeping = _Bookkeeping(services, _validator(request), context, datetime.now(UTC))
    found = await run_in_threadpool(bookkeeping, cookie_value(request))
    if found is None:
        raise LoginRequired(_this_page(request))
    web, principal = found
    note_actor(Actor.of(principal))  # from here on, every refusal is the person's own
    person = PagePerson(principal, web, web.csrf_token)
    if request.method in UNSAFE_METHODS:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == _MULTIPART and route_checks_first_field(request):
            pass  # the upload: its route checks the first field before it reads the file
        elif media in {_FORM, _MULTIPART}:
            submitted = (await request.form()).get(FIELD)
            person.check_csrf(submitted if isinstance(submitted, str) else None)
        else:
            # Neither form a page sends: nothing could carry the token.
            person.check_csrf(None)
    show_person(request, principal)
    show_csrf_token(request, web.csrf_token)
    return person


CurrentPerson = Annotated[PagePerson, Depends(current_person)]


async def login_redirect(_request: Request, exc: Exception) -> RedirectResponse:
    """The answer to :class:`LoginRequired` (installed by the app)."""
    required = cast(LoginRequired, exc)  # registered for this class only
    return RedirectResponse(required.location, status_code=303)


class PageServing(Serving[S]):
    """As :class:`hub.web.caller.Serving`, for pages: admits the logged-in person and builds
    the route's service, ``build(call, services)``.

    ``scope`` is what the page needs (``None``: any logged-in person); a person without it gets
    the 403 page, and the refusal is recorded as ``action`` on ``resource_type`` (with the path
    parameter ``id_param`` when it is an id the hub could have issued), in the request's own
    transaction, as the API records it.
    """

    def __call__(  # type: ignore[override]  # the principal is the session's, not a bearer's
        self,
        request: Request,
        person: CurrentPerson,
        services: ServicesDep,
        context: ContextDep,
        transaction: TransactionDep,
    ) -> S:
        return self.admit(request, person.principal, services, context, transaction)

    def refusal(self, scope: Scope) -> Exception:
        return Forbidden("this page is not for your role")
