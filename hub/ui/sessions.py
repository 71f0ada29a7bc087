"""The web session as a request sees it: the cookie, and the session it names.

The server side (the table, sealing, expiry, rotation) is :mod:`hub.websessions.store`;
``WebSessions`` and ``WebSession`` are re-exported here, where the pages look for them.

The cookie is ``__Host-ketenhub``: ``Secure`` (browsers take a ``__Host-`` cookie only so, and
accept it over ``http://127.0.0.1`` too), ``HttpOnly`` (no script reads it), ``SameSite=Lax``
(a cross-site form post does not carry it; a link from another site to a page still opens the
person's session), ``Path=/`` and no ``Domain`` (the ``__Host-`` prefix guarantees both: no
sibling host can set or shadow it). No ``Max-Age``: the browser forgets it when it closes, and
the server ends it at the idle and absolute limits whatever the browser keeps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from fastapi import Request, Response
from sqlmodel import Session

from hub.runtime import Services
from hub.websessions.store import WebSession, WebSessions

__all__ = [
    "COOKIE",
    "WebSession",
    "WebSessions",
    "clear_cookie",
    "cookie_value",
    "load_or_start",
    "set_cookie",
]

COOKIE: Final = "__Host-ketenhub"


def cookie_value(request: Request) -> str | None:
    """The session id the browser sent, if any (checked by :meth:`WebSessions.load`)."""
    return request.cookies.get(COOKIE)


def set_cookie(response: Response, value: str) -> None:
    """Give the browser the session id ``value`` (after :meth:`WebSessions.start`/``rotate``)."""
    response.set_cookie(COOKIE, value, path="/", secure=True, httponly=True, samesite="lax")


def clear_cookie(response: Response) -> None:
    """Tell the browser to forget its session id (after :meth:`WebSessions.end`)."""
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def load_or_start(
    request: Request, session: Session, services: Services, *, now: datetime | None = None
) -> tuple[WebSession, str | None]:
    """The browser's live session, or a new one for the login flow. The second value is the
    new session's cookie value, for :func:`set_cookie`; ``None`` when the session existed."""
    now = now or datetime.now(UTC)
    sessions = services.web_sessions
    web = sessions.load(session, cookie_value(request), now=now)
    if web is not None:
        return web, None
    return sessions.start(session, now=now)
