"""Uploads with ``ketenhub-client upload``: tus against the served hub, through the relay.

A small file and a 300 MiB scan (the client's memory stays flat: its peak resident size is
read from ``/proc`` and compared with the file's size, not timed), a connection cut in the
middle of a ``PATCH`` (the client asks the hub where it stands and goes on), and the refusals
a partner meets first: a type its organisation may not upload, a file over the type's maximum.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.conftest import PartnerClient, PartnerHub, make_client, pdf, v_number_file

MIB = 1024 * 1024


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for piece in iter(lambda: handle.read(MIB), b""):
            digest.update(piece)
    return digest.hexdigest()


def _document(hub: PartnerHub, client_id: str, document_id: str) -> dict[str, Any]:

    answer = httpx.get(
        hub.served.url(f"/api/v1/documents/{document_id}"),
        headers=hub.served.auth(client_id),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_small_upload_prints_the_document_and_its_receipt(partner: PartnerClient) -> None:
    source = pdf(partner.home / "lp.pdf", 200_000)
    v_file = v_number_file(partner.home, "4444400001")

    result = partner.run(
        "upload",
        str(source),
        "--type",
        "travel_document",
        "--v-number-file",
        str(v_file),
        "--title",
        "Laissez-passer",
        "--no-verify",
    )

    assert result.code == 0, result.stderr
    match = re.search(r"as document ([0-9a-f-]{36})", result.stdout)
    assert match, result.stdout
    stored = _document(partner.hub, "demo-iom", match.group(1))
    assert stored["sha256"] == _sha256(source)
    assert stored["title"] == "Laissez-passer"
    assert stored["v_number"] == "4444400001"
    assert "Receipt: audit event" in result.stdout
    assert "4444400001" not in result.stdout + result.stderr


def test_upload_json_carries_the_receipt_and_what_was_sent(partner: PartnerClient) -> None:
    source = pdf(partner.home / "lp.pdf", 100_000)

    result = partner.run(
        "upload",
        str(source),
        "--type",
        "travel_document",
        "--v-number-file",
        "-",
        "--json",
        "--no-verify",
        stdin="4444400002\n",
    )

    assert result.code == 0, result.stderr
    body = result.json()
    assert body["sha256"] == _sha256(source)
    assert body["size"] == 100_000
    assert set(body["receipt"]) == {"seq", "leaf_hash", "note"}
    assert "v_number" not in body
    events = partner.hub.served.events(action="document.upload", document_id=body["id"])
    (event,) = events
    assert event["seq"] == body["receipt"]["seq"]
    assert event["leaf"]["content_sha256"] == body["sha256"]


def test_a_300_mib_scan_is_uploaded_with_flat_memory(
    partner_hub: PartnerHub, tmp_path: Path
) -> None:
    coa = make_client(partner_hub, "demo-coa", tmp_path / "coa")
    scan = pdf(tmp_path / "dossier.pdf", 300 * MIB)
    v_file = v_number_file(coa.home, "4444400003")
    process = coa.start(
        "upload",
        str(scan),
        "--type",
        "case_info",
        "--v-number-file",
        str(v_file),
        "--json",
        "--no-verify",
    )
    peak = _peak_memory(process)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr
    body = json.loads(stdout)
    assert body["size"] == 300 * MIB
    assert body["sha256"] == _sha256(scan)
    # A client that held the file would need more than its size; this one holds a chunk.
    assert peak < 160 * MIB, f"peak resident memory {peak / MIB:.0f} MiB"
    assert "MiB/s" in stderr
    assert "left" in stderr


def test_a_connection_cut_in_the_middle_of_a_patch_is_resumed(
    partner: PartnerClient,
) -> None:
    source = pdf(partner.home / "lp.pdf", 40 * MIB)
    v_file = v_number_file(partner.home, "4444400004")
    # 20 MiB towards the hub: the first chunks arrive, the next PATCH is cut in its body.
    partner.hub.relay.cut_after(20 * MIB + 12_345, upstream=True)

    result = partner.run(
        "upload",
        str(source),
        "--type",
        "travel_document",
        "--v-number-file",
        str(v_file),
        "--json",
        "--no-verify",
    )

    assert result.code == 0, result.stderr
    body = result.json()
    assert body["sha256"] == _sha256(source)
    stored = _document(partner.hub, "demo-iom", body["id"])
    assert stored["size"] == 40 * MIB


def test_a_type_the_organisation_may_not_upload_exits_2(partner: PartnerClient) -> None:
    source = pdf(partner.home / "decision.pdf", 10_000)

    result = partner.run(
        "upload",
        str(source),
        "--type",
        "decision",
        "--v-number-file",
        "-",
        "--json",
        stdin="4444400005\n",
    )

    assert result.code == 2
    error = result.json()
    assert error["status"] == 403
    assert "decision" in error["problem"]["detail"]


def test_a_file_over_the_types_maximum_is_refused_before_it_is_sent(
    partner: PartnerClient,
) -> None:
    # 256 MiB is travel_document's maximum; a sparse file costs no disk.
    source = partner.home / "huge.pdf"
    with source.open("wb") as handle:
        handle.write(b"%PDF-1.7\n")
        handle.truncate(256 * MIB + 1)

    result = partner.run(
        "upload",
        str(source),
        "--type",
        "travel_document",
        "--v-number-file",
        "-",
        "--json",
        stdin="4444400006\n",
    )

    assert result.code == 2
    assert result.json()["status"] == 413
    assert "MiB/s" not in result.stderr  # not one chunk went


def _peak_memory(process: subprocess.Popen[str]) -> int:
    """The process's peak resident size (VmHWM), read until it exits."""
    status = Path(f"/proc/{process.pid}/status")
    peak = 0
    while process.poll() is None:
        try:
            text = status.read_text()
        except (FileNotFoundError, ProcessLookupError):
            break
        match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
        if match:
            peak = max(peak, int(match.group(1)) * 1024)
        time.sleep(0.05)
    if peak == 0:
        pytest.fail("the upload ended before its memory could be read")
    return peak


def test_an_upload_stopped_by_ctrl_c_goes_on_when_run_again(partner: PartnerClient) -> None:
    source = pdf(partner.home / "scan.pdf", 40 * MIB)
    v_file = v_number_file(partner.home, "4444400007")
    command = ("upload", str(source), "--type", "travel_document", "--v-number-file", str(v_file))
    served = partner.hub.served
    mark = served.log_mark()
    # 20 MiB towards the hub, then silence: two chunks are in, the third hangs.
    partner.hub.relay.stall_after(20 * MIB + 12_345, upstream=True)
    process = partner.start(*command, "--json", "--no-verify")
    try:
        assert partner.hub.relay.stalled.wait(120), "the upload never reached the stall"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr

    again = partner.run(*command, "--json", "--no-verify")

    assert again.code == 0, again.stderr
    body = again.json()
    assert body["resumed"] is True
    assert body["sha256"] == _sha256(source)
    log = served.log_since(mark)
    assert log.count("POST /api/v1/uploads ") == 1  # one upload, continued, not two
    assert "HEAD /api/v1/uploads/" in log
    assert "(0%)" not in again.stderr  # it did not start from the first byte
    assert not list((partner.home / "state" / "ketenhub-client" / "uploads").glob("*.json"))


def test_another_v_number_for_the_same_file_is_a_new_upload(partner: PartnerClient) -> None:
    source = pdf(partner.home / "scan.pdf", 20 * MIB)
    partner.hub.relay.stall_after(10 * MIB, upstream=True)
    first = partner.start(
        "upload", str(source), "--type", "travel_document", "--v-number-file", str(
            v_number_file(partner.home, "4444400008")
        ), "--no-verify",
    )  # fmt: skip
    try:
        assert partner.hub.relay.stalled.wait(120), "the upload never reached the stall"
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    other = partner.run(
        "upload", str(source), "--type", "travel_document", "--v-number-file", "-", "--json",
        "--no-verify",
        stdin="4444400009\n",
    )  # fmt: skip

    assert other.code == 0, other.stderr
    assert other.json()["resumed"] is False
    stored = _document(partner.hub, "demo-iom", other.json()["id"])
    assert stored["v_number"] == "4444400009"
