"""Every refusal and every server error is an audit event, and nobody can flood the trail.

Finding (issue 11, medium, "audit gaps"): a 401, a 422 from validation, an unknown path, a 405
and any 500 left no event. Now an outer layer (:mod:`hub.web.refusals`) records every answer of
4xx or 5xx that no service recorded, without the body; refusals of callers who never
authenticated are recorded once per source address and interval, the rest as one counted
summary (DESIGN.md "Audit trail"), the token endpoint's own refusals included. OWASP API
Security Top 10 (2023): API8 Security Misconfiguration (missing logging) and API4 Unrestricted
Resource Consumption (the log flood). ASVS 5.0 V16 (Security Logging and Error Handling).

Each request carries its own W3C ``traceparent``, so its event is found by trace id; each
unauthenticated case comes from its own loopback address (127.0.0.0/8), so each is the first
of its source and recorded at once. The hub is one of this module's own, with a short summary
interval (2 s) so that the summary arrives within the test.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fixtures.cli import run_ketenhub
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.stores import S3Server
from tests.security.conftest import DATABASE_KINDS, SecurityHub, start_hub

INTERVAL = 2.0
V_NUMBER = "8765432109"
FORGED = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImZvcmdlZCJ9.eyJzdWIiOiJmb3JnZWQifQ.c2lnbmF0dXJl"
_SUMMARY_COUNT = re.compile(r"^(\d+) more")
_OUTCOMES = {401: "denied", 404: "not_found", 405: "invalid", 422: "invalid"}


@pytest.fixture(scope="module", params=DATABASE_KINDS)
def refusing_hub(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[SecurityHub]:
    """A demo hub whose refusal summaries are written every ``INTERVAL`` seconds."""
    root = tmp_path_factory.mktemp(f"refusals-{request.param}")
    env = {"KETENHUB_AUDIT_REFUSAL_INTERVAL": str(INTERVAL)}
    with start_hub(root, request.param, postgres_databases, env=env) as served:
        yield served


def _client(source: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30)


def _traceparent() -> tuple[str, str]:
    trace = secrets.token_hex(16)
    return trace, f"00-{trace}-{secrets.token_hex(8)}-01"


def _send(hub: SecurityHub, source: str, method: str, path: str, **kwargs: Any) -> tuple[str, int]:
    """One request from ``source``; its trace id and status."""
    trace, header = _traceparent()
    headers = {"traceparent": header, **kwargs.pop("headers", {})}
    with _client(source) as client:
        response = client.request(method, hub.url(path), headers=headers, **kwargs)
    return trace, response.status_code


def _leaves(hub: SecurityHub) -> list[dict[str, Any]]:
    """The recorded events as stored (their leaves), oldest first."""
    return [event["leaf"] for event in hub.events()]


def _by_trace(events: list[dict[str, Any]], trace: str) -> list[dict[str, Any]]:
    return [event for event in events if event.get("trace_id") == trace]


def _assert_no_body(event: dict[str, Any], *secret_texts: str) -> None:
    leaf = json.dumps(event)
    for text in (V_NUMBER, FORGED, *secret_texts):
        assert text not in leaf, f"{text[:12]}... recorded in {leaf}"


def test_unauthenticated_refusals_are_recorded(refusing_hub: SecurityHub) -> None:
    """401 (no token, forged token), 404 (unknown path), 405 (API and /oauth), 422 before a token
    is known: each its own event with its outcome and source address, and nothing of the body
    or the credential. OWASP API8:2023; ASVS 5.0 V16.3.1, V16.3.3, V16.2.1, V16.2.5."""
    hub = refusing_hub
    mark = hub.log_mark()
    body = {"v_number": V_NUMBER, "document_id": "x"}
    malformed = f'{{"v_number": "{V_NUMBER}", '.encode()
    forged = {"Authorization": f"Bearer {FORGED}"}
    json_type = {"Content-Type": "application/json"}
    cases: list[tuple[str, str, dict[str, Any], set[int]]] = [
        ("GET", "/api/v1/documents", {}, {401}),
        ("GET", "/api/v1/documents", {"headers": forged}, {401}),
        ("POST", "/api/v1/shares", {"json": body}, {401}),
        # FastAPI parses a JSON body before any dependency runs: 422 before the token is
        # looked at (401 where the token is checked first).
        ("POST", "/api/v1/shares", {"content": malformed, "headers": json_type}, {401, 422}),
        ("GET", f"/api/v1/no-such-thing/{V_NUMBER}", {}, {404}),
        ("DELETE", "/api/v1/documents", {}, {405}),
        ("GET", "/oauth/token", {}, {405}),
        ("GET", "/healthz", {"params": {"v": V_NUMBER}}, {200}),
    ]
    sent = []
    for number, (method, path, kwargs, statuses) in enumerate(cases):
        source = f"127.0.0.{10 + number}"
        trace, answered = _send(hub, source, method, path, **kwargs)
        assert answered in statuses, (method, path, answered)
        sent.append((trace, source, answered))
    events = _leaves(hub)
    for trace, source, answered in sent:
        found = _by_trace(events, trace)
        if answered == 200:  # a success that records nothing stays unrecorded
            assert found == []
            continue
        assert len(found) == 1, (answered, found)
        event = found[0]
        assert event["outcome"] == _OUTCOMES[answered], event
        assert event["source_address"] == source, event
        assert "actor_id" not in event, event
        assert event["detail"].startswith(f"{answered} "), event
        _assert_no_body(event)
    hub.assert_no_traceback_since(mark)


def test_authenticated_refusals_each_recorded(refusing_hub: SecurityHub) -> None:
    """An authenticated caller's refusals are each their own event with its client as actor:
    three 422s on an invalid share body from one address in one interval, and a 415 on an
    upload that the upload service records itself (recorded once, not twice). OWASP API8:2023;
    ASVS 5.0 V16.3.3, V16.2.1, V16.2.5."""
    hub = refusing_hub
    token = hub.token("demo-iom")
    auth = {"Authorization": f"Bearer {token}"}
    source = "127.0.0.30"
    sent = []
    for _ in range(3):
        trace, status = _send(
            hub,
            source,
            "POST",
            "/api/v1/shares",
            json={"v_number": V_NUMBER, "document_types": "not a list"},
            headers=auth,
        )
        assert status == 422
        sent.append((trace, "invalid"))
    trace, status = _send(
        hub,
        source,
        "POST",
        "/api/v1/documents",
        content=f"v_number={V_NUMBER}".encode(),
        headers={**auth, "Content-Type": "text/plain"},
    )
    assert status == 415
    sent.append((trace, "invalid"))
    events = _leaves(hub)
    for trace, outcome in sent:
        found = _by_trace(events, trace)
        assert len(found) == 1, found
        event = found[0]
        assert event["outcome"] == outcome, event
        assert event.get("actor_id") == "demo-iom", event
        assert event["source_address"] == source, event
        _assert_no_body(event, token)


def _flood(hub: SecurityHub, source: str, count: int, send: Any) -> tuple[list[int], float]:
    """``count`` requests from ``source`` on 4 connections (``send(client)`` makes one); their
    statuses and how long they took."""

    def burst(share: int) -> list[int]:
        with _client(source) as client:
            return [send(client).status_code for _ in range(share)]

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        statuses = [s for part in pool.map(burst, [count // 4] * 4) for s in part]
    return statuses, time.monotonic() - started


def _assert_accounted(
    hub: SecurityHub, source: str, count: int, elapsed: float, single_action: str
) -> None:
    """Every one of ``count`` refusals from ``source`` is in the trail: as its own event
    (``single_action``) or counted in a summary; one of each per interval the flood spanned."""
    deadline = time.monotonic() + 2 * INTERVAL + 10
    while True:
        mine = [e for e in _leaves(hub) if e.get("source_address") == source]
        single = [e for e in mine if e["action"] == single_action]
        summaries = [e for e in mine if e["action"] == "http.refuse_summary"]
        counts = [_SUMMARY_COUNT.match(e["detail"]) for e in summaries]
        counted = sum(int(match.group(1)) for match in counts if match is not None)
        if len(single) + counted >= count or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert len(single) + counted == count, (len(single), counted, summaries)
    assert len(mine) == len(single) + len(summaries), mine
    windows = int(elapsed // INTERVAL) + 1
    assert len(single) <= windows, (elapsed, mine)
    assert len(summaries) <= windows, (elapsed, mine)
    assert all(e["outcome"] == "denied" for e in mine)
    if elapsed < INTERVAL / 2:  # the whole flood fell into one interval
        assert len(single) == 1
        assert len(summaries) == 1
        assert summaries[0]["detail"].startswith(f"{count - 1} more"), summaries


def test_flood_gives_one_event_and_a_counted_summary(refusing_hub: SecurityHub) -> None:
    """1,000 requests without a token from one address: the first is recorded at once, the rest
    of its interval as one counted summary, written by the timer although no further request
    comes; the hub keeps answering. OWASP API4:2023 (log flooding); ASVS 5.0 V16.3.1, V16.3.3."""
    hub = refusing_hub
    source, flood = "127.0.0.40", 1000
    mark = hub.log_mark()
    statuses, elapsed = _flood(hub, source, flood, lambda c: c.get(hub.url("/api/v1/documents")))
    assert statuses == [401] * flood
    assert hub.alive()
    _assert_accounted(hub, source, flood, elapsed, "http.refuse")
    hub.assert_no_traceback_since(mark)


def test_token_endpoint_flood_is_summarised(refusing_hub: SecurityHub) -> None:
    """Wrong client secrets at ``/oauth/token``: the caller never authenticated, so its refusals
    are gated like any other (the first recorded as ``token.issue``, the rest counted), not one
    event each. OWASP API4:2023, API2:2023; ASVS 5.0 V16.3.1."""
    hub = refusing_hub
    source, flood = "127.0.0.41", 200
    wrong = ("demo-iom", "not-the-secret")

    def send(client: httpx.Client) -> httpx.Response:
        form = {"grant_type": "client_credentials"}
        return client.post(hub.url("/oauth/token"), data=form, auth=wrong)

    statuses, elapsed = _flood(hub, source, flood, send)
    assert statuses == [401] * flood
    _assert_accounted(hub, source, flood, elapsed, "token.issue")


def test_store_outage_error_recorded_and_trail_verifies(refusing_hub: SecurityHub) -> None:
    """The object store is taken away mid-run: an upload fails with a 5xx, which no service
    records; it is an ``error`` event with the caller and source, without the upload's fields.
    Afterwards ``ketenhub audit verify`` still passes. OWASP API8:2023; ASVS 5.0 V16.3.4,
    V16.2.5, V16.5.1."""
    hub = refusing_hub
    token = hub.token("demo-iom")
    restore = _take_store_away(hub)
    try:
        trace, status = _send(
            hub,
            "127.0.0.50",
            "POST",
            "/api/v1/documents",
            data={"document_type": "travel_document", "v_number": V_NUMBER},
            files={"file": ("d.pdf", b"%PDF-1.7 outage\n", "application/pdf")},
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        restore()
    assert status >= 500, status
    found = _by_trace(_leaves(hub), trace)
    assert len(found) == 1, found
    event = found[0]
    assert event["outcome"] == "error", event
    assert event["actor_id"] == "demo-iom", event
    assert event["source_address"] == "127.0.0.50", event
    _assert_no_body(event, token)
    verified = run_ketenhub(hub.env, "audit", "verify")
    assert verified.returncode == 0


def _take_store_away(hub: SecurityHub) -> Any:
    """Remove the hub's object store (directory or bucket); the function that puts it back."""
    if hub.kind == "sqlite":
        objects = hub.data_dir / "objects"
        aside = hub.data_dir / "objects-away"
        objects.rename(aside)

        def put_back() -> None:
            if objects.exists():
                shutil.rmtree(objects)
            aside.rename(objects)

        return put_back
    bucket = hub.env["KETENHUB_STORAGE_URL"].removeprefix("s3://")
    admin = S3Server.from_environment("seaweed").admin()
    for item in admin.list_objects(bucket, recursive=True):
        admin.remove_object(bucket, item.object_name)
    admin.remove_bucket(bucket)
    return lambda: admin.make_bucket(bucket)
