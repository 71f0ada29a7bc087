"""The partner client's reading of C2SP signed notes, checkpoints and receipts (``notes``).

Known answers are Go's (golang.org/x/mod/sumdb/note, ``note_test.go``), as the hub's own tests
use them; then every note the hub's ``audit.notes`` signs opens here (hypothesis over texts,
names and sizes), and each way a note can be wrong fails with its named error.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import notes as hub_notes
from ketenhub_client.notes import (
    Checkpoint,
    ReceiptStatement,
    VerifierKey,
    open_note,
    parse_note,
)
from ketenhub_client.verification_errors import MalformedEvidence, SignatureInvalid, UnknownKey

# --- Go's vectors (golang.org/x/mod/sumdb/note/note_test.go) ---------------------------------
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInN"
    "IuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2t"
    "iOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
ORIGIN = "ketenhub.example.nl/audit"


@pytest.fixture(scope="module")
def audit_key() -> hub_notes.NoteSigner:
    return hub_notes.NoteSigner.generate(ORIGIN)


def _ours(signer: hub_notes.NoteSigner) -> VerifierKey:
    return VerifierKey.parse(signer.verifier().encoded())


def test_go_verifier_key_parses_to_its_name_and_id() -> None:
    key = VerifierKey.parse(PETER_VKEY)
    assert (key.name, key.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert key.encoded() == PETER_VKEY


def test_go_note_opens() -> None:
    peter = VerifierKey.parse(PETER_VKEY)
    opened = open_note(GO_TEXT + "\n" + PETER_SIG, [peter])
    assert (opened.text, opened.signed_by) == (GO_TEXT, (peter,))


def test_go_doubly_signed_note_opens_with_both_keys_and_with_either() -> None:
    peter, enoch = VerifierKey.parse(PETER_VKEY), VerifierKey.parse(ENOCH_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [enoch, peter]).signed_by == (peter, enoch)
    assert open_note(note, [enoch]).signed_by == (enoch,)


def test_go_note_as_bytes_opens() -> None:
    peter = VerifierKey.parse(PETER_VKEY)
    assert open_note((GO_TEXT + "\n" + PETER_SIG).encode(), [peter]).text == GO_TEXT


def test_go_invalid_signature_vector_is_a_tampered_note() -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(SignatureInvalid, match=r"PeterNeumann\+c74f20a3"):
        open_note(GO_TEXT + "\n" + bad, [VerifierKey.parse(PETER_VKEY)])


def test_go_verifier_key_with_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(MalformedEvidence, match="Ed25519"):
        VerifierKey.parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_go_verifier_key_with_a_wrong_length_key_is_refused() -> None:
    with pytest.raises(MalformedEvidence):
        VerifierKey.parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )


def test_a_key_id_that_is_not_the_keys_is_refused() -> None:
    with pytest.raises(MalformedEvidence, match="key ID"):
        VerifierKey.parse(PETER_VKEY.replace("c74f20a3", "c74f20a4"))


# --- the hub's notes open here ----------------------------------------------------------------

_names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]),
    min_size=1,
    max_size=20,
).filter(lambda name: "+" not in name and not any(ch.isspace() for ch in name))
_lines = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=40).map(
    lambda line: line + "\n"
)


@settings(max_examples=60, deadline=None)
@given(name=_names, lines=st.lists(_lines, min_size=1, max_size=5))
def test_every_note_the_hub_signs_opens_here(name: str, lines: list[str]) -> None:
    signer = hub_notes.NoteSigner.generate(name)
    text = "".join(lines)
    opened = open_note(signer.sign(text), [_ours(signer)])
    assert opened.text == text
    assert VerifierKey.parse(signer.verifier().encoded()).encoded() == signer.verifier().encoded()


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 2**63 - 1), root=st.binary(min_size=32, max_size=32))
def test_every_checkpoint_the_hub_signs_reads_the_same_here(size: int, root: bytes) -> None:
    signer = hub_notes.NoteSigner.generate(ORIGIN)
    note = hub_notes.sign_checkpoint(signer, hub_notes.Checkpoint(ORIGIN, size, root))
    checkpoint = Checkpoint.parse(open_note(note, [_ours(signer)]).text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (ORIGIN, size, root)


@settings(max_examples=60, deadline=None)
@given(seq=st.integers(0, 2**53 - 1), leaf=st.binary(min_size=32, max_size=32))
def test_every_receipt_the_hub_signs_reads_the_same_here(seq: int, leaf: bytes) -> None:
    signer = hub_notes.NoteSigner.generate(ORIGIN)
    note = hub_notes.sign_receipt(signer, seq=seq, leaf_hash=leaf)
    statement = ReceiptStatement.parse(open_note(note, [_ours(signer)]).text)
    assert (statement.origin, statement.seq, statement.leaf_hash) == (ORIGIN, seq, leaf)


def test_a_note_the_client_accepts_the_hub_accepts_too(audit_key: hub_notes.NoteSigner) -> None:
    # The other direction: what opens here is what the hub's reader opens (same text).
    witness = hub_notes.NoteSigner.generate("witness.example.org")
    note = hub_notes.sign_note("a\n\nb\n", [audit_key, witness])
    ours = open_note(note, [_ours(audit_key)])
    theirs, _ = hub_notes.open_note(note, [audit_key.verifier()])
    assert ours.text == theirs == "a\n\nb\n"


# --- each way to be wrong -----------------------------------------------------------------


def test_a_tampered_text_fails_the_signature(audit_key: hub_notes.NoteSigner) -> None:
    note = audit_key.sign("seq 1\n").replace("seq 1", "seq 2")
    with pytest.raises(SignatureInvalid):
        open_note(note, [_ours(audit_key)])


def test_a_tampered_signature_fails(audit_key: hub_notes.NoteSigner) -> None:
    note = audit_key.sign("text\n")
    body, _, line = note[:-1].rpartition("\n")
    prefix, _, sig64 = line.rpartition(" ")
    raw = bytearray(base64.b64decode(sig64))
    raw[-1] ^= 1
    with pytest.raises(SignatureInvalid):
        open_note(f"{body}\n{prefix} {base64.b64encode(raw).decode()}\n", [_ours(audit_key)])


def test_a_note_signed_with_another_key_is_an_unknown_key(audit_key: hub_notes.NoteSigner) -> None:
    impostor = hub_notes.NoteSigner.generate(ORIGIN)  # same name, another key
    with pytest.raises(UnknownKey, match="no trusted key"):
        open_note(impostor.sign("text\n"), [_ours(audit_key)])


def test_a_bad_signature_of_a_known_key_fails_despite_a_good_one(
    audit_key: hub_notes.NoteSigner,
) -> None:
    good = audit_key.sign("text\n")
    prefix, _, sig64 = good.splitlines()[-1].rpartition(" ")
    raw = bytearray(base64.b64decode(sig64))
    raw[10] ^= 1
    forged = good + f"{prefix} {base64.b64encode(raw).decode()}\n"
    with pytest.raises(SignatureInvalid):
        open_note(forged, [_ours(audit_key)])


def test_unknown_cosignatures_are_ignored(audit_key: hub_notes.NoteSigner) -> None:
    witness = hub_notes.NoteSigner.generate("witness.example.org")
    note = hub_notes.sign_note("text\n", [witness, audit_key])
    assert open_note(note, [_ours(audit_key)]).signed_by == (_ours(audit_key),)


@pytest.mark.parametrize(
    ("note", "why"),
    [
        ("text\n— name AAAA\n", "no blank line"),
        ("text\n\n", "signature lines"),
        ("text\n\n— name AAAAAA==", "signature lines"),
        ("text\n\n- name AAAAAAA=\n", "em dash"),
        ("text\n\n— na+me AAAAAAA=\n", "key name"),
        ("text\n\n— name AAAAAAA\n", "base64"),
        ("text\n\n— name AAAA\n", "at least one byte"),
        ("te\rxt\n\n— name AAAAAAA=\n", "control character"),
    ],
)
def test_malformed_notes_are_refused(note: str, why: str) -> None:
    with pytest.raises(MalformedEvidence, match=why):
        parse_note(note)


def test_a_note_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(MalformedEvidence, match="UTF-8"):
        parse_note(b"\xff\n\n\xe2\x80\x94 name AAAAAAA=\n")


def test_a_receipt_is_never_read_as_a_checkpoint(audit_key: hub_notes.NoteSigner) -> None:
    # The same key signs both: a receipt for seq 7 must not pass as "the log had 7 leaves".
    leaf = hashlib.sha256(b"leaf").digest()
    text = open_note(hub_notes.sign_receipt(audit_key, seq=7, leaf_hash=leaf), [_ours(audit_key)])
    with pytest.raises(MalformedEvidence, match="tree size"):
        Checkpoint.parse(text.text)


def test_a_checkpoint_is_never_read_as_a_receipt(audit_key: hub_notes.NoteSigner) -> None:
    root = hashlib.sha256(b"root").digest()
    note = hub_notes.sign_checkpoint(audit_key, hub_notes.Checkpoint(ORIGIN, 7, root))
    with pytest.raises(MalformedEvidence, match="receipt"):
        ReceiptStatement.parse(open_note(note, [_ours(audit_key)]).text)


@pytest.mark.parametrize(
    "text",
    [
        "origin\n07\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n7\nAAAA\n",
        "origin\n7\n",
        "\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(MalformedEvidence):
        Checkpoint.parse(text)


def test_checkpoint_extension_lines_are_read_not_dropped() -> None:
    root64 = base64.b64encode(bytes(32)).decode()
    checkpoint = Checkpoint.parse(f"origin\n3\n{root64}\next one\n")
    assert checkpoint.extensions == ("ext one",)
