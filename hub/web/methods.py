"""The methods a path allows, for a truthful ``Allow`` header on 405 (RFC 9110 §15.5.6).

Starlette answers a request whose path matches a route but whose method does not with the
methods of the *first* route that matched the path. FastAPI registers one route per operation,
so ``/api/v1/documents`` (GET and POST as two routes) answered a PUT with ``Allow: POST`` only.
RFC 9110 says the header lists the methods the target resource supports, all of them.

:func:`allowed_methods` asks every route of the app, through the same ``matches`` the router
dispatches with, whether it would serve the path with each method. So the answer is what the
app does, not what its routes declare: a GET route of FastAPI does not serve HEAD (FastAPI adds
no implicit HEAD, unlike Starlette's ``Route``), so HEAD is listed only where a route serves
it. A ``Mount`` matches every method and decides inside; it is not asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

# The methods any route of the hub could serve: RFC 9110's, less CONNECT and TRACE (never
# routed), plus PATCH (RFC 5789).
CANDIDATES: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods of :data:`CANDIDATES` that some route serves at ``scope``'s path, in that
    order; empty when no route matches the path."""
    allowed = []
    for method in CANDIDATES:
        # A scope of its own per probe: matching writes into the scope it is given.
        probe = {
            "type": "http",
            "method": method,
            "path": scope["path"],
            "root_path": scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(
            not isinstance(route, Mount) and route.matches(probe)[0] == Match.FULL
            for route in routes
        ):
            allowed.append(method)
    return allowed
