"""API8:2023 Security Misconfiguration: what the hub gives away when input is odd or it is
unwell.

- Dates at the edge of the calendar (years 0001 and 9999 with an offset that pushes them past
  it) and forged cursors (a ``seq`` of 2^63, positions of the wrong type) answered 500 with a
  traceback; every one is now a 4xx problem document, on SQLite and PostgreSQL alike.
- The CSV export put ``'`` before leaf hashes that start with ``+`` (its CSV-injection escape),
  so one row in 64 no longer verified; only text a caller can influence is escaped now, and
  every exported row hashes to its ``leaf_hash``.
- ``/readyz`` without a token named absolute file paths when a check failed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from audit.events import leaf_hash_of
from hub.auditing.queries import CSV_COLUMNS
from hub.auditing.repository import EventFilter
from tests.fixtures.databases import PostgresDatabases
from tests.security.conftest import SecurityHub, start_hub

API = "/api/v1"
PROBLEM = "application/problem+json"


def _problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM, response.headers
    body: dict[str, Any] = response.json()
    return body


# -- out-of-range dates --------------------------------------------------------------------------

EDGE_DATES = (
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-10:00",  # after year 9999 in UTC
    "0001-01-01T00:00:00+14:00",
)


def test_dates_at_the_edge_of_the_calendar_are_422_not_500(hub: SecurityHub) -> None:
    """Out-of-range dates in every date parameter: 422 problem+json naming the field, never
    500 and no traceback in the log (OWASP API8:2023; ASVS 5.0 V2.2.1 input validated against
    expected ranges, V16.5.1 generic error messages without internals)."""
    mark = hub.log_mark()
    iom, auditor = hub.auth("demo-iom"), hub.auth("demo-auditor")
    with httpx.Client(base_url=hub.base_url, timeout=30) as client:
        for moment in EDGE_DATES:
            answers = [
                client.post(
                    f"{API}/shares",
                    json={
                        "grantee": "GM0363",
                        "v_number": "1234567890",
                        "document_types": ["travel_document"],
                        "purpose": "terugkeer",
                        "expires_at": moment,
                    },
                    headers=iom,
                ),
                client.get(f"{API}/documents", params={"created_since": moment}, headers=iom),
                client.get(f"{API}/documents", params={"created_until": moment}, headers=iom),
                client.post(
                    f"{API}/documents/search",
                    json={"v_number": "1234567890", "created_until": moment},
                    headers=iom,
                ),
                client.get(f"{API}/audit/events", params={"since": moment}, headers=auditor),
                client.get(f"{API}/audit/events", params={"until": moment}, headers=auditor),
                client.get(
                    f"{API}/audit/export",
                    params={"since": moment, "format": "csv"},
                    headers=auditor,
                ),
            ]
            for answer in answers:
                body = _problem(answer, 422)
                assert "range" in json.dumps(body), body
    hub.assert_no_traceback_since(mark)


# -- forged cursors ------------------------------------------------------------------------------


def _fingerprint(query: Any) -> str:
    """What the hub's cursors carry: anyone can compute it, the hash is not keyed."""
    raw = json.dumps(query, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _cursor(after: Any, query: Any) -> str:
    raw = json.dumps({"after": after, "query": _fingerprint(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_forged_cursors_are_refused_not_500(hub: SecurityHub) -> None:
    """Cursors forged with the right query fingerprint but a position the hub never issues
    (seq 2^63 and beyond, negative, wrong types, times past the calendar, a NUL byte), and
    garbage base64, on every paginated route: 400 problem+json ("not a cursor this API
    issued", as docs/api.md says), never 500 (OWASP API8:2023; ASVS 5.0 V2.2.1, V16.5.1)."""
    mark = hub.log_mark()
    iom, auditor, admin = hub.auth("demo-iom"), hub.auth("demo-auditor"), hub.auth("demo-admin")
    audit_query = astuple(EventFilter())
    documents_query = {"filter": ["None"] * 4, "org": "IOM"}
    shares_query = {"role": None, "active": False, "org": "IOM"}
    some_id = str(uuid.uuid4())
    garbage = ["!!!!", "e30", base64.urlsafe_b64encode(b"\xff\xfe").decode()]
    seqs = [2**63, 2**63 + 1, 2**64, 2**53 + 1, -1, 1.5, "7", [1], True]
    positions: list[Any] = [
        ["0001-01-01T00:00:00+01:00", some_id],
        ["9999-12-31T23:59:59-10:00", some_id],
        ["2026-01-01T00:00:00+00:00", 5],
        ["2026-01-01T00:00:00+00:00", "not-a-uuid"],
        ["2026-01-01T00:00:00+00:00\x00", some_id],
        [None, None],
        {"a": 1, "b": 2},
        "ab",
    ]
    with httpx.Client(base_url=hub.base_url, timeout=30) as client:
        report = client.post(
            f"{API}/audit/subject-report", json={"v_number": "1234567890"}, headers=auditor
        )
        assert report.status_code == 200, report.text
        subject_query = astuple(EventFilter(data_subject_id=report.json()["data_subject_id"]))
        answers: list[httpx.Response] = []
        for after in seqs:
            answers.append(
                client.get(
                    f"{API}/audit/events",
                    params={"cursor": _cursor(after, audit_query)},
                    headers=auditor,
                )
            )
            answers.append(
                client.post(
                    f"{API}/audit/subject-report",
                    json={"v_number": "1234567890", "cursor": _cursor(after, subject_query)},
                    headers=auditor,
                )
            )
        for position in positions:
            answers.append(
                client.get(
                    f"{API}/documents",
                    params={"cursor": _cursor(position, documents_query)},
                    headers=iom,
                )
            )
            answers.append(
                client.get(
                    f"{API}/shares",
                    params={"cursor": _cursor(position, shares_query)},
                    headers=iom,
                )
            )
        answers.extend(
            client.get(
                f"{API}/organisations",
                params={"cursor": _cursor(code, "organisations")},
                headers=admin,
            )
            for code in ["GM\x000363", "x" * 60, 5, ["DTV"]]
        )
        for text in garbage:
            for path, headers in (
                ("/audit/events", auditor),
                ("/documents", iom),
                ("/shares", iom),
                ("/organisations", admin),
            ):
                answers.append(client.get(f"{API}{path}", params={"cursor": text}, headers=headers))
    for index, answer in enumerate(answers):
        assert answer.status_code == 400, (index, answer.request.url, answer.text)
        _problem(answer, 400)
    hub.assert_no_traceback_since(mark)


# -- the CSV export ------------------------------------------------------------------------------


# The columns that can carry text a caller chose (docs/api.md): only these are escaped against
# spreadsheet formulas, by a leading ' that a reader drops. Times, hashes, ids, outcomes and
# numbers are exported exactly as the leaf holds them.
TEXT_COLUMNS = frozenset(
    {
        "actor_id",
        "organisation",
        "resource_type",
        "resource_id",
        "processing_activity_id",
        "policy_rule",
        "source_address",
        "detail",
    }
)


NUMBER_COLUMNS: Final = frozenset({"content_size"})


def leaf_of_csv_row(row: dict[str, str]) -> dict[str, str | int]:
    """The leaf an exported row stands for, as an auditor's own tool would rebuild it."""
    leaf: dict[str, str | int] = {"seq": int(row["seq"])}
    for name in CSV_COLUMNS[3:]:
        value = row[name]
        if name in TEXT_COLUMNS and value.startswith("'"):
            value = value[1:]
        if value:
            # The leaf's numbers (seq above, content_size) are JSON numbers, so are rebuilt as such.
            leaf[name] = int(value) if name in NUMBER_COLUMNS else value
    return leaf


def _csv_rows(text: str) -> Iterator[dict[str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    assert tuple(header) == CSV_COLUMNS
    for row in reader:
        yield dict(zip(header, row, strict=True))


def test_every_exported_csv_row_verifies(hub: SecurityHub) -> None:
    """Audit events are made until one's leaf hash starts with ``+`` (1 in 64); then every
    row of the CSV export rebuilds its leaf, hashes to its ``leaf_hash`` and agrees with the
    JSON Lines export (OWASP API8:2023; ASVS 5.0 V1.2.10 CSV escaping by RFC 4180, with the
    formula escape kept to text a caller chose, so that it alters no hash)."""
    auditor = hub.auth("demo-auditor")
    since = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    filters = {"since": since, "action": "audit.query"}
    with httpx.Client(base_url=hub.base_url, timeout=60, headers=auditor) as client:
        for _ in range(40):
            for _ in range(25):
                assert client.get(f"{API}/audit/keys").status_code == 200
            page = client.get(f"{API}/audit/events", params={**filters, "limit": 500}).json()
            if any(item["leaf_hash"].startswith("+") for item in page["items"]):
                break
        else:  # pragma: no cover - 1000 events without one such hash: chance below 1e-6
            pytest.fail("no leaf hash starting with + among 1000 events")
        exported = client.get(f"{API}/audit/export", params={**filters, "format": "csv"})
        lines = client.get(f"{API}/audit/export", params={**filters, "format": "jsonl"})
    assert exported.status_code == lines.status_code == 200
    expected = {
        event["seq"]: event for event in (json.loads(line) for line in lines.text.splitlines())
    }
    rows = list(_csv_rows(exported.text))
    assert len(rows) == len(expected) > 25
    assert any(row["leaf_hash"].startswith(("+", "'+")) for row in rows)
    for row in rows:
        event = expected[int(row["seq"])]
        assert row["leaf_hash"] == event["leaf_hash"], row
        leaf = leaf_of_csv_row(row)
        assert leaf == event["leaf"], row
        assert base64.b64encode(leaf_hash_of(leaf)).decode() == row["leaf_hash"]


# -- /readyz -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_hub(
    tmp_path_factory: pytest.TempPathFactory, postgres_databases: PostgresDatabases
) -> Iterator[SecurityHub]:
    """A hub of this module's own, since a test takes its key file away for a moment."""
    root = tmp_path_factory.mktemp("security-readyz")
    with start_hub(root, "sqlite", postgres_databases) as served:
        yield served


def test_readyz_without_a_token_names_no_file_path(own_hub: SecurityHub) -> None:
    """Unauthenticated readiness shows which checks failed and the key ids, never a file path
    or other deployment detail; the reason goes to the log (OWASP API8:2023; ASVS 5.0
    V16.5.1 a failed check answered without internal system data such as paths). SQLite
    only: what the answer shows does not depend on the database."""
    root = str(own_hub.data_dir.parent)
    ready = httpx.get(own_hub.url("/readyz"), timeout=30)
    assert ready.status_code == 200, ready.text
    assert root not in ready.text
    assert "/" not in json.dumps(ready.json()["checks"])
    key_file = own_hub.data_dir / "keys" / "keyring.json"
    moved = key_file.with_name("keyring.moved")
    mark = own_hub.log_mark()
    key_file.rename(moved)
    try:
        failed = httpx.get(own_hub.url("/readyz"), timeout=30)
    finally:
        moved.rename(key_file)
    body = _problem(failed, 503)
    assert body["checks"]["key_ring"] != "ok", body
    text = failed.text
    for leak in (root, str(Path(root).resolve()), "keyring", ".json", "/tmp"):
        assert leak not in text, text
    assert "key_ring" in own_hub.log_since(mark)
    assert httpx.get(own_hub.url("/readyz"), timeout=30).status_code == 200
