"""The hub's route class: a route that reads a body authenticates its caller first.

FastAPI reads and parses a route's body before it solves the route's dependencies, so a caller
without a valid token could make the hub read (up to the route's limit, :mod:`hub.web.limits`)
and parse a body before being refused. :class:`TokenFirstRoute` runs the route's token check,
:func:`auth.dependencies.authenticate`, before FastAPI's handler; the check's result is kept for
the request, so the dependency that asks for it later gets the same principal without
validating the token a second time. Whether the token carries the route's scope is still decided
by the route's dependency (:class:`hub.web.caller.Serving`), which records that refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from auth.dependencies import authenticate, current_principal

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def needs_token(dependant: Dependant) -> bool:
    """Whether the route (or any of its dependencies) asks for the caller's principal."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call is current_principal:
            return True
        pending.extend(current.dependencies)
    return False


class TokenFirstRoute(APIRoute):
    """An ``APIRoute`` that authenticates before its body is read, when it has both."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if self.body_field is None or not needs_token(self.dependant):
            return handler

        async def token_first(request: Request) -> Response:
            await run_in_threadpool(authenticate, request)  # BearerError: 401, body unread
            return await handler(request)

        return token_first
