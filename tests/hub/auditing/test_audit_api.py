"""The auditor API and what the hub records: tokens, audit reads, refusals, failures."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from typing import Any

import pytest
import rfc8785
from sqlalchemy import Engine, text

from audit import merkle
from audit.events import Action
from audit.notes import NoteVerifier, open_checkpoint, open_note
from hub.auditing.queries import CSV_COLUMNS, CSV_TEXT_COLUMNS
from hub.core import db
from hub.trail.context import Context
from hub.trail.recorder import NOTHING, Recorder
from tests.fixtures.audit import execute
from tests.fixtures.oauth import Hub, RegisteredClient

V_NUMBER = "1234567890"


@pytest.fixture
def auditor(hub: Hub) -> RegisteredClient:
    return hub.register(organisation="DTV", scopes="audit:read")


def _get(hub: Hub, client: RegisteredClient, path: str, **params: Any) -> Any:
    token = hub.token(client)
    return hub.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


def _events(hub: Hub, auditor: RegisteredClient, **params: Any) -> list[dict[str, Any]]:
    response = _get(hub, auditor, "/api/v1/audit/events", limit=500, **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def test_issued_and_refused_tokens_are_recorded(hub: Hub, auditor: RegisteredClient) -> None:
    iom = hub.register(organisation="IOM")
    hub.token(iom)
    refused = hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(iom.client_id, "not-the-secret"),
    )
    assert refused.status_code == 401
    events = _events(hub, auditor, action="token.issue", organisation="IOM")
    outcomes = [(e["leaf"]["outcome"], e["leaf"].get("detail")) for e in events]
    assert outcomes == [("success", None), ("denied", "invalid_client")]
    issued = events[0]["leaf"]
    assert issued["actor_id"] == iom.client_id
    assert issued["resource_type"] == "access_token"
    assert issued["processing_activity_id"].endswith(":terugkeer")
    assert issued["source_address"]


def test_every_event_carries_its_exact_leaf(hub: Hub, auditor: RegisteredClient) -> None:
    for item in _events(hub, auditor):
        leaf_hash = hashlib.sha256(b"\x00" + rfc8785.dumps(item["leaf"])).digest()
        assert _b64(item["leaf_hash"]) == leaf_hash
        assert item["leaf"]["seq"] == item["seq"]
        assert item["status"] == ("OK" if item["leaf"]["outcome"] == "success" else "ERROR")


def test_a_traceparent_links_the_partner_operation(hub: Hub, auditor: RegisteredClient) -> None:
    token = hub.token(auditor)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = hub.client.get(
        "/api/v1/audit/keys",
        headers={"Authorization": f"Bearer {token}", "traceparent": traceparent},
    )
    assert response.status_code == 200
    (event,) = [
        e["leaf"]
        for e in _events(hub, auditor, action="audit.query")
        if e["leaf"].get("resource_type") == "audit_key"
    ]
    assert event["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert event["foreign_span_id"] == "b7ad6b7169203331"
    assert event["span_id"] != "b7ad6b7169203331"


def test_audit_reads_are_recorded_after_they_ran(hub: Hub, auditor: RegisteredClient) -> None:
    before = _events(hub, auditor)
    assert before[-1]["leaf"]["action"] == "token.issue"  # not this query itself
    after = _events(hub, auditor)
    queries = [e["leaf"] for e in after if e["leaf"]["action"] == "audit.query"]
    assert queries
    assert queries[0]["actor_id"] == auditor.client_id
    assert queries[0]["outcome"] == "success"


def test_an_event_comes_with_an_inclusion_proof_against_a_signed_checkpoint(
    hub: Hub, auditor: RegisteredClient
) -> None:
    keys = _get(hub, auditor, "/api/v1/audit/keys").json()
    verifier = NoteVerifier.from_encoded(keys["keys"][0]["verifier_key"])
    response = _get(hub, auditor, "/api/v1/audit/events/0")
    assert response.status_code == 200
    body = response.json()
    checkpoint = open_checkpoint(body["checkpoint"]["note"], verifier)
    assert checkpoint.tree_size == body["tree_size"] == body["checkpoint"]["tree_size"]
    assert checkpoint.root_hash == _b64(body["checkpoint"]["root_hash"])
    merkle.verify_inclusion(
        leaf_index=0,
        tree_size=body["tree_size"],
        leaf_hash=hashlib.sha256(b"\x00" + rfc8785.dumps(body["event"]["leaf"])).digest(),
        proof=[_b64(h) for h in body["hashes"]],
        root=checkpoint.root_hash,
    )


def test_consistency_proofs_link_checkpoints(hub: Hub, auditor: RegisteredClient) -> None:
    first = _get(hub, auditor, "/api/v1/audit/checkpoints/latest").json()
    hub.token(auditor)
    # An event newer than the latest checkpoint: its proof comes with a checkpoint signed now.
    newer = first["tree_size"]
    second = _get(hub, auditor, f"/api/v1/audit/events/{newer}").json()["checkpoint"]
    assert second["tree_size"] > first["tree_size"]
    proof = _get(
        hub,
        auditor,
        "/api/v1/audit/consistency",
        **{"from": first["tree_size"], "to": second["tree_size"]},
    ).json()
    assert (proof["from"], proof["to"]) == (first["tree_size"], second["tree_size"])
    merkle.verify_consistency(
        size1=first["tree_size"],
        size2=second["tree_size"],
        root1=_b64(first["root_hash"]),
        root2=_b64(second["root_hash"]),
        proof=[_b64(h) for h in proof["hashes"]],
    )


def test_the_keys_are_published_as_signed_note_verifier_keys(
    hub: Hub, auditor: RegisteredClient
) -> None:
    body = _get(hub, auditor, "/api/v1/audit/keys").json()
    assert body["origin"] == "127.0.0.1:8000/audit"
    (key,) = body["keys"]
    verifier = NoteVerifier.from_encoded(key["verifier_key"])
    assert verifier.public_key == _b64(key["public_key"])
    assert f"{verifier.key_id:08x}" == key["key_id"]
    assert key["current"] is True


def test_a_rotated_audit_key_stays_published(hub: Hub, auditor: RegisteredClient) -> None:
    old = _get(hub, auditor, "/api/v1/audit/checkpoints/latest").json()
    with db.transaction(hub.services.engine) as session:
        hub.services.audit.keys.rotate(session)
    keys = _get(hub, auditor, "/api/v1/audit/keys").json()["keys"]
    assert len(keys) == 2
    verifiers = [NoteVerifier.from_encoded(k["verifier_key"]) for k in keys]
    open_note(old["note"], verifiers)  # the old checkpoint still verifies
    # The /keys query above was recorded after the old checkpoint's tree: its proof needs a
    # new checkpoint, which the new key signs.
    after = old["tree_size"] + 1
    new = _get(hub, auditor, f"/api/v1/audit/events/{after}").json()["checkpoint"]
    _, signed_by = open_note(new["note"], verifiers)
    assert signed_by == [verifiers[0]]


def test_paging_with_filters_and_cursor(hub: Hub, auditor: RegisteredClient) -> None:
    iom = hub.register(organisation="IOM")
    for _ in range(5):
        hub.token(iom)
    token = hub.token(auditor)
    headers = {"Authorization": f"Bearer {token}"}
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"organisation": "IOM", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = hub.client.get("/api/v1/audit/events", params=params, headers=headers).json()
        seen += [e["seq"] for e in page["items"]]
        assert all(e["leaf"]["organisation"] == "IOM" for e in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen)
    other = hub.client.get(
        "/api/v1/audit/events",
        params={"organisation": "DTV", "cursor": _first_cursor(hub, headers)},
        headers=headers,
    )
    assert other.status_code == 400
    assert other.headers["content-type"] == "application/problem+json"
    assert "another query" in other.json()["detail"]


def _first_cursor(hub: Hub, headers: dict[str, str]) -> str:
    page = hub.client.get(
        "/api/v1/audit/events", params={"organisation": "IOM", "limit": 1}, headers=headers
    ).json()
    cursor: str = page["next_cursor"]
    return cursor


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/api/v1/audit/events", {"since": "yesterday"}, 422, "since"),
        ("/api/v1/audit/events", {"action": "document.teleport"}, 422, "action"),
        ("/api/v1/audit/events", {"outcome": "maybe"}, 422, "outcome"),
        ("/api/v1/audit/events", {"since": "2026-11-02T00:00:00"}, 422, "with an offset"),
        (
            "/api/v1/audit/events",
            {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
            422,
            "since must not be later",
        ),
        ("/api/v1/audit/events", {"limit": 501}, 422, "limit"),
        ("/api/v1/audit/events", {"cursor": "%%%not-ours"}, 400, "cursor"),
        ("/api/v1/audit/events/123456789", {}, 404, "no audit event"),
        ("/api/v1/audit/events/-1", {}, 422, "seq"),
        ("/api/v1/audit/consistency", {"from": 5, "to": 3}, 422, "must not be larger"),
        ("/api/v1/audit/consistency", {"from": 0, "to": 3}, 422, "from"),
        ("/api/v1/audit/consistency", {"from": 1, "to": 10**9}, 422, "larger than the log"),
        ("/api/v1/audit/export", {"format": "xml"}, 422, "format"),
        ("/api/v1/audit/export", {"format": "csv", "separator": "tab"}, 422, "separator"),
        ("/api/v1/audit/export", {"format": "csv", "bom": "maybe"}, 422, "bom"),
    ],
)
def test_bad_input_gets_a_problem_document(  # noqa: PLR0917 - parametrized
    hub: Hub, auditor: RegisteredClient, path: str, params: dict[str, Any], status: int, words: str
) -> None:
    response = _get(hub, auditor, path, **params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert words in json.dumps(response.json())


def test_refused_queries_are_recorded_too(hub: Hub, auditor: RegisteredClient) -> None:
    assert _get(hub, auditor, "/api/v1/audit/events/987654").status_code == 404
    refused = [e["leaf"] for e in _events(hub, auditor, outcome="not_found")]
    assert refused[-1]["action"] == "audit.query"
    assert refused[-1]["resource_type"] == "audit_event"


def test_only_auditors_read_the_trail_and_the_refusal_is_recorded(
    hub: Hub, auditor: RegisteredClient
) -> None:
    iom = hub.register(organisation="IOM", scopes="documents:read documents:write")
    response = _get(hub, iom, "/api/v1/audit/events")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    denied = _events(hub, auditor, outcome="denied", action="audit.query")
    assert denied[-1]["leaf"]["actor_id"] == iom.client_id


def test_auditors_read_nothing_but_the_trail(hub: Hub, auditor: RegisteredClient) -> None:
    refused = hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "documents:read"},
        auth=(auditor.client_id, auditor.secret or ""),
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"


def test_jsonl_export_streams_every_event_exactly(hub: Hub, auditor: RegisteredClient) -> None:
    response = _get(hub, auditor, "/api/v1/audit/export", format="jsonl")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jsonl"
    assert "attachment" in response.headers["content-disposition"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [e["seq"] for e in lines] == list(range(len(lines)))
    for item in lines:
        digest = hashlib.sha256(b"\x00" + rfc8785.dumps(item["leaf"])).digest()
        assert _b64(item["leaf_hash"]) == digest


def test_csv_export_has_a_header_and_defuses_formulas(
    hub: Hub, auditor: RegisteredClient, engine: Engine
) -> None:
    with db.transaction(engine) as session:
        Recorder(hub.services.audit, Context.new()).record(
            session, Action.AUDIT_QUERY, NOTHING, detail="=HYPERLINK(1)"
        )
    response = _get(hub, auditor, "/api/v1/audit/export", format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0])[:4] == ["seq", "leaf_hash", "status", "time"]
    assert any(r["detail"] == "'=HYPERLINK(1)" for r in rows)


def test_every_csv_row_hashes_to_its_leaf_hash(
    hub: Hub, auditor: RegisteredClient, engine: Engine
) -> None:
    """Only text columns are escaped, and a reader that drops one leading ``'`` from them gets
    the leaf back: hashes that start with ``+`` stay as they are (issue 11)."""
    with db.transaction(engine) as session:
        recorder = Recorder(hub.services.audit, Context.new())
        for detail in ("=1+1", "'quoted", "''twice", "+31 20", "-", "@home", "plain"):
            recorder.record(session, Action.AUDIT_QUERY, NOTHING, detail=detail)
    for _ in range(30):  # until a leaf hash starts with + (1 in 64 do)
        with db.transaction(engine) as session:
            for index in range(64):
                recorder.record(session, Action.AUDIT_QUERY, NOTHING, detail=f"event {index}")
        response = _get(hub, auditor, "/api/v1/audit/export", format="csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        if any(r["leaf_hash"].startswith("+") for r in rows):
            break
    else:  # pragma: no cover - 1920 events without one: chance about 1e-13
        pytest.fail("no leaf hash starting with +")
    details = {r["detail"] for r in rows}
    assert details >= {"'=1+1", "''quoted", "'''twice", "'+31 20", "'-", "'@home", "plain"}
    _assert_rows_hash_to_their_leaves(rows)


def _assert_rows_hash_to_their_leaves(rows: list[dict[str, str]]) -> None:
    """Each CSV row, with one leading ``'`` dropped from its text cells, is its leaf."""
    for row in rows:
        leaf: dict[str, str | int] = {"seq": int(row["seq"])}
        for name in CSV_COLUMNS[3:]:
            value = row[name]
            if name in CSV_TEXT_COLUMNS and value.startswith("'"):
                value = value[1:]
            if value:
                leaf[name] = value
        digest = hashlib.sha256(b"\x00" + rfc8785.dumps(leaf)).digest()
        assert _b64(row["leaf_hash"]) == digest, row


def test_the_dutch_excel_csv_has_semicolons_and_a_bom(
    hub: Hub, auditor: RegisteredClient, engine: Engine
) -> None:
    with db.transaction(engine) as session:
        recorder = Recorder(hub.services.audit, Context.new())
        for detail in ("a;b", "=SUM(A1;A2)", 'quote "x"', "één"):
            recorder.record(session, Action.AUDIT_QUERY, NOTHING, detail=detail)
    response = _get(
        hub, auditor, "/api/v1/audit/export", format="csv", separator="semicolon", bom="true"
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbfseq;leaf_hash;status;time;")
    decoded = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(decoded, newline=""), delimiter=";"))
    assert len(rows) > 5
    details = {r["detail"] for r in rows}
    assert details >= {"a;b", "'=SUM(A1;A2)", 'quote "x"', "één"}
    _assert_rows_hash_to_their_leaves(rows)


def test_the_comma_csv_has_no_bom_unless_asked(hub: Hub, auditor: RegisteredClient) -> None:
    plain = _get(hub, auditor, "/api/v1/audit/export", format="csv")
    assert plain.content.startswith(b"seq,leaf_hash,status,time,")
    marked = _get(hub, auditor, "/api/v1/audit/export", format="csv", bom="true")
    assert marked.content.startswith(b"\xef\xbb\xbfseq,leaf_hash,")
    jsonl = _get(hub, auditor, "/api/v1/audit/export", format="jsonl", bom="true")
    assert jsonl.content.startswith(b'{"seq":0,')


def test_an_export_newest_first_holds_the_same_events(hub: Hub, auditor: RegisteredClient) -> None:
    for _ in range(3):
        hub.token(auditor)
    oldest = _get(hub, auditor, "/api/v1/audit/export", format="jsonl", action="token.issue")
    newest = _get(
        hub, auditor, "/api/v1/audit/export", format="jsonl", action="token.issue", order="desc"
    )
    forward = [json.loads(line)["seq"] for line in oldest.text.splitlines()]
    backward = [json.loads(line)["seq"] for line in newest.text.splitlines()]
    assert len(forward) >= 4
    # The second export also holds the token issued for it.
    assert backward[1:] == forward[::-1]


def test_subject_report_finds_a_person_by_pseudonym_only(
    hub: Hub, auditor: RegisteredClient, engine: Engine
) -> None:
    with db.transaction(engine) as session:
        Recorder(hub.services.audit, Context.new()).record(
            session, Action.DOCUMENT_DOWNLOAD, NOTHING.of(v_number=V_NUMBER)
        )
    token = hub.token(auditor)
    response = hub.client.post(
        "/api/v1/audit/subject-report",
        json={"v_number": V_NUMBER},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data_subject_id_type"] == "vreemdelingennummer"
    assert V_NUMBER not in response.text
    assert [e["leaf"]["action"] for e in body["items"]] == ["document.download"]
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM audit_event")).all()
    assert all(V_NUMBER not in json.dumps([str(v) for v in row]) for row in stored)
    reports = [e["leaf"] for e in _events(hub, auditor, action="audit.subject_report")]
    assert reports[-1]["data_subject_id"] == body["data_subject_id"]


@pytest.mark.parametrize(
    "body",
    [{"v_number": "12345"}, {"v_number": 1234567890}, {}, {"v_number": "1234567890", "x": 1}],
)
def test_subject_report_refuses_bad_bodies(
    hub: Hub, auditor: RegisteredClient, body: dict[str, Any]
) -> None:
    token = hub.token(auditor)
    response = hub.client.post(
        "/api/v1/audit/subject-report", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422
    assert "1234567890" not in response.text or "v_number" not in body


def test_when_the_audit_write_fails_the_request_fails(hub: Hub, engine: Engine) -> None:
    iom = hub.register(organisation="IOM")
    _break_audit_writes(engine)
    response = hub.token_response(iom)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "access_token" not in response.text
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM oauth_used_assertion")).scalar() == 0


def _break_audit_writes(engine: Engine) -> None:
    """Make every insert into audit_event fail in the database, as a full disk would."""
    if engine.dialect.name == "sqlite":
        execute(
            engine,
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END",
        )
    else:
        execute(
            engine,
            "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit storage unavailable'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION no_audit()",
        )


def test_when_the_audit_write_fails_no_audit_read_is_served(
    hub: Hub, auditor: RegisteredClient, engine: Engine
) -> None:
    token = hub.token(auditor)
    _break_audit_writes(engine)
    response = hub.client.get("/api/v1/audit/events", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "items" not in response.text
