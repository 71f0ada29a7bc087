"""The HTTP access log: one record per request, without the query string.

A query string can carry what must never reach a log: a token a client wrongly put in the URL
(the hub refuses it, but the line is written first), or a v-number. Paths that a route matched
hold the hub's own identifiers (checked by the route's converters) and stay; the query is
replaced by ``?…``, and a very long path is cut short. A path that no route matched is
whatever the client sent, a v-number included, so it is not logged at all: the line shows
``/…`` and ``path`` is null; the route ``unmatched`` and the status say what happened.

The request telemetry middleware (:mod:`hub.observability.middleware`) writes the record once
the answer has gone out, to the ``hub.access`` logger; uvicorn's own access log is off. Its
arguments are those of uvicorn's access line (client, method, path, HTTP version, status), so
the text format (uvicorn's access formatter) reads exactly as uvicorn's did. The record also
carries the request's fields as attributes (:data:`ACCESS_FIELDS`), which the JSON format
writes out together with the trace and span id the audit trail recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from hub.observability.secret_paths import hides_path
from hub.observability.tracing import RequestTrace

logger = logging.getLogger("hub.access")

ACCESS_FIELDS: Final = (
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "bytes_in",
    "bytes_out",
    "client",
)
"""What an access record carries besides its message, in the order JSON lines show them."""
MAX_PATH: Final = 512
UNMATCHED: Final = "unmatched"
"""The route of every request that no route matched (404s of unknown paths)."""
_HIDDEN_PATH: Final = "/…"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its answer, as the access log and the metrics see it."""

    method: str
    path: str
    had_query: bool
    http_version: str
    client: str | None
    route: str
    status: int
    duration: float
    bytes_in: int
    bytes_out: int


def shown_path(exchange: Exchange) -> str | None:
    """The path to log: none for an unmatched one, the template for one that holds a secret
    (:mod:`hub.observability.secret_paths`), cut short when very long."""
    if exchange.route == UNMATCHED:
        return None
    if hides_path(exchange.route):
        return exchange.route
    path = exchange.path
    return path if len(path) <= MAX_PATH else path[:MAX_PATH] + "…"


def log_exchange(exchange: Exchange, trace: RequestTrace | None) -> None:
    """Write the access record of ``exchange``."""
    if not logger.isEnabledFor(logging.INFO):
        return
    path = shown_path(exchange)
    fields = {
        "method": exchange.method,
        "route": exchange.route,
        "path": path,
        "status": exchange.status,
        "duration_ms": round(exchange.duration * 1000, 3),
        "bytes_in": exchange.bytes_in,
        "bytes_out": exchange.bytes_out,
        "client": exchange.client,
    }
    if trace is not None:
        fields |= {"trace_id": trace.trace_id, "span_id": trace.span_id}
    logger.info(
        '%s - "%s %s HTTP/%s" %d',
        exchange.client or "-",
        exchange.method,
        (path or _HIDDEN_PATH) + ("?…" if exchange.had_query else ""),
        exchange.http_version,
        exchange.status,
        extra=fields,
    )
