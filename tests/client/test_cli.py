"""``ketenhub-client`` as a partner system runs it: a subprocess against a served hub.

Configuration (the key file's mode), the document and share commands with ``--json``, the exit
codes of a refusal, a 404 and a bad key file, and the v-number kept off the command line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.client.conftest import PartnerClient, v_number_file


def test_configure_writes_a_profile_the_commands_then_use(partner: PartnerClient) -> None:
    result = partner.run(
        "configure",
        "--hub",
        partner.hub.url,
        "--client-id",
        partner.client_id,
        "--key-file",
        str(partner.key_file),
        "--json",
        configured=False,
    )

    assert result.code == 0, result.stderr
    written = result.json()
    assert written["algorithm"] == "ES256"
    assert written["checked"] is True
    config = Path(written["config_file"])
    assert config.stat().st_mode & 0o077 == 0
    # Only the profile now: no KETENHUB_CLIENT_* in the environment.
    listed = partner.run("list", "--json", configured=False)
    assert listed.code == 0, listed.stderr
    assert "items" in listed.json()


def test_configure_refuses_a_key_file_others_may_read(partner: PartnerClient) -> None:
    partner.key_file.chmod(0o640)

    result = partner.run(
        "configure",
        "--hub",
        partner.hub.url,
        "--client-id",
        partner.client_id,
        "--key-file",
        str(partner.key_file),
        configured=False,
    )

    assert result.code == 1
    assert "may be read by others (mode 0640)" in result.stderr
    assert f"chmod 600 {partner.key_file}" in result.stderr
    assert not (partner.home / "config" / "ketenhub-client" / "config.toml").exists()


def test_every_command_refuses_a_key_file_others_may_read(partner: PartnerClient) -> None:
    partner.key_file.chmod(0o604)

    result = partner.run("list", "--json")

    assert result.code == 1
    assert result.json()["error"] == "ConfigError"
    assert "chmod 600" in result.stderr


def test_a_key_the_hub_does_not_know_is_refused_with_exit_2(
    partner: PartnerClient, gemeente: PartnerClient
) -> None:
    # IOM's client id with the gemeente's key: a valid JWK, not this client's.
    result = partner.run("list", env={"KETENHUB_CLIENT_KEY_FILE": str(gemeente.key_file)})

    assert result.code == 2
    assert "invalid_client" in result.stderr


def test_not_configured_says_how_to_configure(partner: PartnerClient) -> None:
    result = partner.run("list", configured=False)

    assert result.code == 1
    assert "ketenhub-client configure" in result.stderr


def test_a_plain_http_hub_elsewhere_is_refused(partner: PartnerClient) -> None:
    result = partner.run("list", env={"KETENHUB_CLIENT_HUB": "http://hub.example.nl"})

    assert result.code == 1
    assert "https://" in result.stderr


def test_a_document_not_visible_exits_2_with_the_problem(partner: PartnerClient) -> None:
    result = partner.run(
        "download", "7d0c1a55-1c4e-4a57-9a53-0f0b1f1e2d3c", "-o", "missing.pdf", "--json"
    )

    assert result.code == 2
    error = result.json()
    assert error["status"] == 404
    assert error["problem"]["status"] == 404
    assert not (partner.home / "missing.pdf").exists()


def test_a_v_number_is_never_taken_from_the_command_line(partner: PartnerClient) -> None:
    document = partner.home / "lp.pdf"
    document.write_bytes(b"%PDF-1.7\n")

    as_argument = partner.run("upload", str(document), "--type", "travel_document", "1234567890")
    without_any = partner.run("search")

    assert as_argument.code == 1
    assert "unrecognized arguments" in as_argument.stderr
    assert without_any.code == 1
    assert "--v-number-file" in without_any.stderr


def test_a_malformed_v_number_is_refused_without_repeating_it(partner: PartnerClient) -> None:
    result = partner.run("search", "--v-number-file", "-", stdin="12345abc90\n")

    assert result.code == 1
    assert "exactly 10 digits" in result.stderr
    assert "12345abc90" not in result.stderr


def test_list_search_share_shares_and_revoke_as_json(
    partner: PartnerClient, gemeente: PartnerClient
) -> None:
    served = partner.hub.served
    document = served.upload("demo-iom", b"%PDF-1.7 shared laissez-passer\n", v_number="5555500001")
    v_file = v_number_file(partner.home, "5555500001")

    listed = partner.run("list", "--all", "--json")
    found = partner.run("search", "--v-number-file", str(v_file), "--json")
    from_stdin = partner.run("search", "--v-number-file", "-", "--json", stdin="5555500001\n")
    made = partner.run(
        "share",
        "--document",
        document["id"],
        "--to",
        "GM0363",
        "--purpose",
        "terugkeer",
        "--days",
        "7",
        "--json",
    )

    assert document["id"] in {item["id"] for item in listed.json()["items"]}
    assert [item["id"] for item in found.json()["items"]] == [document["id"]]
    assert from_stdin.json() == found.json()
    assert made.code == 0, made.stderr
    share = made.json()
    assert share["grantee"] == "GM0363"
    assert share["state"] == "active"
    seen = gemeente.run("list", "--all", "--json")
    assert document["id"] in {item["id"] for item in seen.json()["items"]}
    inbox = gemeente.run("inbox", "--json")
    assert inbox.code == 0, inbox.stderr
    assert share["id"] in {item["share_id"] for item in inbox.json()["items"]}

    revoked = partner.run("revoke", share["id"], "--json")
    shares = partner.run("shares", "--all", "--json")

    assert revoked.code == 0, revoked.stderr
    assert revoked.json() == {"id": share["id"], "revoked": True}
    states = {item["id"]: item["state"] for item in shares.json()["items"]}
    assert states[share["id"]] == "revoked"
    gone = gemeente.run("download", document["id"], "-o", "x.pdf")
    assert gone.code == 2


def test_a_share_beyond_the_policy_is_refused_with_the_reason(partner: PartnerClient) -> None:
    document = partner.hub.served.upload("demo-iom", b"%PDF-1.7 long share\n")

    result = partner.run(
        "share",
        "--document",
        document["id"],
        "--to",
        "GM0363",
        "--purpose",
        "terugkeer",
        "--days",
        "365",
        "--json",
    )

    assert result.code == 2
    assert result.json()["status"] == 422
    assert "422" in result.stderr


def test_json_output_is_one_document_and_progress_goes_to_stderr(
    partner: PartnerClient,
) -> None:
    document = partner.hub.served.upload("demo-iom", b"%PDF-1.7 " + os.urandom(3 * 1024 * 1024))

    result = partner.run("download", document["id"], "-o", "copy.pdf", "--json", "--no-verify")

    assert result.code == 0, result.stderr
    body = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert body["sha256"] == document["sha256"]
    assert body["size"] == document["size"]
    assert "MiB/s" in result.stderr
    assert "(100%)" in result.stderr


def test_help_documents_the_exit_codes(partner: PartnerClient) -> None:
    result = partner.run("--help", configured=False)

    assert result.code == 0
    for line in ("0    done", "2    the hub refused", "4    verification failed", "130  interr"):
        assert line in result.stdout
