"""``GET /metrics``: the Prometheus exposition, for a token with the scope ``metrics:read``.

A request without a token answers 401; a token without the scope answers 403 with an RFC 6750
``insufficient_scope`` problem, and that refusal is recorded in the audit trail, like every
refusal of an authenticated caller. A successful scrape is not recorded: a scraper asks every
15 seconds or so, and the answer holds no personal data (see
``docs/decisions/0011-observability.md``). Without a token at all, the same exposition is
served on ``KETENHUB_METRICS_ADDRESS`` when one is set (:mod:`hub.observability.listener`).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request, Response

from audit.events import Action
from auth.scopes import Scope
from hub.observability.metrics import HubMetrics
from hub.runtime import Services
from hub.web.caller import Serving
from hub.web.deps import StrictQuery
from hub.web.problems import problem, problem_responses
from hub.web.recording import Call

router = APIRouter(tags=["operations"])

_CONTENT_TYPES: Final = (
    "text/plain; version=0.0.4; charset=utf-8",
    "application/openmetrics-text; version=1.0.0; charset=utf-8",
)


def _metrics(_call: Call, services: Services) -> HubMetrics:
    return services.metrics


MetricsReader = Annotated[
    HubMetrics,
    Depends(
        Serving(
            _metrics, scope=Scope.METRICS_READ, action=Action.METRICS_READ, resource_type="metrics"
        )
    ),
]


@router.get(
    "/metrics",
    summary="Prometheus metrics (scope metrics:read)",
    dependencies=[StrictQuery],
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text format, or OpenMetrics if the Accept header asks",
            "content": {
                content_type: {"schema": {"type": "string"}} for content_type in _CONTENT_TYPES
            },
        },
        **problem_responses(),
        403: problem("The token lacks the scope metrics:read (RFC 6750 `WWW-Authenticate`)"),
    },
)
def metrics(request: Request, metrics: MetricsReader) -> Response:
    # A plain function: FastAPI runs it in a worker thread, where the scrape-time gauges'
    # database reads cannot hold up the event loop.
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
