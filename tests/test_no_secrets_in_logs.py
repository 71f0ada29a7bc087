"""Nothing secret appears in any log, command output or audit event of the whole test run.

DESIGN ("Audit trail"): "No secrets, tokens, document bytes or raw v-numbers ever appear in any
log." ``tests.fixtures.secrets`` collects every log record (DEBUG and up), the output of every
``ketenhub`` command and every audit event's leaf for the whole run, and learns the secrets the
run creates. The scan runs last (the plugin moves it there). The other tests here prove that
the scanner finds what it must, redacts what it reports, and stays quiet about what is public.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import urllib.parse
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from audit import log as audit_log
from audit.events import Action, Event, Outcome
from audit.notes import NoteSigner
from audit.pseudonyms import Pseudonymiser
from storage import envelope
from storage.keys import LocalKeyRing
from tests.fixtures.secrets import (
    MAX_PLACES_PER_SECRET,
    SCANNER,
    Finding,
    SecretScanner,
    SecretScanWarning,
    capture_is_installed,
    format_findings,
    record_command,
    redact,
)


def test_no_secret_appears_in_any_log_or_event() -> None:
    assert not SCANNER.problems, "\n".join(SCANNER.problems)
    assert capture_is_installed(), (
        "the secret scan's log handler is no longer on the root logger: something reconfigured "
        "logging during the run (logging.basicConfig(force=True) or dictConfig), so later "
        "records were not scanned"
    )
    if SCANNER.tests_run == 0:
        pytest.skip("nothing to scan: run this together with the rest of the suite")
    findings = SCANNER.scan()
    if SCANNER.truncated:
        warnings.warn(
            "the secret scan covered only the first part of the run's logs",
            SecretScanWarning,
            stacklevel=1,
        )
    print(  # shown with -rA: a record of what the scan covered
        f"scanned {SCANNER.corpus_chars} characters ({SCANNER.added} texts) from "
        f"{SCANNER.tests_run} tests for {SCANNER.spellings} secret spellings"
    )
    assert not findings, format_findings(findings)


# -- the scanner itself -----------------------------------------------------------------------


def _segment(claims: dict[str, object]) -> str:
    raw = json.dumps(claims).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _fail_with(message: str) -> None:
    raise ValueError(message)


def _fake_token() -> str:
    header = _segment({"alg": "ES256", "typ": "at+jwt", "kid": "sig-test"})
    body = _segment({"iss": "http://127.0.0.1:8000", "jti": secrets.token_urlsafe(16)})
    return f"{header}.{body}.{secrets.token_urlsafe(64)}"


@pytest.fixture
def private_log() -> Iterator[tuple[SecretScanner, logging.Logger]]:
    """A scanner of its own, fed by a logger that does not reach the session's handler (so the
    fake secrets logged here cannot fail the session's scan)."""
    scanner = SecretScanner()
    logger = logging.getLogger("tests.secrets.selfcheck")
    handler = scanner.handler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield scanner, logger
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_a_logged_token_is_found_and_reported_redacted(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    scanner, logger = private_log
    token = _fake_token()
    scanner.register(token, "access token")
    logger.debug("Issue token %r to %r", {"access_token": token}, "client")

    findings = scanner.scan()

    assert findings == [
        Finding(
            "access token", token[:6] + "…", "log tests.secrets.selfcheck", scanner.current_test
        )
    ]
    report = format_findings(findings)
    assert token not in report
    assert token[6:12] not in report
    assert "access token: eyJhbG… in log tests.secrets.selfcheck" in report


def test_a_v_number_is_found_standing_alone_not_inside_a_uuid(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    scanner, logger = private_log
    scanner.register("0000000000", "v-number")
    logger.info("document 00000000-0000-0000-0000-000000000000 read")  # a UUID's last group
    assert scanner.scan() == []

    logger.info("search for v_number=0000000000 failed")
    assert [finding.kind for finding in scanner.scan()] == ["v-number"]


def test_a_secret_in_an_exception_or_extra_field_is_found(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    scanner, logger = private_log
    secret = "client-secret-" + secrets.token_urlsafe(16)
    scanner.register("0612345678", "v-number")
    scanner.register(secret, "client secret")
    try:
        _fail_with("no document for v-number 0612345678")
    except ValueError:
        logger.exception("search failed")
    logger.info("client authenticated", extra={"credentials": secret})

    assert {(f.kind, f.snippet) for f in scanner.scan()} == {
        ("v-number", "061234…"),
        ("client secret", "client…"),
    }


def test_key_bytes_are_found_as_base64_hex_and_repr(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    scanner, logger = private_log
    keys = [secrets.token_bytes(32) for _ in range(3)]
    for key in keys:
        scanner.register(key, "KEK")
    logger.debug("loaded %s", base64.b64encode(keys[0]).decode())
    logger.debug("wrapping with %s", keys[1].hex())
    logger.debug("raw key %r", keys[2])

    findings = scanner.scan()

    assert [f.kind for f in findings] == ["KEK"] * 3
    assert sum(f.places for f in findings) == 3


def test_a_secret_planted_in_a_log_is_found_among_many_registered_ones(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    """The scan looks for every spelling of every secret in one pass: one secret planted among
    thousands of registered ones (in its URL-encoded, JSON-escaped and base64url spellings) is
    found, and nothing else is."""
    scanner, logger = private_log
    for number in range(2000):
        scanner.register(f"password-{number:04d}-{secrets.token_urlsafe(12)}", "user password")
        scanner.register(secrets.token_bytes(32), "KEK")
    password = "p@ss wörd/" + secrets.token_urlsafe(12)
    kek = secrets.token_bytes(32)
    scanner.register(password, "user password")
    scanner.register(kek, "KEK")
    for number in range(200):
        logger.info("request %d for /login answered 303", number)
    logger.info("form body username=piet&password=%s", urllib.parse.quote(password, safe=""))
    logger.debug("settings %s", json.dumps({"password": password}))
    logger.debug("unwrapped %s", base64.urlsafe_b64encode(kek).decode().rstrip("="))

    findings = scanner.scan()

    assert [(f.kind, f.snippet) for f in findings] == [
        ("KEK", redact(base64.urlsafe_b64encode(kek).decode())),
        ("user password", redact(urllib.parse.quote(password, safe=""))),
        ("user password", redact(json.dumps(password)[1:-1])),
    ]


def test_overlapping_and_nested_secrets_are_each_found(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    """A one-pass search must not stop at the first secret it sees where two overlap, or where
    one lies inside another."""
    scanner, logger = private_log
    token = _fake_token()
    scanner.register(token, "access token")
    scanner.register(token.split(".")[2][:20], "signature fragment")
    scanner.register("left-secret-AAAA-BBBB", "client secret")
    scanner.register("BBBB-CCCC-right-secret", "user password")
    logger.info("bearer %s", token)
    logger.info("joined left-secret-AAAA-BBBB-CCCC-right-secret")

    assert sorted(f.kind for f in scanner.scan()) == [
        "access token",
        "client secret",
        "signature fragment",
        "user password",
    ]


def test_a_secret_counts_once_per_text_and_at_most_its_limit_of_places(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    scanner, logger = private_log
    secret = "client-secret-" + secrets.token_urlsafe(16)
    scanner.register(secret, "client secret")
    logger.info("twice in one line: %s and %s", secret, secret)
    assert [f.places for f in scanner.scan()] == [1]

    for number in range(MAX_PLACES_PER_SECRET + 5):
        logger.info("line %d: %s", number, secret)
    assert [f.places for f in scanner.scan()] == [MAX_PLACES_PER_SECRET]


def test_a_v_number_inside_a_word_does_not_hide_one_standing_alone_in_the_same_text(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    scanner, logger = private_log
    scanner.register("0612345678", "v-number")
    logger.info("document 00000000-0000-0000-0000-000612345678 is for v_number 0612345678")
    assert [(f.kind, f.places) for f in scanner.scan()] == [("v-number", 1)]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        pytest.param(f"token {_fake_token()}", "compact JWS (token or assertion)", id="jws"),
        pytest.param(
            "signer PRIVATE+KEY+ketenhub.example.nl/audit+0a1b2c3d+AeYxaK2Iq6fX1nGcVP",
            "C2SP signer key (PRIVATE+KEY+)",
            id="signer-key",
        ),
        pytest.param(
            "loaded {'kty': 'EC', 'crv': 'P-256', 'd': 'q3XP5p-4TJ0BvQ5xG4WzH6Ihd0w', 'x': 'a'}",
            "private JWK member",
            id="jwk-repr",
        ),
        pytest.param(
            '{"jwk": "{\\"kty\\": \\"EC\\", \\"d\\": \\"q3XP5p-4TJ0BvQ5xG4WzH6Ihd0w\\"}"}',
            "private JWK member",
            id="jwk-in-json-string",
        ),
        pytest.param("key:\n-----BEGIN PRIVATE KEY-----\nMIGHAgEA", "PEM block", id="pem"),
    ],
)
def test_unregistered_secrets_are_found_by_their_shape(
    private_log: tuple[SecretScanner, logging.Logger], line: str, kind: str
) -> None:
    scanner, logger = private_log
    logger.warning("%s", line)
    assert [f.kind for f in scanner.scan()] == [kind]


def test_public_material_is_not_reported(
    private_log: tuple[SecretScanner, logging.Logger],
) -> None:
    scanner, logger = private_log
    scanner.register(_fake_token(), "access token")
    logger.info("published %s", {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMz"})
    logger.info("checkpoint signed by ketenhub.example.nl/audit+0a1b2c3d+AeYxaK2Iq6fX1nGcVP")
    logger.info("issued a token to iom-cms (jti Hq3v2xQ5) at 1700000000")
    assert scanner.scan() == []


def test_a_commands_hand_over_of_new_credentials_is_registered_not_scanned(
    tmp_path: Path,
) -> None:
    jwk = {"kty": "EC", "crv": "P-256", "d": secrets.token_urlsafe(32), "x": "x", "y": "y"}
    stdout = (
        "client_id     iom-cms\n"
        "private_jwk   (shown once; store it in the partner system, then forget it)\n"
        f"{json.dumps(jwk)}\n"
    )
    record_command(
        ["client", "add", "--org", "IOM"],
        {"KETENHUB_DATA_DIR": str(tmp_path)},
        stdout=stdout,
        stderr="",
    )
    assert SCANNER.looks_for(jwk["d"])
    assert SCANNER.holds("[private JWK handed to the operator]")
    assert not SCANNER.holds(jwk["d"])


def test_the_session_collects_every_audit_event(session: Session) -> None:
    marker = f"secret-scan self-check {secrets.token_hex(8)}"
    audit_log.AuditLog().append(
        session, Event(action=Action.AUDIT_QUERY, outcome=Outcome.SUCCESS, detail=marker)
    )
    assert SCANNER.holds(marker)


def test_the_session_learns_the_secrets_the_hub_creates(tmp_path: Path) -> None:
    """The hub's own key material, v-numbers and plaintext are registered without any fixture
    having to remember them."""
    ring = LocalKeyRing.create(tmp_path / "keyring.json")
    kek = json.loads((tmp_path / "keyring.json").read_text())["keks"][0]["key"]
    signer = NoteSigner.generate("ketenhub.example.nl/audit")
    Pseudonymiser(secrets.token_bytes(32)).pseudonym("0698765432")
    plaintext = secrets.token_bytes(64)
    binding = envelope.Binding(uuid.uuid4(), 1, secrets.token_bytes(16))
    b"".join(envelope.encrypt([plaintext], secrets.token_bytes(32), binding))

    assert ring.current_kek_id()
    assert SCANNER.looks_for(kek.rstrip("="))
    assert SCANNER.looks_for(signer.encoded())
    assert SCANNER.looks_for("0698765432")
    assert SCANNER.looks_for(plaintext[:32].hex())


def test_the_corpus_stops_growing_at_its_limit_with_a_warning() -> None:
    scanner = SecretScanner(max_chars=100)
    scanner.add("log a", "x" * 60)
    with pytest.warns(SecretScanWarning, match="stopped collecting"):
        scanner.add("log b", "y" * 60)
    scanner.add("log c", "z" * 10)
    assert scanner.truncated
    assert scanner.corpus_chars == 70
