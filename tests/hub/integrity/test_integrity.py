"""The console's integrity page over HTTP with a logged-in auditor, on both backend pairs: the
latest checkpoint, a full verification as a background job (intact; an edited row named; one at
a time; a stale one abandoned), and a partner's checkpoint checked against the log (this log's
verifies; a forged signature, another log's key, a forked and a truncated log are each refused
in their own words; what is not a checkpoint is a 422). One hub per module and backend."""

from __future__ import annotations

import secrets
import time
import uuid
from base64 import b64encode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlmodel import Session, select

from audit.checkpoints import SignedCheckpoint
from audit.log import AuditLog
from audit.models import AuditEvent
from audit.notes import Checkpoint, NoteSigner, sign_checkpoint
from auth.people import Role
from hub.core import db
from hub.runtime import Services
from hub.tables.integrity import AuditVerification
from tests.fixtures.documents import DOCUMENT_BACKENDS, running_documents_hub
from tests.fixtures.people import Browser
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import parsed

INTEGRITY = "/audit/integrity"


@pytest.fixture(scope="module", params=DOCUMENT_BACKENDS)
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PagesHub]:
    yield from (
        PagesHub(api)
        for api in running_documents_hub(request, tmp_path_factory.mktemp("integrity"))
    )


def _services(hub: PagesHub) -> Services:
    return hub.api.hub.services


def _auditor(hub: PagesHub) -> Browser:
    return hub.browser("DTV", Role.AUDITOR)


def _checkpoint(hub: PagesHub) -> SignedCheckpoint:
    # A page read first, so the log has grown since any earlier checkpoint.
    assert _auditor(hub).get(INTEGRITY).status_code == 200
    signed = _services(hub).audit.checkpoint_now()
    assert signed is not None
    return signed


def _events(hub: PagesHub, action: str) -> list[AuditEvent]:
    with Session(_services(hub).engine) as session:
        statement = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)  # type: ignore[arg-type]
        return list(session.exec(statement).all())


def _log_size(hub: PagesHub) -> int:
    with _services(hub).engine.connect() as connection:
        return AuditLog.size(connection)


def _wait(hub: PagesHub, verification_id: str) -> AuditVerification:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with Session(_services(hub).engine) as session:
            row = session.get(AuditVerification, verification_id)
            assert row is not None
            if row.state != "running":
                return row
        time.sleep(0.1)
    raise AssertionError(f"verification {verification_id} still runs after a minute")


def _verify(hub: PagesHub) -> str:
    auditor = _auditor(hub)
    started = auditor.post(f"{INTEGRITY}/verify", data={"csrf_token": auditor.csrf_token})
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    assert location.startswith(f"{INTEGRITY}/verifications/")
    return location.rsplit("/", 1)[1]


def _check(hub: PagesHub, note: str, *, as_file: bool = False) -> tuple[int, str]:
    auditor = _auditor(hub)
    if as_file:
        answer = auditor.post(
            f"{INTEGRITY}/checkpoint",
            files={
                "csrf_token": (None, auditor.csrf_token),
                "note": (None, ""),
                "file": ("kept.checkpoint", note.encode(), "text/plain"),
            },
        )
    else:
        answer = auditor.post(
            f"{INTEGRITY}/checkpoint",
            files={"csrf_token": (None, auditor.csrf_token), "note": (None, note)},
        )
    return answer.status_code, answer.text


def _signed_by_the_hub(hub: PagesHub, size: int, root: bytes) -> str:
    signer = _services(hub).audit.signer
    return sign_checkpoint(signer, Checkpoint(signer.name, size, root))


def test_the_page_shows_the_latest_checkpoint_and_records_the_read(hub: PagesHub) -> None:
    signed = _checkpoint(hub)
    page = _auditor(hub).get(INTEGRITY)
    assert page.status_code == 200, page.text
    assert (
        f'<pre class="utrecht-code-block hub-receipt" id="hub-checkpoint-note">{signed.note}</pre>'
        in page.text
    )
    # base64, as the note writes it: the page's root and the note's compare by eye
    assert (
        f'<code class="utrecht-code hub-hash">{b64encode(signed.root_hash).decode()}</code>'
        in page.text
    )
    name, key_id = signed.key_name.split("+")
    assert name in page.text
    assert key_id in page.text
    forms = parsed(page).fields
    assert forms["hub-verify"] == ["csrf_token"]
    assert forms["hub-check"] == ["csrf_token", "note", "file"]
    reads = [e for e in _events(hub, "audit.query") if e.resource_type == "audit_verification"]
    assert reads[-1].actor_id == "dtv.auditor"


def test_a_caseworker_reaches_no_integrity_page(hub: PagesHub) -> None:
    caseworker = hub.browser("DTV")
    assert caseworker.get(INTEGRITY).status_code == 403
    token = {"csrf_token": caseworker.csrf_token}
    assert caseworker.post(f"{INTEGRITY}/verify", data=token).status_code == 403
    assert caseworker.post(f"{INTEGRITY}/checkpoint", data=token).status_code == 403
    refused = _events(hub, "audit.verify")
    assert refused[-1].outcome == "denied"
    assert refused[-1].actor_id == "dtv.caseworker"


def test_a_form_without_its_csrf_token_is_refused(hub: PagesHub) -> None:
    auditor = _auditor(hub)
    assert auditor.post(f"{INTEGRITY}/verify", data={"x": "1"}).status_code == 403


def test_a_verification_runs_in_the_background_and_finds_the_trail_intact(hub: PagesHub) -> None:
    verification_id = _verify(hub)
    row = _wait(hub, verification_id)
    assert row.state == "intact", row.problem
    assert row.started_by == "dtv.auditor"
    assert row.checked >= row.total > 0
    page = _auditor(hub).get(f"{INTEGRITY}/verifications/{verification_id}")
    assert page.status_code == 200
    assert "Intact: alle" in page.text
    assert "data-running" not in page.text
    assert "ui/pages/verification.js" in page.text
    details = [e.detail for e in _events(hub, "audit.verify") if e.resource_id == verification_id]
    assert details == ["verify: started", "verify: intact"]
    overview = _auditor(hub).get(INTEGRITY).text
    assert 'id="hub-last-verification"' in overview
    assert "dtv.auditor" in overview


def test_an_unknown_verification_is_404(hub: PagesHub) -> None:
    assert _auditor(hub).get(f"{INTEGRITY}/verifications/{uuid.uuid4()}").status_code == 404


def _running_row(hub: PagesHub, heartbeat: datetime) -> str:
    row_id = str(uuid.uuid4())
    with db.transaction(_services(hub).engine) as session:
        session.add(
            AuditVerification(
                id=row_id,
                state="running",
                running="running",
                started_by="someone.else",
                started_at=heartbeat,
                heartbeat_at=heartbeat,
                total=10,
                checked=3,
            )
        )
    return row_id


def test_one_verification_runs_at_a_time(hub: PagesHub) -> None:
    running = _running_row(hub, datetime.now(UTC))
    try:
        assert _verify(hub) == running  # the running one's progress, no second one
        page = _auditor(hub).get(f"{INTEGRITY}/verifications/{running}")
        assert 'data-running="true"' in page.text
        assert "Bezig: 3 van 10 gebeurtenissen gecontroleerd." in page.text
        assert f'href="{INTEGRITY}/verifications/{running}"' in page.text  # the Refresh link
    finally:
        with db.transaction(_services(hub).engine) as session:
            session.connection().execute(
                text(
                    "UPDATE audit_verification SET state = 'failed', running = NULL WHERE id = :id"
                ),
                {"id": running},
            )


def test_a_stale_running_verification_is_abandoned_and_a_new_one_starts(hub: PagesHub) -> None:
    stale = _running_row(hub, datetime.now(UTC) - timedelta(minutes=6))
    started = _verify(hub)
    assert started != stale
    assert _wait(hub, started).state == "intact"
    with Session(_services(hub).engine) as session:
        row = session.get(AuditVerification, stale)
        assert row is not None
        assert (row.state, row.running) == ("abandoned", None)
    page = _auditor(hub).get(f"{INTEGRITY}/verifications/{stale}")
    assert "Afgebroken" in page.text


def test_a_checkpoint_of_this_log_is_consistent(hub: PagesHub) -> None:
    signed = _checkpoint(hub)
    _checkpoint(hub)  # the log and its checkpoints went on
    status, page = _check(hub, signed.note)
    assert status == 200, page
    assert 'id="hub-check-result"' in page
    assert "Consistent met het logboek tot en met" in page
    assert f"het checkpoint van grootte {signed.tree_size} is ondertekend door de hub" in page
    status, page = _check(hub, signed.note, as_file=True)
    assert status == 200
    assert "Consistent met het logboek" in page
    checked = _events(hub, "audit.verify")[-1]
    assert (checked.resource_type, checked.resource_id) == ("checkpoint", str(signed.tree_size))
    assert checked.detail == "checkpoint: consistent"
    assert checked.actor_id == "dtv.auditor"


def test_a_forged_signature_is_not_the_hubs(hub: PagesHub) -> None:
    note = _checkpoint(hub).note
    body, signature = note.split("\n\n")
    flipped = signature[:-8] + ("B" if signature[-8] == "A" else "A") + signature[-7:]
    status, page = _check(hub, body + "\n\n" + flipped)
    assert status == 200
    assert "De handtekening is niet van de sleutel van de hub" in page
    assert _events(hub, "audit.verify")[-1].detail == "checkpoint: foreign"


def test_a_checkpoint_of_another_log_is_not_the_hubs(hub: PagesHub) -> None:
    signed = _checkpoint(hub)
    other = NoteSigner.from_private_key(
        _services(hub).audit.signer.name, Ed25519PrivateKey.generate()
    )
    note = sign_checkpoint(other, Checkpoint(other.name, signed.tree_size, signed.root_hash))
    status, page = _check(hub, note)
    assert status == 200
    assert "De handtekening is niet van de sleutel van de hub" in page


def test_a_checkpoint_of_a_forked_log_is_split_view(hub: PagesHub) -> None:
    size = _log_size(hub)
    status, page = _check(hub, _signed_by_the_hub(hub, size - 1, secrets.token_bytes(32)))
    assert status == 200
    assert "Het logboek bevat deze boom niet: gespleten beeld of geknoei." in page
    assert f"De eerste {size - 1} gebeurtenissen van het logboek hebben een andere root" in page
    assert _events(hub, "audit.verify")[-1].detail == "checkpoint: not_in_log"


def test_a_checkpoint_beyond_a_truncated_log_is_split_view(hub: PagesHub) -> None:
    size = _log_size(hub)
    status, page = _check(hub, _signed_by_the_hub(hub, size + 5, secrets.token_bytes(32)))
    assert status == 200
    assert f"Het checkpoint ondertekent {size + 5} gebeurtenissen" in page


@pytest.mark.parametrize(
    ("note", "said", "reason"),
    [
        ("hello\n", "Dit is geen checkpoint.", "not_a_note"),
        ("", "Plak een checkpoint of kies het bestand.", "empty"),
        ("x" * (8 * 1024 + 1), "Een checkpoint is hoogstens 8 KiB; dit is groter.", "too_large"),
    ],
    ids=["not-a-note", "nothing", "too-large"],
)
def test_what_is_not_a_checkpoint_is_422_on_the_form(
    hub: PagesHub, note: str, said: str, reason: str
) -> None:
    status, page = _check(hub, note)
    assert status == 422
    assert 'role="alert"' in page
    assert said in page
    refused = _events(hub, "audit.verify")[-1]
    assert (refused.outcome, refused.detail) == ("invalid", f"checkpoint: {reason}")


def test_a_verification_names_an_edited_row(hub: PagesHub) -> None:
    engine = _services(hub).engine
    with engine.begin() as connection:
        original = connection.execute(
            text("SELECT resource_id FROM audit_event WHERE seq = 3")
        ).scalar()
        connection.execute(text("UPDATE audit_event SET resource_id = 'demo-evil' WHERE seq = 3"))
    try:
        verification_id = _verify(hub)
        row = _wait(hub, verification_id)
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE audit_event SET resource_id = :original WHERE seq = 3"),
                {"original": original},
            )
    assert (row.state, row.first_bad_seq) == ("broken", 3)
    assert row.problem is not None
    assert row.problem.startswith("seq 3: the stored event does not hash")
    page = _auditor(hub).get(f"{INTEGRITY}/verifications/{verification_id}")
    assert "Niet intact: de eerste foute regel is seq 3" in page.text
    details = [e.detail for e in _events(hub, "audit.verify") if e.resource_id == verification_id]
    assert details == ["verify: started", "verify: first bad seq 3"]
