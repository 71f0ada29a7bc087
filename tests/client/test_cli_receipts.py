"""What the command does with receipts: ``upload`` and ``download`` verify theirs before they
report success (the file against the event's content fields too), ``--receipt-file`` keeps
them, and ``receipt verify`` checks a kept one later, as a witness of the hub's log.

(The verification itself, and a second independent checker, are ``test_receipts*.py``.)
"""

from __future__ import annotations

import json

from tests.client.conftest import PartnerClient, pdf, v_number_file


def _checks(verification: dict[str, object]) -> set[str]:
    receipts = verification["receipts"]
    assert isinstance(receipts, list)
    return {c["name"] for r in receipts for c in r["checks"] if c["status"] == "passed"}


def test_upload_and_download_verify_their_receipts_by_default(partner: PartnerClient) -> None:
    source = pdf(partner.home / "lp.pdf", 3 * 1024 * 1024)
    v_file = v_number_file(partner.home, "3333300001")

    uploaded = partner.run(
        "upload", str(source), "--type", "travel_document", "--v-number-file", str(v_file),
        "--receipt-file", "upload-receipt.json", "--json",
    )  # fmt: skip

    assert uploaded.code == 0, uploaded.stderr
    body = uploaded.json()
    assert body["verification"]["ok"] is True
    assert {"receipt signature", "inclusion", "consistency", "content"} <= _checks(
        body["verification"]
    )
    kept = json.loads((partner.home / "upload-receipt.json").read_text())
    assert kept["receipt"] == body["receipt"]

    downloaded = partner.run(
        "download", body["id"], "-o", "copy.pdf", "--receipt-file", "download-receipt.json",
        "--json",
    )  # fmt: skip

    assert downloaded.code == 0, downloaded.stderr
    got = downloaded.json()
    assert got["verification"]["ok"] is True
    assert "content" in _checks(got["verification"])
    assert (partner.home / "copy.pdf").read_bytes() == source.read_bytes()


def test_the_human_output_shows_the_checks(partner: PartnerClient) -> None:
    source = pdf(partner.home / "lp.pdf", 50_000)

    result = partner.run(
        "upload", str(source), "--type", "travel_document", "--v-number-file", "-",
        stdin="3333300002\n",
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert "Receipt of audit event" in result.stdout
    assert "verified" in result.stdout
    assert "inclusion" in result.stdout


def test_receipt_verify_checks_a_kept_receipt_later(partner: PartnerClient) -> None:
    source = pdf(partner.home / "lp.pdf", 40_000)
    first = partner.run(
        "upload", str(source), "--type", "travel_document", "--v-number-file", "-",
        "--receipt-file", "kept.json", "--no-verify",
        stdin="3333300003\n",
    )  # fmt: skip
    assert first.code == 0, first.stderr

    from_file = partner.run("receipt", "verify", "kept.json", "--file", str(source), "--json")
    from_stdin = partner.run(
        "receipt", "verify", "-", stdin=(partner.home / "kept.json").read_text()
    )

    assert from_file.code == 0, from_file.stdout + from_file.stderr
    assert from_file.json()["ok"] is True
    assert "content" in _checks(from_file.json())
    assert from_stdin.code == 0, from_stdin.stdout + from_stdin.stderr


def test_a_receipt_for_other_content_fails_with_exit_4(partner: PartnerClient) -> None:
    source = pdf(partner.home / "lp.pdf", 40_000)
    other = pdf(partner.home / "other.pdf", 40_000)
    first = partner.run(
        "upload", str(source), "--type", "travel_document", "--v-number-file", "-",
        "--receipt-file", "kept.json", "--no-verify",
        stdin="3333300004\n",
    )  # fmt: skip
    assert first.code == 0, first.stderr

    result = partner.run("receipt", "verify", "kept.json", "--file", str(other), "--json")

    assert result.code == 4
    assert result.json()["ok"] is False


def test_a_tampered_receipt_fails_with_exit_4(partner: PartnerClient) -> None:
    source = pdf(partner.home / "lp.pdf", 40_000)
    first = partner.run(
        "upload", str(source), "--type", "travel_document", "--v-number-file", "-",
        "--json", "--no-verify",
        stdin="3333300005\n",
    )  # fmt: skip
    assert first.code == 0, first.stderr
    receipt = first.json()["receipt"]
    receipt["seq"] += 1  # claims another event than the note states

    result = partner.run("receipt", "verify", "-", "--json", stdin=json.dumps(receipt))

    assert result.code == 4
    assert result.json()["ok"] is False
