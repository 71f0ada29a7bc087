"""The refusal recorder (:class:`hub.web.refusals.RefusalRecording`) in process, on SQLite and
PostgreSQL: what no service recorded is recorded once, a service's own refusal is not recorded
twice, and an unhandled error is answered 500, logged once without its message, and recorded.

The served hub is attacked in ``tests/security/test_v16_refusals_recorded.py``; here the hub's
real services sit under a small application whose one route fails the way a defect would, which
no served route may do on purpose.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from audit.models import AuditEvent
from hub.web.refusals import RefusalRecording
from tests.fixtures.oauth import Hub

_PARAMETER = "1234567890-secret-parameter"


def _events_after(hub: Hub, seq: int) -> list[AuditEvent]:
    with Session(hub.services.engine) as session:
        query = select(AuditEvent).where(col(AuditEvent.seq) > seq)
        return list(session.exec(query.order_by(col(AuditEvent.seq))))


def _newest_seq(hub: Hub) -> int:
    with Session(hub.services.engine) as session:
        newest = session.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq).desc())).first()
    return -1 if newest is None else newest


def _failing_app(hub: Hub) -> Any:
    async def broken(_request: Request) -> PlainTextResponse:
        statement = "INSERT INTO t VALUES (?)"
        raise OperationalError(statement, [_PARAMETER], Exception("disk I/O error"))

    async def refused(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("no", status_code=401)

    # As in the hub: inside Starlette's outermost error middleware, around the routes.
    app = Starlette(
        routes=[Route("/broken", broken), Route("/refused", refused)],
        middleware=[Middleware(RefusalRecording)],
    )
    app.state.services = hub.services
    return app


def test_an_unhandled_error_is_answered_logged_once_and_recorded(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    before = _newest_seq(hub)
    client = TestClient(_failing_app(hub), raise_server_exceptions=True)
    with caplog.at_level(logging.ERROR):
        response = client.get("/broken")
    # Not raised to the server (which would log it again with its message): answered here.
    assert response.status_code == 500
    assert response.json()["type"].endswith("internal-error")
    assert _PARAMETER not in response.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    logged = errors[0].getMessage()
    assert "sqlalchemy.exc.OperationalError" in logged
    assert _PARAMETER not in logged
    assert errors[0].exc_info is None
    [event] = _events_after(hub, before)
    assert (event.action, event.outcome) == ("http.error", "error")
    assert event.detail == "500 GET /broken"


def test_unauthenticated_refusals_pass_the_gate(hub: Hub) -> None:
    gate = hub.services.audit.refusals  # the process's: 60 s by default
    before = _newest_seq(hub)
    client = TestClient(_failing_app(hub))
    for _ in range(5):
        assert client.get("/refused").status_code == 401
    [event] = _events_after(hub, before)
    assert (event.action, event.outcome, event.detail) == (
        "http.refuse",
        "denied",
        "401 GET /refused",
    )
    [summary] = gate.due(everything=True)
    assert summary.count == 4


def test_a_refusal_a_service_recorded_is_not_recorded_again(hub: Hub) -> None:
    """A token without the scope: ``Serving`` records the 403 itself, as the route's action."""
    before = _newest_seq(hub)
    client_row = hub.register(scopes="metrics:read")
    token = hub.token(client_row)
    response = hub.client.get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    refusals = [e for e in _events_after(hub, before) if e.outcome != "success"]
    assert [(e.action, e.outcome) for e in refusals] == [("document.list", "denied")]
