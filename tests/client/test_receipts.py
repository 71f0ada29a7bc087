"""``verify_receipt``, the witness state and the ``receipt verify`` command, against a log
assembled from the hub's own audit library (:mod:`tests.client.serverlog`): what the hub
hands out verifies, and each thing a misbehaving hub (or a tamperer) could hand out instead is
caught by the named check with the named error. The real hub process is in
``test_receipts_hub.py``."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.notes import NoteSigner
from ketenhub_client.errors import HubRefused, VerificationFailed
from ketenhub_client.output import Output
from ketenhub_client.receipt_command import receipt_verify
from ketenhub_client.receipts import (
    Receipt,
    ReceiptVerification,
    load_receipts,
    verify_receipt,
)
from ketenhub_client.verification_errors import (
    LeafMismatch,
    MalformedEvidence,
    WitnessStateError,
)
from ketenhub_client.witness import WitnessState, open_witness, state_path
from tests.client.serverlog import HUB_URL, ORIGIN, ServerLog, b64

CONTENT = b"%PDF-1.7 a travel document\n" * 100


@pytest.fixture
def log() -> ServerLog:
    server = ServerLog(NoteSigner.generate(ORIGIN))
    for _ in range(5):
        server.append("audit.query")
    return server


def _verify(
    log: ServerLog,
    receipt: Receipt,
    state_dir: Path,
    *,
    file: Path | None = None,
    accept_new_key: bool = False,
) -> ReceiptVerification:
    with open_witness(log.base_url, state_dir) as state:
        return verify_receipt(log, receipt, state=state, file=file, accept_new_key=accept_new_key)


def _statuses(result: ReceiptVerification) -> dict[str, str]:
    return {check.name: check.status for check in result.checks}


def _failed(result: ReceiptVerification) -> tuple[str, str | None]:
    failed = [c for c in result.checks if c.status == "failed"]
    assert len(failed) == 1, result.checks
    return failed[0].name, failed[0].error


def _kept_size(state_dir: Path) -> int | None:
    state = WitnessState.load(state_path(HUB_URL, state_dir), HUB_URL)
    kept = state.logs[ORIGIN].checkpoint
    return None if kept is None else kept.checkpoint.size


# --- what the hub hands out verifies --------------------------------------------------------


def test_an_upload_receipt_verifies_with_every_check(log: ServerLog, tmp_path: Path) -> None:
    content = tmp_path / "document.pdf"
    content.write_bytes(CONTENT)
    receipt = log.upload(CONTENT)
    result = _verify(log, receipt, tmp_path / "state", file=content)
    assert result.ok, result.checks
    assert list(_statuses(result).values()) == ["passed"] * 8
    assert result.event is not None
    assert result.event["content_sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert _kept_size(tmp_path / "state") == 6


def test_first_use_pins_the_keys_and_later_runs_check_consistency(
    log: ServerLog, tmp_path: Path
) -> None:
    first = _verify(log, log.upload(CONTENT), tmp_path)
    assert "first use" in first.checks[1].detail
    for _ in range(7):
        log.append("document.download")
    second = _verify(log, log.upload(b"more"), tmp_path)
    assert second.ok, second.checks
    assert "extends the kept one of size 6" in second.checks[6].detail
    assert _kept_size(tmp_path) == 14
    state = json.loads(state_path(HUB_URL, tmp_path).read_text())
    assert list(state["logs"][ORIGIN]["keys"][0]) == ["verifier_key", "pinned_at"]


def test_an_older_receipt_still_verifies_and_the_newer_checkpoint_stays_kept(
    log: ServerLog, tmp_path: Path
) -> None:
    old = log.upload(CONTENT)
    for _ in range(4):
        log.append()
    assert _verify(log, log.upload(b"new"), tmp_path).ok
    log.checkpoint_size = 6  # the hub proves the old event against an older checkpoint
    result = _verify(log, old, tmp_path)
    assert result.ok, result.checks
    assert any("older than the one kept" in warning for warning in result.warnings)
    assert _kept_size(tmp_path) == 11


# --- each way to be wrong -------------------------------------------------------------------


def test_a_tampered_receipt_note_fails_its_signature(log: ServerLog, tmp_path: Path) -> None:
    receipt = log.upload(CONTENT)
    other = hashlib.sha256(b"other").digest()
    text_leaf = receipt.note.split("\n")[2].removeprefix("leaf ")
    note = receipt.note.replace(text_leaf, b64(other))
    result = _verify(log, Receipt(receipt.seq, b64(other), note), tmp_path)
    assert _failed(result) == ("receipt signature", "SignatureInvalid")
    assert _statuses(result)["inclusion"] == "skipped"
    assert not state_path(HUB_URL, tmp_path).exists()  # nothing pinned from a failed run


def test_sdk_users_may_have_the_finding_raised(log: ServerLog, tmp_path: Path) -> None:
    receipt = log.upload(CONTENT)
    _verify(log, receipt, tmp_path).raise_for_failure()  # verified: nothing raised
    log.leaves[receipt.seq]["outcome"] = "denied"
    with pytest.raises(VerificationFailed, match="hashes to") as raised:
        _verify(log, receipt, tmp_path).raise_for_failure()
    assert isinstance(raised.value, LeafMismatch)


def test_a_receipt_whose_fields_contradict_its_note_is_a_leaf_mismatch(
    log: ServerLog, tmp_path: Path
) -> None:
    receipt = log.upload(CONTENT)
    forged = Receipt(receipt.seq, b64(hashlib.sha256(b"x").digest()), receipt.note)
    assert _failed(_verify(log, forged, tmp_path)) == ("receipt", "LeafMismatch")


def test_a_receipt_signed_with_another_key_is_an_unknown_key(
    log: ServerLog, tmp_path: Path
) -> None:
    impostor = ServerLog(NoteSigner.generate(ORIGIN))
    for _ in range(6):
        impostor.append()
    receipt = impostor.upload(CONTENT)
    assert _failed(_verify(log, receipt, tmp_path)) == ("receipt signature", "UnknownKey")


def test_the_hub_showing_another_event_than_it_signed_for_is_a_leaf_mismatch(
    log: ServerLog, tmp_path: Path
) -> None:
    receipt = log.upload(CONTENT)
    log.leaves[receipt.seq]["actor_id"] = "someone-else"  # the event as shown, rewritten
    assert _failed(_verify(log, receipt, tmp_path)) == ("event", "LeafMismatch")


def test_an_inclusion_proof_that_does_not_hold_fails(log: ServerLog, tmp_path: Path) -> None:
    receipt = log.upload(CONTENT)
    for _ in range(3):
        log.append()
    genuine = log.audit_event

    def altered(seq: int) -> object:
        answer = genuine(seq)
        answer["hashes"][0] = b64(hashlib.sha256(b"not the sibling").digest())
        return answer

    log.audit_event = altered  # type: ignore[method-assign]
    assert _failed(_verify(log, receipt, tmp_path)) == ("inclusion", "ProofError")


def test_a_forked_log_is_a_split_view_and_the_kept_checkpoint_stays(
    log: ServerLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fork = log.fork()
    for _ in range(3):
        log.append("document.download")
    assert _verify(log, log.upload(CONTENT), tmp_path).ok  # kept: size 9
    kept_before = state_path(HUB_URL, tmp_path).read_text()
    for _ in range(6):
        fork.append("document.delete")  # the other view: same first 5 events, then others
    result = _verify(fork, fork.upload(CONTENT), tmp_path)
    assert _failed(result) == ("consistency", "SplitView")
    assert result.split_view
    state = json.loads(state_path(HUB_URL, tmp_path).read_text())
    assert (
        state["logs"][ORIGIN]["checkpoint"] == json.loads(kept_before)["logs"][ORIGIN]["checkpoint"]
    )
    (evidence,) = state["logs"][ORIGIN]["split_views"]
    assert evidence["seen_note"] != evidence["kept_note"]
    assert "\n12\n" in evidence["seen_note"]


def test_two_checkpoints_of_one_size_with_different_roots_are_a_split_view(
    log: ServerLog, tmp_path: Path
) -> None:
    fork = log.fork()
    assert _verify(log, log.upload(CONTENT), tmp_path).ok  # size 6
    result = _verify(fork, fork.upload(b"another document"), tmp_path)  # size 6 too
    assert _failed(result) == ("consistency", "SplitView")
    assert _kept_size(tmp_path) == 6


def test_a_log_shorter_than_a_checkpoint_it_signed_is_a_split_view(
    log: ServerLog, tmp_path: Path
) -> None:
    early = log.fork()
    receipt = early.upload(CONTENT)  # seq 5 in both
    log.upload(CONTENT)
    for _ in range(5):
        log.append()
    assert _verify(log, log.upload(b"x"), tmp_path).ok  # kept: size 12
    result = _verify(early, receipt, tmp_path)  # a hub rolled back to 6 events
    assert _failed(result) == ("consistency", "SplitView")
    assert "cannot prove" in result.checks[6].detail


def test_a_rotated_key_is_reported_until_accepted(log: ServerLog, tmp_path: Path) -> None:
    assert _verify(log, log.upload(CONTENT), tmp_path).ok
    rotated = NoteSigner.generate(ORIGIN)
    log.keys.insert(0, rotated)
    log.signer = rotated
    receipt = log.upload(b"after the rotation")
    refused = _verify(log, receipt, tmp_path)
    assert _failed(refused) == ("receipt signature", "KeyChanged")
    assert any("not pinned" in warning for warning in refused.warnings)
    accepted = _verify(log, receipt, tmp_path, accept_new_key=True)
    assert accepted.ok, accepted.checks
    assert _verify(log, log.upload(b"and later"), tmp_path).ok  # pinned now


def test_a_log_renamed_at_a_known_hub_is_a_changed_key(log: ServerLog, tmp_path: Path) -> None:
    assert _verify(log, log.upload(CONTENT), tmp_path).ok
    renamed = ServerLog(NoteSigner.generate("other.test/audit"))
    receipt = renamed.upload(CONTENT)
    assert _failed(_verify(renamed, receipt, tmp_path)) == ("audit keys", "KeyChanged")
    assert _verify(renamed, receipt, tmp_path, accept_new_key=True).ok
    state = json.loads(state_path(HUB_URL, tmp_path).read_text())
    assert sorted(state["logs"]) == [ORIGIN, "other.test/audit"]


def test_a_failed_first_run_leaves_no_state_behind(log: ServerLog, tmp_path: Path) -> None:
    receipt = log.upload(CONTENT)
    log.leaves[receipt.seq]["detail"] = "rewritten"
    assert _failed(_verify(log, receipt, tmp_path)) == ("event", "LeafMismatch")
    assert not state_path(HUB_URL, tmp_path).exists()


def test_a_key_the_hub_does_not_publish_is_refused_even_when_accepting(
    log: ServerLog, tmp_path: Path
) -> None:
    assert _verify(log, log.upload(CONTENT), tmp_path).ok
    log.signer = NoteSigner.generate(ORIGIN)  # signs, but is not in the published keys
    result = _verify(log, log.upload(b"x"), tmp_path, accept_new_key=True)
    assert _failed(result) == ("receipt signature", "UnknownKey")


def test_another_file_than_the_uploaded_one_is_a_content_mismatch(
    log: ServerLog, tmp_path: Path
) -> None:
    other = tmp_path / "other.pdf"
    other.write_bytes(CONTENT + b"!")
    result = _verify(log, log.upload(CONTENT), tmp_path / "state", file=other)
    assert _failed(result) == ("content", "ContentMismatch")
    assert _kept_size(tmp_path / "state") == 6  # the log's checks passed and were kept


def test_a_file_against_an_event_without_content_is_a_content_mismatch(
    log: ServerLog, tmp_path: Path
) -> None:
    content = tmp_path / "document.pdf"
    content.write_bytes(CONTENT)
    result = _verify(log, log.append("share.create"), tmp_path / "state", file=content)
    assert _failed(result) == ("content", "ContentMismatch")
    assert "records no content_sha256" in result.checks[-1].detail


# --- where receipts come from ---------------------------------------------------------------


def test_receipts_load_from_every_form_the_hub_and_the_client_print(log: ServerLog) -> None:
    receipt = log.upload(CONTENT)
    note64 = base64.b64encode(receipt.note.encode()).decode()
    forms = [
        json.dumps(receipt.as_dict()),
        json.dumps({"id": "d0c", "receipt": receipt.as_dict()}),
        json.dumps({"receipts": [receipt.as_dict()]}),
        json.dumps([receipt.as_dict()]),
        (
            f"HTTP/1.1 200 OK\r\nAudit-Seq: {receipt.seq}\r\nAudit-Leaf-Hash: "
            f"{receipt.leaf_hash}\r\naudit-receipt: {note64}\r\n\r\n"
        ),
        receipt.note,
    ]
    for form in forms:
        assert load_receipts(form) == [receipt], form


def test_headers_missing_the_receipt_are_refused() -> None:
    with pytest.raises(MalformedEvidence, match=r"no audit-receipt header"):
        Receipt.from_headers({"Audit-Seq": "1", "Audit-Leaf-Hash": "x"})


# --- the witness state file --------------------------------------------------------------


def test_the_state_file_is_private_and_replaced_atomically(log: ServerLog, tmp_path: Path) -> None:
    assert _verify(log, log.upload(CONTENT), tmp_path).ok
    path = state_path(HUB_URL, tmp_path)
    assert path.name == "hub.test.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hub.test.json", "hub.test.json.lock"]


def test_a_damaged_state_file_is_reported_not_overwritten(log: ServerLog, tmp_path: Path) -> None:
    path = state_path(HUB_URL, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"version": 1, "hub": "https://hub.test", "logs": {"x": {}}}')
    with pytest.raises(WitnessStateError, match="damaged"), open_witness(HUB_URL, tmp_path):
        pass
    assert "logs" in path.read_text()


def test_a_kept_checkpoint_edited_in_the_file_is_refused(log: ServerLog, tmp_path: Path) -> None:
    assert _verify(log, log.upload(CONTENT), tmp_path).ok
    path = state_path(HUB_URL, tmp_path)
    path.write_text(path.read_text().replace("\\n6\\n", "\\n7\\n"))
    with pytest.raises(WitnessStateError, match="damaged"), open_witness(HUB_URL, tmp_path):
        pass


def test_state_files_are_per_hub_host_and_port(tmp_path: Path) -> None:
    assert state_path("https://hub.example.nl/", tmp_path).name == "hub.example.nl.json"
    assert state_path("https://127.0.0.1:8000", tmp_path).name == "127.0.0.1_8000.json"
    assert state_path("http://127.0.0.1:8000", tmp_path).name == "127.0.0.1_8000-http.json"
    with_path = state_path("https://example.nl/ketenhub", tmp_path).name
    assert with_path.startswith("example.nl-")
    assert with_path.endswith(".json")


def test_the_state_is_held_under_an_exclusive_lock(tmp_path: Path) -> None:
    # Two verifications at once would each keep "the newest" checkpoint: the later write could
    # roll the kept one back. While one holds the state, nobody else can take the lock.
    with open_witness(HUB_URL, tmp_path):
        lock = state_path(HUB_URL, tmp_path).with_suffix(".json.lock")
        with lock.open("rb") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    with lock.open("rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the block


def test_the_default_state_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/somewhere")
    assert state_path(HUB_URL).parent == Path("/somewhere/ketenhub-client/witness")


# --- the command ---------------------------------------------------------------------------


def _run(log: ServerLog, state_dir: Path, text: str, **options: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    output = Output(json_mode=options.pop("json_mode", False), stdout=out, stderr=err)
    code = receipt_verify(log, text, output=output, state_dir=state_dir, **options)
    return code, out.getvalue(), err.getvalue()


def test_the_command_prints_one_json_document_and_exits_0(log: ServerLog, tmp_path: Path) -> None:
    receipt = log.upload(CONTENT)
    text = json.dumps({"receipt": receipt.as_dict()})
    code, out, err = _run(log, tmp_path, text, json_mode=True)
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["ok"] is True
    (only,) = document["receipts"]
    assert only["seq"] == receipt.seq
    assert [c["status"] for c in only["checks"]] == ["passed"] * 7


def test_the_command_checks_the_content_and_shows_the_event(log: ServerLog, tmp_path: Path) -> None:
    content = tmp_path / "document.pdf"
    content.write_bytes(CONTENT)
    text = json.dumps(log.upload(CONTENT).as_dict())
    code, out, _ = _run(log, tmp_path / "state", text, content=content)
    assert code == 0
    assert "Receipt of audit event 5: verified" in out
    assert "SHA-256 and size" in out
    assert f"content_sha256 {hashlib.sha256(CONTENT).hexdigest()}" in out


def test_the_command_exits_4_and_shouts_a_split_view(log: ServerLog, tmp_path: Path) -> None:
    fork = log.fork()
    assert _run(log, tmp_path, log.upload(CONTENT).note)[0] == 0
    code, out, err = _run(fork, tmp_path, fork.upload(b"other").note)
    assert code == 4
    assert "SPLIT VIEW" in err
    assert "Do not delete" in err
    assert "NOT verified" in out
    assert "SplitView" in out


def test_the_command_exits_4_on_a_tampered_note(log: ServerLog, tmp_path: Path) -> None:
    note = log.upload(CONTENT).note
    code, out, _ = _run(log, tmp_path, note.replace("seq 5", "seq 4"), json_mode=True)
    assert code == 4
    assert json.loads(out)["receipts"][0]["checks"][2]["error"] == "SignatureInvalid"


def test_text_without_a_receipt_is_refused_with_exit_4(log: ServerLog, tmp_path: Path) -> None:
    with pytest.raises(MalformedEvidence) as refused:
        _run(log, tmp_path, "not a receipt at all")
    assert refused.value.exit_code == 4


def test_the_hubs_refusal_propagates_with_exit_2(log: ServerLog, tmp_path: Path) -> None:
    receipt = log.upload(CONTENT)
    log.leaves.pop()
    log.hashes.pop()  # the hub answers 404 for it now
    with pytest.raises(HubRefused) as refused:
        _run(log, tmp_path, receipt.note)
    assert refused.value.exit_code == 2


def test_a_damaged_state_is_a_config_error_with_exit_1(log: ServerLog, tmp_path: Path) -> None:
    path = state_path(HUB_URL, tmp_path)
    path.write_text("{")
    with pytest.raises(WitnessStateError) as refused:
        _run(log, tmp_path, log.upload(CONTENT).note)
    assert refused.value.exit_code == 1


def test_the_state_file_is_not_readable_by_others_even_with_a_loose_umask(
    log: ServerLog, tmp_path: Path
) -> None:
    old = os.umask(0o000)
    try:
        assert _verify(log, log.upload(CONTENT), tmp_path).ok
    finally:
        os.umask(old)
    assert stat.S_IMODE(state_path(HUB_URL, tmp_path).stat().st_mode) == 0o600


@settings(max_examples=25, deadline=None)
@given(
    common=st.integers(0, 12),
    first=st.integers(0, 12),
    second=st.integers(0, 12),
    forked=st.booleans(),
    earlier_first=st.booleans(),
)
def test_the_witness_flags_exactly_the_forks(
    common: int, first: int, second: int, forked: bool, earlier_first: bool
) -> None:
    # Two runs against one hub: the second sees the same log grown, or a fork of it that
    # differs after the `common` events (each view uploads another document). Honest growth
    # always verifies; a fork is always a split view, whichever view the witness saw first.

    log = ServerLog(NoteSigner.generate(ORIGIN))
    for _ in range(common):
        log.append("audit.query")
    other = log.fork() if forked else log
    views = [(log, first, CONTENT), (other, second, b"another document")]
    if earlier_first:
        views.reverse()
    with tempfile.TemporaryDirectory() as state_dir:
        results = []
        for server, extra, content in views:
            for _ in range(extra):
                server.append("share.create")
            results.append(_verify(server, server.upload(content), Path(state_dir)))
    assert results[0].ok
    assert results[1].split_view == forked
    assert results[1].ok != forked
