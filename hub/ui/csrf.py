"""Cross-site request forgery: every unsafe request to a page proves it came from the hub's own.

Two checks, both on every POST (and any other unsafe method) of a page route:

1. **The browser's word** (:func:`check_origin`): ``Sec-Fetch-Site`` must be ``same-origin``
   when sent, and ``Origin``, when sent, must be the hub's own origin (its issuer's, or the one
   the request was addressed to). Every current browser sends at least one of them on a POST;
   a request without either (an old browser, a program) is judged by the token alone.
2. **The synchronizer token** (:func:`check_token`): the form's ``csrf_token`` field, the first
   field of every form (before ``file`` in a multipart one, so an upload is refused before a
   byte of the file is read), must equal the session's token
   (:func:`hub.websessions.store.csrf_token_for` of its id)::

       csrf_token = base64url(HMAC-SHA256(key = session id, msg = "ketenhub-csrf/1"))

   The session id is 256 random bits that only the browser (in an ``HttpOnly`` cookie) and the
   request hold, the database keeping only its hash; so the token is bound to the session,
   cannot be computed by another site, and says nothing about the id it came from (HMAC is a
   PRF). A new id at login (``rotate``) means a new token: a token from before login is dead.
   Compared in constant time.

A refusal is :class:`CsrfRefused` (403): a browser is shown the 403 page
(:mod:`hub.ui.errors`), and the refusal is recorded like every refusal (decision 0020), with
the person as actor when the request is theirs.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Final, TypeVar
from urllib.parse import urlsplit

from starlette.requests import Request

from hub.core.errors import Forbidden
from hub.websessions.store import WebSession

FIELD: Final = "csrf_token"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CHECKS_FIRST_FIELD: Final = "__hub_checks_csrf_first_field__"

F = TypeVar("F", bound=Callable[..., object])


class CsrfRefused(Forbidden):
    """An unsafe page request that did not prove it came from the hub's own pages."""

    slug = "csrf"


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def check_origin(request: Request, *, issuer: str) -> None:
    """Refuse a request the browser says came from another site (see the module docstring)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() != "same-origin":
        raise CsrfRefused("the request did not come from a page of the hub (Sec-Fetch-Site)")
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin.strip() == "null" and site is not None:
        # Chromium sends "Origin: null" on a same-origin form post from a page whose
        # Referrer-Policy is no-referrer, as every page of the hub's is; Sec-Fetch-Site, which
        # no page can set, has said same-origin above (and the session's token is checked next).
        return
    own = {_origin(issuer), _origin(str(request.base_url))}
    if origin.strip().lower() not in own - {None}:  # "null" too: a sandbox, a data: URL
        raise CsrfRefused("the request did not come from a page of the hub (Origin)")


def check_token(web: WebSession, submitted: str | None) -> None:
    """Refuse a form whose ``csrf_token`` is missing or is not ``web``'s."""
    if not submitted:
        raise CsrfRefused("the form has no csrf_token")
    if not hmac.compare_digest(web.csrf_token.encode(), submitted.encode("utf-8")):
        raise CsrfRefused("the form's csrf_token is not this session's")


def checks_first_field(endpoint: F) -> F:
    """Declare that a page route reads its ``multipart/form-data`` body as a stream and checks
    the ``csrf_token`` itself, as the form's first field, before it reads the rest (the upload,
    :meth:`hub.ui.person.PagePerson.check_csrf`). Every other page route's multipart form is
    read and checked before the route runs, as a urlencoded one is: a route that forgot to
    check would otherwise take a form without a token. Goes below the ``@router`` decorator."""
    setattr(endpoint, _CHECKS_FIRST_FIELD, True)
    return endpoint


def route_checks_first_field(request: Request) -> bool:
    """Whether the route ``request`` reached was declared with :func:`checks_first_field`."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    return bool(getattr(endpoint, _CHECKS_FIRST_FIELD, False))
