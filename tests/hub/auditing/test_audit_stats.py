"""The console's figures: counted by the database per Amsterdam day, and each one equal to what
the events filter returns for the same day, organisation and purpose."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from audit.events import Action, ActorType, Outcome
from audit.log import AuditLog
from hub.auditing.stats import day_start
from hub.core import db
from hub.trail.context import Actor, Context
from hub.trail.recorder import About, Recorder
from tests.fixtures.oauth import Hub, RegisteredClient
from tests.hub.auditing.test_audit_api import auditor  # noqa: F401 - the fixture

GM = Actor(ActorType.USER, "gm0363.medewerker", "GM0363", None, client="ketenhub-web")
IOM = Actor(ActorType.CLIENT, "iom-client", "IOM", None)
READ, DOWNLOAD = Action.DOCUMENT_READ, Action.DOCUMENT_DOWNLOAD
OK, DENIED = Outcome.SUCCESS, Outcome.DENIED
FIRST, LAST = date(2026, 11, 10), date(2026, 11, 11)

# (UTC time, actor, action, outcome, purpose); Amsterdam is UTC+1 in November.
EVENTS = [
    ("2026-11-09T22:59:59", GM, DOWNLOAD, OK, "terugkeer"),  # 9 Nov 23:59:59: before
    ("2026-11-09T23:00:00", GM, DOWNLOAD, OK, "terugkeer"),  # 10 Nov 00:00
    ("2026-11-10T10:00:00", GM, READ, OK, None),
    ("2026-11-10T12:00:00", GM, READ, Outcome.NOT_FOUND, None),
    ("2026-11-10T22:59:59", IOM, DOWNLOAD, OK, "opvang"),  # 10 Nov 23:59:59
    ("2026-11-10T23:00:00", IOM, DOWNLOAD, DENIED, "opvang"),  # 11 Nov 00:00
    ("2026-11-11T08:00:00", GM, DOWNLOAD, DENIED, None),
    ("2026-11-11T09:00:00", IOM, READ, OK, "opvang"),
    ("2026-11-11T22:59:59", GM, DOWNLOAD, OK, "toezicht"),  # 11 Nov 23:59:59
    ("2026-11-11T23:00:00", GM, DOWNLOAD, OK, "terugkeer"),  # 12 Nov: after
]


def _at(moment: datetime) -> datetime:
    return moment


def _seed(hub: Hub, engine: Engine) -> None:
    for when, actor, action, outcome, purpose in EVENTS:
        moment = datetime.fromisoformat(when).replace(tzinfo=UTC)
        log = AuditLog(clock=functools.partial(_at, moment))
        event = Recorder(hub.services.audit, Context.new(), actor).event(
            action, About("document", "d1"), outcome, purpose=purpose
        )
        with db.transaction(engine) as session:
            log.append(session, event)


def _get(hub: Hub, caller: RegisteredClient, path: str, params: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {hub.token(caller)}"}
    return hub.client.get(path, params=params, headers=headers)


def _count(hub: Hub, caller: RegisteredClient, first: date, last: date, **params: str) -> int:
    """How many events ``GET /events`` returns for the days ``first`` to ``last``."""
    since = day_start(first).isoformat()
    until = day_start(last + timedelta(days=1)).isoformat()
    query = {"since": since, "until": until, "limit": "500", **params}
    response = _get(hub, caller, "/api/v1/audit/events", query)
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def test_the_figures_are_counted_per_amsterdam_day(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
    engine: Engine,
) -> None:
    _seed(hub, engine)
    response = _get(
        hub, auditor, "/api/v1/audit/stats", {"since": "2026-11-10", "until": "2026-11-11"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accesses"] == [
        {"day": "2026-11-10", "organisation": "GM0363", "count": 2},
        {"day": "2026-11-10", "organisation": "IOM", "count": 1},
        {"day": "2026-11-11", "organisation": "GM0363", "count": 1},
        {"day": "2026-11-11", "organisation": "IOM", "count": 1},
    ]
    assert body["denials"] == [
        {"day": "2026-11-10", "count": 0},
        {"day": "2026-11-11", "count": 2},
    ]
    downloads = {d["purpose"]: d["count"] for d in body["downloads"]}
    assert downloads == {"terugkeer": 1, "opvang": 1, "toezicht": 1}
    uri = hub.services.audit.purpose_uri
    assert {d["purpose_id"] for d in body["downloads"]} == {uri(p) for p in downloads}


def test_each_figure_equals_what_the_events_filter_returns(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
    engine: Engine,
) -> None:
    _seed(hub, engine)
    params = {"since": FIRST.isoformat(), "until": LAST.isoformat()}
    body = _get(hub, auditor, "/api/v1/audit/stats", params).json()
    accesses = {(a["day"], a["organisation"]): a["count"] for a in body["accesses"]}
    for day in (FIRST, LAST):
        for organisation in ("GM0363", "IOM"):
            counted = sum(
                _count(
                    hub, auditor, day, day, organisation=organisation, action=a, outcome="success"
                )
                for a in ("document.read", "document.download")
            )
            assert accesses.get((day.isoformat(), organisation), 0) == counted
    for denial in body["denials"]:
        day = date.fromisoformat(denial["day"])
        assert denial["count"] == _count(hub, auditor, day, day, outcome="denied")
    for download in body["downloads"]:
        expected = _count(
            hub,
            auditor,
            FIRST,
            LAST,
            action="document.download",
            outcome="success",
            purpose=download["purpose"],
        )
        assert download["count"] == expected


def test_a_stats_query_is_recorded(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
) -> None:
    params = {"since": "2026-11-01", "until": "2026-11-14"}
    assert _get(hub, auditor, "/api/v1/audit/stats", params).status_code == 200
    response = _get(
        hub, auditor, "/api/v1/audit/events", {"action": "audit.query", "order": "desc"}
    )
    latest = response.json()["items"][0]["leaf"]
    assert latest["resource_type"] == "audit_stats"
    assert latest["detail"] == "2026-11-01..2026-11-14"
    assert latest["actor_id"] == auditor.client_id


def test_the_default_period_is_the_last_fourteen_days(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
) -> None:
    body = _get(hub, auditor, "/api/v1/audit/stats", {}).json()
    assert len(body["denials"]) == 14
    assert date.fromisoformat(body["until"]) - date.fromisoformat(body["since"]) == timedelta(13)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"since": "2026-01-01", "until": "2026-04-03"}, "at most 92"),
        ({"since": "2026-11-12", "until": "2026-11-11"}, "since must not be later"),
        ({"since": "2026-02-30", "until": "2026-03-01"}, "not a date"),
        ({"since": "1731196800"}, "since"),
    ],
)
def test_a_bad_period_is_422(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
    params: dict[str, str],
    words: str,
) -> None:
    response = _get(hub, auditor, "/api/v1/audit/stats", params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert words in response.text


def test_ninety_two_days_are_allowed(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
) -> None:
    params = {"since": "2026-01-01", "until": "2026-04-02"}  # 31 + 28 + 31 + 2 days
    body = _get(hub, auditor, "/api/v1/audit/stats", params).json()
    assert len(body["denials"]) == 92


def test_a_summer_day_starts_at_22_utc(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
    engine: Engine,
) -> None:
    """Amsterdam is UTC+2 in summer: 22:00 UTC is the next day's first moment."""
    for when in ("2026-07-14T21:59:59", "2026-07-14T22:00:00", "2026-07-15T21:59:59"):
        moment = datetime.fromisoformat(when).replace(tzinfo=UTC)
        event = Recorder(hub.services.audit, Context.new(), GM).event(
            DOWNLOAD, About("document", "d1"), DENIED
        )
        with db.transaction(engine) as session:
            AuditLog(clock=functools.partial(_at, moment)).append(session, event)
    params = {"since": "2026-07-14", "until": "2026-07-16"}
    body = _get(hub, auditor, "/api/v1/audit/stats", params).json()
    assert [d["count"] for d in body["denials"]] == [1, 2, 0]
