"""``GET /metrics``: who may scrape, and that the figures follow what the hub did.

Runs the hub in process on both backend pairs (SQLite with files, PostgreSQL with SeaweedFS)
and scrapes it over its HTTP interface, as Prometheus would, parsing every answer with
prometheus-client's own parser.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlmodel import Session

from hub.core import db
from hub.vault import repository as vault_repository
from tests.fixtures.documents import API, DocumentHub, pdf
from tests.fixtures.oauth import Hub

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(hub: Hub, token: str, **headers: str) -> tuple[Samples, set[str], str]:
    """Every sample (by name and labels), the family names, and the raw exposition."""
    response = hub.client.get("/metrics", headers={"Authorization": f"Bearer {token}", **headers})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    families: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        families.add(family.name)
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples, families, response.text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scraper(hub: Hub) -> str:
    return hub.token(hub.register(organisation="DTV", scopes="metrics:read"))


def audit_rows(hub: Hub, action: str) -> list[Any]:
    with hub.services.engine.connect() as connection:
        return list(
            connection.execute(
                text("SELECT outcome, actor_id, detail FROM audit_event WHERE action = :a"),
                {"a": action},
            )
        )


def test_metrics_without_a_token_is_401(hub: Hub) -> None:
    response = hub.client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith('Bearer realm="ketenhub"')


def test_metrics_with_a_documents_token_is_403_and_recorded(hub: Hub) -> None:
    client = hub.register(organisation="IOM", scopes="documents:read")
    response = hub.client.get("/metrics", headers={"Authorization": f"Bearer {hub.token(client)}"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="metrics:read"' in challenge
    assert audit_rows(hub, "metrics.read") == [("denied", client.client_id, "insufficient_scope")]


def test_metrics_with_metrics_read_is_the_exposition_and_not_recorded(hub: Hub) -> None:
    token = scraper(hub)
    samples, families, _ = scrape(hub, token)
    # The default collectors, and the gauges read from the database at scrape time.
    assert "process_cpu_seconds" in families
    assert value(samples, "ketenhub_audit_state_up") == 1
    with hub.services.engine.connect() as connection:
        events = connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one()
    assert value(samples, "ketenhub_audit_tree_size") == events
    pool = hub.services.engine.pool
    assert value(samples, "ketenhub_db_pool_size", pool="main") == pool.size()  # type: ignore[attr-defined]
    assert ("ketenhub_db_pool_checked_out", frozenset({("pool", "main")})) in samples
    # Logins exist at zero before the web UI records any.
    for outcome in ("success", "denied", "invalid", "not_found", "error"):
        assert ("ketenhub_logins_total", frozenset({("outcome", outcome)})) in samples
    # A scrape holds no personal data and comes every few seconds: not in the trail.
    scrape(hub, token)
    assert audit_rows(hub, "metrics.read") == []


def test_openmetrics_is_served_when_asked_for(hub: Hub) -> None:
    response = hub.client.get(
        "/metrics",
        headers={
            "Authorization": f"Bearer {scraper(hub)}",
            "Accept": "application/openmetrics-text; version=1.0.0",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_tokens_are_counted_by_client_and_outcome(hub: Hub) -> None:
    token = scraper(hub)
    client = hub.register(organisation="IOM", scopes="documents:read")
    before, _, _ = scrape(hub, token)
    hub.token(client)
    refused = hub.token_response(client, scope="admin")
    assert refused.status_code == 400
    after, _, _ = scrape(hub, token)
    name = "ketenhub_oauth_tokens_total"
    success = {"client_id": client.client_id, "outcome": "success"}
    denied = {"client_id": client.client_id, "outcome": "denied"}
    assert value(after, name, **success) - value(before, name, **success) == 1
    assert value(after, name, **denied) - value(before, name, **denied) == 1
    appends = "ketenhub_audit_appends_total"
    issued = {"action": "token.issue", "outcome": "success"}
    assert value(after, appends, **issued) - value(before, appends, **issued) == 1


def test_requests_are_counted_by_route_template_never_by_path(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    token = scraper(hub)
    reader = hub.token(hub.register(organisation="IOM", scopes="documents:read"))
    missing = "0b0e2c4c-6e5a-4f6e-9d43-2f7c1d3e9a01"
    answer = hub.client.get(
        f"{API}/documents/{missing}", headers={"Authorization": f"Bearer {reader}"}
    )
    assert answer.status_code == 404
    assert hub.client.get("/no/such/path/1234567890").status_code == 404
    samples, _, exposition = scrape(hub, token)
    route = "/api/v1/documents/{document_id}"
    labels = {"method": "GET", "route": route, "status": "404"}
    assert value(samples, "ketenhub_http_requests_total", **labels) == 1
    assert value(samples, "ketenhub_http_request_duration_seconds_count", **labels) == 1
    assert value(samples, "ketenhub_http_request_duration_seconds_bucket", le="+Inf", **labels) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(samples, "ketenhub_http_requests_total", **unmatched) == 1
    assert missing not in exposition
    assert "/no/such/path" not in exposition
    assert "1234567890" not in exposition
    # A path no route matched is what the client sent: the access log does not repeat it.
    (unknown,) = [r for r in caplog.records if getattr(r, "route", None) == "unmatched"]
    assert unknown.__dict__["path"] is None
    assert '"GET /… HTTP/1.1" 404' in unknown.getMessage()
    known = next(r for r in caplog.records if getattr(r, "route", None) == route)
    assert known.__dict__["path"] == f"{API}/documents/{missing}"


def test_upload_and_download_bytes_and_store_errors(documents_hub: DocumentHub) -> None:
    hub = documents_hub.hub
    token = scraper(hub)
    content = pdf(300_000)
    before, _, _ = scrape(hub, token)
    document = documents_hub.uploaded("IOM", content)
    downloaded = documents_hub.content("IOM", document["id"])
    assert downloaded.content == content
    after, _, _ = scrape(hub, token)

    upload = {"method": "POST", "route": f"{API}/documents"}
    received = "ketenhub_http_request_body_bytes_total"
    # The multipart body: the content plus its fields and boundaries.
    grown = value(after, received, **upload) - value(before, received, **upload)
    assert len(content) < grown < len(content) + 2048
    download = {"method": "GET", "route": f"{API}/documents/{{document_id}}/content"}
    sent = "ketenhub_http_response_body_bytes_total"
    assert value(after, sent, **download) - value(before, sent, **download) == len(content)
    appends = "ketenhub_audit_appends_total"
    uploaded = {"action": "document.upload", "outcome": "success"}
    assert value(after, appends, **uploaded) - value(before, appends, **uploaded) == 1
    assert value(after, "ketenhub_audit_append_lock_wait_seconds_count") > value(
        before, "ketenhub_audit_append_lock_wait_seconds_count"
    )
    assert value(after, "ketenhub_audit_append_lock_hold_seconds_count") > value(
        before, "ketenhub_audit_append_lock_hold_seconds_count"
    )

    # The object disappears from under the hub: the next download fails, and is counted.
    with Session(db.read_only(hub.services.engine)) as session:
        sealed = vault_repository.get_by_document(session, uuid.UUID(document["id"]), 0)
        assert sealed is not None
    hub.services.store.delete(sealed.object_key)
    assert documents_hub.content("IOM", document["id"]).status_code == 500
    failed, _, _ = scrape(hub, token)
    errors = {"operation": "open", "kind": "object_not_found"}
    assert value(failed, "ketenhub_object_store_errors_total", **errors) == 1


@pytest.mark.parametrize("accept", ["text/plain", "*/*"])
def test_the_text_format_is_the_default(hub: Hub, accept: str) -> None:
    samples, _, _ = scrape(hub, scraper(hub), Accept=accept)
    assert samples
