"""Downloads that break and resume, through the relay in front of the served hub.

The relay cuts or stalls the connection after a known number of bytes, so the break falls
inside the content without any timing: a cut is resumed in the same run (``Range`` +
``If-Range``), a stall is ended by Ctrl-C (SIGINT) and resumed by running the command again.
Each time the result must be the very bytes uploaded, and the receipts those of the parts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import PartnerClient, PartnerHub

MIB = 1024 * 1024
SIZE = 48 * MIB
BREAK_AT = 6 * MIB  # bytes from the hub on the connection; metadata and token come first


@pytest.fixture(scope="module")
def big_document(partner_hub: PartnerHub) -> tuple[dict[str, Any], bytes]:
    content = b"%PDF-1.7\n" + os.urandom(SIZE - 9)
    document = partner_hub.served.upload("demo-iom", content, title="a large laissez-passer")
    return document, content


def _leaf(hub: PartnerHub, seq: int) -> dict[str, Any]:
    (event,) = [e for e in hub.served.events(action="document.download") if e["seq"] == seq]
    leaf: dict[str, Any] = event["leaf"]
    return leaf


def test_a_cut_connection_is_resumed_in_the_same_run(
    partner: PartnerClient, big_document: tuple[dict[str, Any], bytes]
) -> None:
    document, content = big_document
    partner.hub.relay.cut_after(BREAK_AT)

    result = partner.run("download", document["id"], "-o", "lp.pdf", "--json", "--no-verify")

    assert result.code == 0, result.stderr
    assert (partner.home / "lp.pdf").read_bytes() == content
    assert not (partner.home / "lp.pdf.part").exists()
    assert not (partner.home / "lp.pdf.part.json").exists()
    body = result.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    # Two answers delivered it: the whole (cut short), then the rest from where it broke.
    first, second = body["receipts"]
    assert "range" not in _leaf(partner.hub, first["seq"])
    rest = _leaf(partner.hub, second["seq"])
    start, end = (int(n) for n in rest["range"].split("-"))
    assert 0 < start < SIZE
    assert end == SIZE - 1


def _interrupt(partner: PartnerClient, document_id: str) -> tuple[int, str, str]:
    """Start the download, stall it after ``BREAK_AT`` bytes, press Ctrl-C: exit code,
    stdout, stderr."""
    part = partner.home / "lp.pdf.part"
    partner.hub.relay.stall_after(BREAK_AT)
    process = partner.start("download", document_id, "-o", "lp.pdf", "--json", "--no-verify")
    try:
        assert partner.hub.relay.stalled.wait(120), "the download never reached the stall"
        _wait_for_bytes(part, process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stdout, stderr


def test_ctrl_c_keeps_the_part_and_the_same_command_resumes(
    partner: PartnerClient, big_document: tuple[dict[str, Any], bytes]
) -> None:
    document, content = big_document
    part = partner.home / "lp.pdf.part"

    code, stdout, stderr = _interrupt(partner, document["id"])

    assert code == 130, stderr
    assert json.loads(stdout)["error"] == "Interrupted"
    kept = part.stat().st_size
    assert 0 < kept < SIZE
    assert content.startswith(part.read_bytes())
    assert not (partner.home / "lp.pdf").exists()

    again = partner.run("download", document["id"], "-o", "lp.pdf", "--json", "--no-verify")

    assert again.code == 0, again.stderr
    assert (partner.home / "lp.pdf").read_bytes() == content
    body = again.json()
    assert body["resumed"] is True
    # The receipts of both runs: the interrupted answer's and the resumed range's.
    first, second = body["receipts"]
    assert first["seq"] < second["seq"]
    assert _leaf(partner.hub, second["seq"])["range"] == f"{kept}-{SIZE - 1}"
    assert base64.b64decode(second["leaf_hash"])


def test_a_resumed_part_that_fails_the_digest_is_deleted_not_renamed(
    partner: PartnerClient, big_document: tuple[dict[str, Any], bytes]
) -> None:
    document, content = big_document
    part = partner.home / "lp.pdf.part"
    code, _, stderr = _interrupt(partner, document["id"])
    assert code == 130, stderr
    # A bit flipped in what was kept (a bad disk, a meddler): the rest arrives intact.
    with part.open("r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0x01]))

    refused = partner.run("download", document["id"], "-o", "lp.pdf", "--json", "--no-verify")

    assert refused.code == 4, refused.stderr
    assert refused.json()["error"] == "VerificationFailed"
    assert "does not match the hub's digest" in refused.stderr
    assert not (partner.home / "lp.pdf").exists()
    assert not part.exists()
    assert not (partner.home / "lp.pdf.part.json").exists()
    # Nothing half-trusted is left: the next run starts clean and succeeds.
    clean = partner.run("download", document["id"], "-o", "lp.pdf", "--no-verify")
    assert clean.code == 0, clean.stderr
    assert (partner.home / "lp.pdf").read_bytes() == content


def test_an_existing_file_is_replaced_only_with_force(
    partner: PartnerClient, big_document: tuple[dict[str, Any], bytes]
) -> None:
    document, content = big_document
    target = partner.home / "lp.pdf"
    target.write_bytes(b"mine")

    kept = partner.run("download", document["id"], "-o", "lp.pdf", "--no-verify")
    replaced = partner.run("download", document["id"], "-o", "lp.pdf", "--force", "--no-verify")

    assert kept.code == 1
    assert "--force" in kept.stderr
    assert replaced.code == 0, replaced.stderr
    assert target.read_bytes() == content


def _wait_for_bytes(part: Path, process: subprocess.Popen[str]) -> None:
    """Until the part holds what the relay let through (the client writes as it receives)."""
    deadline = time.monotonic() + 60
    while not part.exists() or part.stat().st_size == 0:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no byte reached the part"
        time.sleep(0.1)
