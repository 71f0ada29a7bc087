"""Receipts that prove delivery (issue 14 item 2), on both backends.

An upload's and a download's audit leaf holds the SHA-256 and size of the document's whole
content, and a range download also the bytes it served; every answer carries the whole signed
receipt, which an independent checker (:mod:`tests.fixtures.receipts`, nothing of
:mod:`audit`) verifies with the published audit key and ties to the stored leaf.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from typing import Any, Final

import httpx
import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.auditing.queries import CSV_TEXT_COLUMNS
from hub.auditing.repository import leaf_of
from tests.fixtures.documents import API, DocumentHub, pdf
from tests.fixtures.receipts import check_receipt, leaf_hash

V_NUMBER: Final = "2345678901"


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    """One hub per backend for this module (see ``module_documents_hub``)."""
    return module_documents_hub


def _verifier_key(documents_hub: DocumentHub) -> str:
    (verifier, *_) = documents_hub.hub.services.audit.verifiers
    return verifier.encoded()


def _leaf(documents_hub: DocumentHub, seq: int) -> dict[str, Any]:
    with Session(documents_hub.hub.services.engine) as session:
        row = session.get(AuditEvent, seq)
        assert row is not None
        return leaf_of(row)


def _header_receipt(documents_hub: DocumentHub, response: httpx.Response) -> dict[str, Any]:
    """The leaf the answer's receipt headers vouch for, after checking them independently."""
    note = base64.b64decode(response.headers["audit-receipt"], validate=True).decode("utf-8")
    checked = check_receipt(note, _verifier_key(documents_hub))
    assert str(checked.seq) == response.headers["audit-seq"]
    assert base64.b64encode(checked.leaf_hash).decode() == response.headers["audit-leaf-hash"]
    leaf = _leaf(documents_hub, checked.seq)
    assert leaf_hash(leaf) == checked.leaf_hash
    return leaf


def test_an_upload_receipt_proves_the_bytes_received(documents_hub: DocumentHub) -> None:
    content = pdf(70_000, seed=21)
    uploaded = documents_hub.uploaded("IOM", content, v_number=V_NUMBER)
    receipt = uploaded["receipt"]
    checked = check_receipt(receipt["note"], _verifier_key(documents_hub))
    assert (checked.seq, base64.b64encode(checked.leaf_hash).decode()) == (
        receipt["seq"],
        receipt["leaf_hash"],
    )
    leaf = _leaf(documents_hub, checked.seq)
    assert leaf_hash(leaf) == checked.leaf_hash
    assert leaf["action"] == "document.upload"
    assert leaf["resource_id"] == uploaded["id"]
    assert leaf["content_sha256"] == hashlib.sha256(content).hexdigest() == uploaded["sha256"]
    assert leaf["content_size"] == len(content) == uploaded["size"]
    assert "range" not in leaf


def test_a_download_receipt_proves_the_whole_content_served(documents_hub: DocumentHub) -> None:
    content = pdf(80_000, seed=22)
    document_id = documents_hub.uploaded("IOM", content, v_number=V_NUMBER)["id"]
    download = documents_hub.content("DTV", document_id)
    assert download.status_code == 200
    leaf = _header_receipt(documents_hub, download)
    assert (leaf["action"], leaf["outcome"], leaf["organisation"]) == (
        "document.download",
        "success",
        "DTV",
    )
    assert leaf["content_sha256"] == hashlib.sha256(download.content).hexdigest()
    assert leaf["content_size"] == len(download.content) == len(content)
    assert "range" not in leaf


def test_a_range_download_receipt_names_the_bytes_served(documents_hub: DocumentHub) -> None:
    content = pdf(90_000, seed=23)
    document_id = documents_hub.uploaded("IOM", content, v_number=V_NUMBER)["id"]
    part = documents_hub.content("DTV", document_id, Range="bytes=1000-1999")
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(content)}"
    leaf = _header_receipt(documents_hub, part)
    # The whole content's hash and size, so the partner can check what it puts together ...
    assert leaf["content_sha256"] == hashlib.sha256(content).hexdigest()
    assert leaf["content_size"] == len(content)
    # ... and which bytes this answer delivered.
    assert leaf["range"] == "1000-1999"
    tail = documents_hub.content("DTV", document_id, Range="bytes=-10")
    assert (
        _header_receipt(documents_hub, tail)["range"] == f"{len(content) - 10}-{len(content) - 1}"
    )


def test_a_304_and_a_head_carry_a_receipt_of_a_read_without_content(
    documents_hub: DocumentHub,
) -> None:
    content = pdf(10_000, seed=24)
    uploaded = documents_hub.uploaded("IOM", content, v_number=V_NUMBER)
    not_modified = documents_hub.content(
        "DTV", uploaded["id"], **{"If-None-Match": f'"{uploaded["sha256"]}"'}
    )
    assert not_modified.status_code == 304
    head = documents_hub.client.head(
        f"{API}/documents/{uploaded['id']}/content", headers=documents_hub.auth("DTV")
    )
    assert head.status_code == 200
    for answer in (not_modified, head):
        leaf = _header_receipt(documents_hub, answer)
        assert leaf["action"] == "document.read"
        assert not {"content_sha256", "content_size", "range"} & set(leaf)


def test_refusals_and_other_events_carry_no_content_fields(documents_hub: DocumentHub) -> None:
    document_id = documents_hub.uploaded("IOM", pdf(5_000, seed=25), v_number=V_NUMBER)["id"]
    assert documents_hub.content("GM0344", document_id).status_code == 404
    deleted = documents_hub.client.delete(
        f"{API}/documents/{document_id}", headers=documents_hub.auth("IOM")
    )
    assert deleted.status_code == 204
    assert _header_receipt(documents_hub, deleted)["action"] == "document.delete"
    with Session(documents_hub.hub.services.engine) as session:
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.resource_id) == document_id)
        ).all()
    carrying = {(e.action, e.outcome) for e in events if e.content_sha256 is not None}
    assert carrying == {("document.upload", "success")}
    assert all(
        e.content_size is None and e.range is None for e in events if e.action != "document.upload"
    )


def test_the_openapi_document_names_the_receipt_headers(documents_hub: DocumentHub) -> None:
    spec = documents_hub.client.get("/openapi.json").json()
    content = spec["paths"]["/api/v1/documents/{document_id}/content"]
    for method, status in (("get", "200"), ("get", "206"), ("get", "304"), ("head", "200")):
        headers = content[method]["responses"][status]["headers"]
        assert {"Audit-Seq", "Audit-Leaf-Hash", "Audit-Receipt"} <= set(headers), (method, status)
    deleted = spec["paths"]["/api/v1/documents/{document_id}"]["delete"]["responses"]["204"]
    assert "Audit-Receipt" in deleted["headers"]


def test_exported_content_fields_rebuild_the_leaf(documents_hub: DocumentHub) -> None:
    """An auditor's export of downloads: each CSV row, with ``content_size`` read back as the
    number it is in the leaf, hashes to its ``leaf_hash`` (docs/api.md)."""
    document_id = documents_hub.uploaded("IOM", pdf(6_000, seed=26), v_number=V_NUMBER)["id"]
    assert documents_hub.content("DTV", document_id, Range="bytes=0-99").status_code == 206
    auditor = documents_hub.auth("DTV", "audit:read")
    exported = documents_hub.client.get(
        f"{API}/audit/export",
        params={"format": "csv", "document_id": document_id},
        headers=auditor,
    )
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    assert {r["action"] for r in rows} >= {"document.upload", "document.download"}
    for row in rows:
        leaf: dict[str, Any] = {"seq": int(row["seq"])}
        for name, cell in list(row.items())[3:]:
            value = cell[1:] if name in CSV_TEXT_COLUMNS and cell.startswith("'") else cell
            if value:
                leaf[name] = int(value) if name == "content_size" else value
        assert base64.b64encode(leaf_hash(leaf)).decode() == row["leaf_hash"], row
    [ranged] = [r for r in rows if r["range"]]
    assert ranged["range"] == "0-99"
