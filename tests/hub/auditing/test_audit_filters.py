"""The auditor's filters by actor, client, purpose and deciding rule, and newest-first paging."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from audit.events import Action, ActorType, Outcome
from hub.core import db
from hub.trail.context import Actor, Context
from hub.trail.recorder import About, Recorder
from tests.fixtures.oauth import Hub, RegisteredClient
from tests.hub.auditing.test_audit_api import auditor  # noqa: F401 - the fixture

ALICE = Actor(ActorType.USER, "gm0363.alice", "GM0363", "urn:test:terugkeer", client="ketenhub-web")
IOM = Actor(ActorType.CLIENT, "iom-client", "IOM", "urn:test:opvang")
BOB = Actor(ActorType.USER, "iom.bob", "IOM", None, client="iom-client")


def _get(hub: Hub, caller: RegisteredClient, path: str, params: dict[str, Any]) -> Any:
    """``params`` as a dict: ``client`` is one of the filters."""
    headers = {"Authorization": f"Bearer {hub.token(caller)}"}
    return hub.client.get(path, params=params, headers=headers)


def _seed(hub: Hub, engine: Engine) -> None:
    """Three downloads: Alice through the web UI for terugkeer under rule ``r-web``, the IOM
    client itself for opvang under ``r-iom``, and Bob through the IOM client for terugkeer
    under ``r-iom``."""
    seeds = [(ALICE, "terugkeer", "r-web", "d1"), (IOM, "opvang", "r-iom", "d2")]
    seeds.append((BOB, "terugkeer", "r-iom", "d3"))
    with db.transaction(engine) as session:
        for actor, purpose, rule, document in seeds:
            Recorder(hub.services.audit, Context.new(), actor).record(
                session,
                Action.DOCUMENT_DOWNLOAD,
                About("document", document),
                Outcome.SUCCESS,
                rule=rule,
                purpose=purpose,
            )


@pytest.mark.parametrize(
    ("params", "documents"),
    [
        ({"actor": "gm0363.alice"}, ["d1"]),
        ({"actor": "iom-client"}, ["d2"]),
        ({"client": "ketenhub-web"}, ["d1"]),
        ({"client": "iom-client"}, ["d2", "d3"]),
        ({"purpose": "terugkeer"}, ["d1", "d3"]),
        ({"purpose": "opvang"}, ["d2"]),
        ({"policy_rule": "r-iom"}, ["d2", "d3"]),
        ({"policy_rule": "r-io"}, []),
        ({"client": "iom-client", "purpose": "terugkeer", "policy_rule": "r-iom"}, ["d3"]),
        ({"actor": "nobody"}, []),
    ],
)
def test_filters_by_actor_client_purpose_and_rule(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
    engine: Engine,
    params: dict[str, str],
    documents: list[str],
) -> None:
    _seed(hub, engine)
    response = _get(hub, auditor, "/api/v1/audit/events", {"action": "document.download", **params})
    assert response.status_code == 200, response.text
    found = response.json()["items"]
    assert [e["leaf"]["resource_id"] for e in found] == documents
    purpose_uri = hub.services.audit.purpose_uri
    if "purpose" in params:
        expected = purpose_uri(params["purpose"])
        assert all(e["leaf"]["processing_activity_id"] == expected for e in found)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"purpose": "spionage"}, "purpose must be one of"),
        ({"purpose": ""}, "purpose"),
        ({"order": "sideways"}, "order"),
        ({"actor": ""}, "actor"),
        ({"client": "x" * 513}, "client"),
    ],
)
def test_bad_filters_are_422(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
    params: dict[str, str],
    words: str,
) -> None:
    for path in ("/api/v1/audit/events", "/api/v1/audit/export"):
        response = _get(hub, auditor, path, params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.text


def _all_pages(hub: Hub, headers: dict[str, str], **params: Any) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = hub.client.get("/api/v1/audit/events", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_newest_first_pages_with_cursors(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
) -> None:
    iom = hub.register(organisation="IOM")
    for _ in range(5):
        hub.token(iom)
    headers = {"Authorization": f"Bearer {hub.token(auditor)}"}
    newest_first = _all_pages(hub, headers, organisation="IOM", order="desc")
    oldest_first = _all_pages(hub, headers, organisation="IOM", order="asc")
    assert len(newest_first) == 5
    assert newest_first == sorted(newest_first, reverse=True)
    assert newest_first == oldest_first[::-1]
    # The default is log order, oldest first.
    assert _all_pages(hub, headers, organisation="IOM") == oldest_first


def test_a_cursor_of_the_other_order_is_refused(
    hub: Hub,
    auditor: RegisteredClient,  # noqa: F811 - the fixture
) -> None:
    iom = hub.register(organisation="IOM")
    for _ in range(3):
        hub.token(iom)
    headers = {"Authorization": f"Bearer {hub.token(auditor)}"}
    first = hub.client.get(
        "/api/v1/audit/events", params={"organisation": "IOM", "limit": 1}, headers=headers
    ).json()
    other = hub.client.get(
        "/api/v1/audit/events",
        params={"organisation": "IOM", "order": "desc", "cursor": first["next_cursor"]},
        headers=headers,
    )
    assert other.status_code == 400
    assert "another query" in other.json()["detail"]
