"""Receipts of a real hub process, verified by the partner client and by a second, independent
checker written in this file.

The hub runs as an operator runs it (``ketenhub serve``, :func:`tests.fixtures.served.served_hub`).
IOM's system uploads a document and downloads it again; the receipts it gets (the upload's
body, the download's ``Audit-*`` headers) are checked by :func:`verify_receipt` through the
SDK's :class:`~ketenhub_client.hub.Hub` (tokens by ``private_key_jwt``), twice, so the second
run proves consistency with the checkpoint the first one kept.

The audit reads go through the uploader's own client, as a partner's would: any authenticated
caller reads the keys, checkpoints and consistency proofs, and the events it was the actor of.

Why a second checker, and why this one: the client's code was written against the hub's, so a
shared misreading of a specification would pass both. The checker below is a direct
transcription of RFC 9162's own verification algorithms (§2.1.3.2 inclusion, §2.1.4.2
consistency; the client follows transparency-dev's different decomposition), RFC 8785 through
Trail of Bits' ``rfc8785`` package (neither the hub's nor the client's JCS), and Ed25519 through
``cryptography`` directly on the key bytes from ``public_key``, with the note split by hand per
C2SP signed-note. sigstore-python's Merkle code was considered: it verifies Rekor entries only,
through its private API, and has no consistency proof, so it cannot check this log.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ketenhub_client.credentials import ClientKey
from ketenhub_client.errors import HubRefused
from ketenhub_client.hub import Hub
from ketenhub_client.output import Output
from ketenhub_client.receipt_command import receipt_verify
from ketenhub_client.receipts import Receipt, ReceiptVerification, verify_receipt
from ketenhub_client.witness import WitnessState, open_witness, state_path
from tests.fixtures.served import ServedHub

_UPLOADER = "demo-iom"
CONTENT = b"%PDF-1.7\n" + bytes(range(256)) * 512 + b"\n%%EOF\n"


# --- the independent checker (RFC 9162, RFC 8785, C2SP signed-note) --------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def rfc9162_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, path: list[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    if leaf_index >= tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _h(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def rfc9162_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2, step by step (for first < second)."""
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _h(b"\x01" + c + fr)
            sr = _h(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def signed_note_text(note: str, name: str, public_key: bytes) -> str:
    """The text of ``note`` if ``name``'s Ed25519 key signed it (C2SP signed-note), else fail."""
    key_id = _h(name.encode() + b"\n\x01" + public_key)[:4]
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        signer, _, sig64 = line.removeprefix("\u2014 ").partition(" ")
        raw = base64.b64decode(sig64)
        if signer == name and raw[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(public_key).verify(raw[4:], text.encode())
            return text
    pytest.fail(f"no signature of {name} on the note")


def check_independently(
    reader: Hub, receipt: Receipt, content: bytes, kept: tuple[int, bytes] | None
) -> tuple[int, bytes]:
    """Everything :func:`verify_receipt` checks, the second way; the checkpoint it saw."""
    keys = reader.audit_keys()
    (key,) = [k for k in keys["keys"] if k["current"]]
    name, public_key = key["name"], base64.b64decode(key["public_key"])
    origin, seq_line, leaf_line = signed_note_text(receipt.note, name, public_key).splitlines()
    assert (origin, seq_line) == (f"{keys['origin']}/receipt", f"seq {receipt.seq}")
    leaf_hash = base64.b64decode(leaf_line.removeprefix("leaf "))
    assert base64.b64encode(leaf_hash).decode() == receipt.leaf_hash

    proof = reader.audit_event(receipt.seq)
    leaf = proof["event"]["leaf"]
    assert _h(b"\x00" + rfc8785.dumps(leaf)) == leaf_hash
    assert leaf["content_sha256"] == hashlib.sha256(content).hexdigest()
    assert leaf["content_size"] == len(content)

    checkpoint = signed_note_text(proof["checkpoint"]["note"], name, public_key).splitlines()
    size, root = int(checkpoint[1]), base64.b64decode(checkpoint[2])
    assert checkpoint[0] == keys["origin"]
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    assert rfc9162_inclusion(receipt.seq, size, leaf_hash, hashes, root)
    if kept is not None and kept[0] < size:
        answer = reader.audit_consistency(kept[0], size)
        path = [base64.b64decode(h) for h in answer["hashes"]]
        assert rfc9162_consistency(kept[0], size, kept[1], root, path)
    return size, root


# --- the hub, its clients ----------------------------------------------------------------


def _client(served_hub: ServedHub, client_id: str) -> Hub:
    credentials = json.loads((served_hub.data_dir / "demo-credentials.json").read_text())
    (entry,) = [c for c in credentials["clients"] if c["client_id"] == client_id]
    return Hub(served_hub.base_url, client_id, ClientKey.from_jwk(entry["private_jwk"]))


@pytest.fixture
def reader(served_hub: ServedHub) -> Any:
    with _client(served_hub, _UPLOADER) as hub:
        yield hub


def _download(served_hub: ServedHub, token: str, document_id: str) -> tuple[bytes, Receipt]:
    response = httpx.get(
        f"{served_hub.base_url}/api/v1/documents/{document_id}/content",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.content, Receipt.from_headers(response.headers)


def _verify(reader: Hub, receipt: Receipt, state_dir: Path, file: Path) -> ReceiptVerification:
    with open_witness(reader.base_url, state_dir) as state:
        return verify_receipt(reader, receipt, state=state, file=file)


def test_upload_and_download_receipts_verify_both_ways(
    served_hub: ServedHub, reader: Hub, tmp_path: Path
) -> None:
    token = served_hub.token(_UPLOADER, "documents:read documents:write")
    content = tmp_path / "document.pdf"
    content.write_bytes(CONTENT)
    state_dir = tmp_path / "witness"

    uploaded = served_hub.upload(token, CONTENT)
    upload_receipt = Receipt.from_json(uploaded["receipt"])
    first = _verify(reader, upload_receipt, state_dir, content)
    assert first.ok, first.checks
    assert [c.name for c in first.checks if c.status == "passed"][-2:] == [
        "consistency",
        "content",
    ]
    assert first.event is not None
    assert first.event["action"] == "document.upload"
    seen = check_independently(reader, upload_receipt, CONTENT, None)

    body, download_receipt = _download(served_hub, token, uploaded["id"])
    assert body == CONTENT
    assert download_receipt.seq > upload_receipt.seq
    second = _verify(reader, download_receipt, state_dir, content)
    assert second.ok, second.checks
    assert second.event is not None
    assert second.event["action"] == "document.download"
    assert "extends the kept one" in second.checks[6].detail
    check_independently(reader, download_receipt, CONTENT, seen)

    state = WitnessState.load(state_path(reader.base_url, state_dir), reader.base_url)
    (view,) = state.logs.values()
    assert view.checkpoint is not None
    assert view.checkpoint.checkpoint.size == second.checkpoint_size


def test_a_receipt_altered_after_the_hub_signed_it_fails_on_the_real_hub(
    served_hub: ServedHub, reader: Hub, tmp_path: Path
) -> None:
    token = served_hub.token(_UPLOADER, "documents:read documents:write")
    receipt = Receipt.from_json(served_hub.upload(token, CONTENT)["receipt"])
    other = tmp_path / "other.pdf"
    other.write_bytes(CONTENT + b" ")
    wrong_file = _verify(reader, receipt, tmp_path / "witness", other)
    assert [c.error for c in wrong_file.checks if c.status == "failed"] == ["ContentMismatch"]

    earlier = Receipt(receipt.seq - 1, receipt.leaf_hash, receipt.note)
    forged = _verify(reader, earlier, tmp_path / "witness", other)
    assert [c.error for c in forged.checks if c.status == "failed"] == ["LeafMismatch"]


def test_receipt_verify_reports_a_real_upload_as_one_json_document(
    served_hub: ServedHub, reader: Hub, tmp_path: Path
) -> None:
    token = served_hub.token(_UPLOADER, "documents:read documents:write")
    uploaded = served_hub.upload(token, CONTENT)
    content = tmp_path / "document.pdf"
    content.write_bytes(CONTENT)
    out, err = io.StringIO(), io.StringIO()
    code = receipt_verify(
        reader,
        json.dumps(uploaded),  # the upload's answer as the hub sent it
        output=Output(json_mode=True, stdout=out, stderr=err),
        content=content,
        state_dir=tmp_path / "witness",
    )
    assert (code, err.getvalue()) == (0, "")
    document = json.loads(out.getvalue())
    (only,) = document["receipts"]
    assert document["ok"] is True
    assert [check["status"] for check in only["checks"]] == ["passed"] * 8
    assert only["event"]["resource_id"] == uploaded["id"]


def test_another_partys_receipt_cannot_be_checked_against_its_event(
    served_hub: ServedHub, tmp_path: Path
) -> None:
    # The leaf is the actor's: a gemeente holding IOM's receipt learns nothing from the hub.
    token = served_hub.token(_UPLOADER, "documents:read documents:write")
    receipt = Receipt.from_json(served_hub.upload(token, CONTENT)["receipt"])
    with _client(served_hub, "demo-gm0363") as other, pytest.raises(HubRefused) as refused:
        _verify(other, receipt, tmp_path, tmp_path / "absent")
    assert refused.value.status == 403
    assert refused.value.exit_code == 2
