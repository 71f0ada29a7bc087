"""Tests of C2SP signed notes, checkpoints and receipts in ``audit.notes``.

The known-answer tests use the vectors of Go's reference implementation
(golang.org/x/mod/sumdb/note, ``note_test.go``): if they pass, Go tools and witnesses read our
notes and we read theirs. Every failure case is its own test and asserts the one ``NoteError``.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from audit.notes import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    Receipt,
    open_checkpoint,
    open_note,
    open_receipt,
    receipt_text,
    sign_checkpoint,
    sign_note,
    sign_receipt,
)

# --- Go's vectors (golang.org/x/mod/sumdb/note/note_test.go) ---------------------------------
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
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
ROOT = hashlib.sha256(b"root").digest()
LEAF = hashlib.sha256(b"\x00leaf").digest()


@pytest.fixture(scope="module")
def peter() -> NoteSigner:
    return NoteSigner.from_encoded(PETER_SKEY)


@pytest.fixture(scope="module")
def audit_key() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture(scope="module")
def other_key() -> NoteSigner:
    return NoteSigner.generate("witness.example.org")


def flip_signature_byte(note: str, *, index: int) -> str:
    """Flip one bit of the raw signature bytes (after the 4-byte key ID) of the last line."""
    body, _, last = note[:-1].rpartition("\n")
    prefix, _, sig64 = last.rpartition(" ")
    raw = bytearray(base64.b64decode(sig64))
    raw[index] ^= 0x01
    return f"{body}\n{prefix} {base64.b64encode(raw).decode()}\n"


# --- Known answers from Go -------------------------------------------------------------------


def test_go_signer_key_derives_go_verifier_key(peter: NoteSigner) -> None:
    assert peter.name == "PeterNeumann"
    assert peter.key_id == 0xC74F20A3
    assert peter.verifier().encoded() == PETER_VKEY
    assert peter.encoded() == PETER_SKEY


def test_go_verifier_key_round_trips() -> None:
    verifier = NoteVerifier.from_encoded(PETER_VKEY)
    assert (verifier.name, verifier.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert verifier.encoded() == PETER_VKEY


def test_sign_reproduces_go_note_byte_for_byte(peter: NoteSigner) -> None:
    assert peter.sign(GO_TEXT) == GO_TEXT + "\n" + PETER_SIG


def test_open_go_note(peter: NoteSigner) -> None:
    verifier = NoteVerifier.from_encoded(PETER_VKEY)
    assert open_note(GO_TEXT + "\n" + PETER_SIG, [verifier]) == (GO_TEXT, [verifier])


def test_open_go_doubly_signed_note_with_both_keys() -> None:
    peter, enoch = NoteVerifier.from_encoded(PETER_VKEY), NoteVerifier.from_encoded(ENOCH_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [enoch, peter]) == (GO_TEXT, [peter, enoch])


def test_open_go_doubly_signed_note_ignores_unknown_signer() -> None:
    peter = NoteVerifier.from_encoded(PETER_VKEY)
    assert open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter]) == (GO_TEXT, [peter])


def test_go_note_as_bytes_opens() -> None:
    peter = NoteVerifier.from_encoded(PETER_VKEY)
    assert open_note((GO_TEXT + "\n" + PETER_SIG).encode(), [peter])[0] == GO_TEXT


def test_go_verifier_key_with_wrong_length_key_refused() -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_encoded(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )


def test_go_verifier_key_with_unknown_algorithm_refused() -> None:
    with pytest.raises(NoteError, match="algorithm"):
        NoteVerifier.from_encoded(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )


def test_go_invalid_signature_vector_rejected() -> None:
    peter = NoteVerifier.from_encoded(PETER_VKEY)
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(GO_TEXT + "\n" + bad, [peter])


# --- Keys ------------------------------------------------------------------------------------


def test_generated_keys_round_trip_through_their_encodings(audit_key: NoteSigner) -> None:
    again = NoteSigner.from_encoded(audit_key.encoded())
    assert again == audit_key
    assert again.verifier() == NoteVerifier.from_encoded(audit_key.verifier().encoded())


def test_signer_repr_does_not_show_the_private_key(audit_key: NoteSigner) -> None:
    # PRIVATE+KEY+<name>+<hex8>+<base64>: the base64 alphabet itself contains "+".
    key64 = audit_key.encoded().split("+", 4)[4]
    assert len(key64) == 44
    assert key64 not in repr(audit_key)
    assert key64[8:20] not in repr(audit_key)


def test_verifier_key_with_wrong_key_id_refused() -> None:
    with pytest.raises(NoteError, match="does not match"):
        NoteVerifier.from_encoded(PETER_VKEY.replace("c74f20a3", "c74f20a4"))


def test_verifier_key_with_uppercase_key_id_refused() -> None:
    with pytest.raises(NoteError, match="lowercase hex"):
        NoteVerifier.from_encoded(PETER_VKEY.replace("c74f20a3", "C74F20A3"))


def test_verifier_key_with_other_name_refused() -> None:
    with pytest.raises(NoteError, match="does not match"):
        NoteVerifier.from_encoded(PETER_VKEY.replace("PeterNeumann", "PeterNeuman"))


def test_signer_key_without_private_prefix_refused() -> None:
    with pytest.raises(NoteError, match=r"PRIVATE\+KEY"):
        NoteSigner.from_encoded(PETER_SKEY.removeprefix("PRIVATE+KEY+"))


def test_signer_key_with_wrong_key_id_refused() -> None:
    with pytest.raises(NoteError, match="does not match"):
        NoteSigner.from_encoded(PETER_SKEY.replace("c74f20a3", "c74f20a4"))


def test_truncated_key_strings_refused() -> None:
    for cut in range(1, len(PETER_VKEY)):
        with pytest.raises(NoteError):
            NoteVerifier.from_encoded(PETER_VKEY[:cut])
    for cut in range(1, len(PETER_SKEY)):
        with pytest.raises(NoteError):
            NoteSigner.from_encoded(PETER_SKEY[:cut])


def test_name_with_plus_refused() -> None:
    with pytest.raises(NoteError, match="'\\+'"):
        NoteSigner.generate("ketenhub+audit")


def test_name_with_space_refused() -> None:
    with pytest.raises(NoteError, match="space"):
        NoteSigner.generate("ketenhub audit")


def test_name_with_unicode_space_refused() -> None:
    with pytest.raises(NoteError, match="space"):
        NoteSigner.generate("ketenhub\u00a0audit")


def test_empty_name_refused() -> None:
    with pytest.raises(NoteError, match="empty"):
        NoteSigner.generate("")


def test_verifier_constructed_with_wrong_key_id_refused(audit_key: NoteSigner) -> None:
    verifier = audit_key.verifier()
    with pytest.raises(NoteError, match="does not match"):
        NoteVerifier(verifier.name, verifier.key_id ^ 1, verifier.public_key)


# --- Signing and opening notes ---------------------------------------------------------------


def test_round_trip(audit_key: NoteSigner) -> None:
    text = "een\n\ntwee, met een lege regel ervoor\n"
    assert open_note(audit_key.sign(text), [audit_key.verifier()]) == (
        text,
        [audit_key.verifier()],
    )


def test_note_signed_by_two_signers(audit_key: NoteSigner, other_key: NoteSigner) -> None:
    note = sign_note("tekst\n", [audit_key, other_key])
    assert note.count("\n— ") == 2
    verifiers = [other_key.verifier(), audit_key.verifier()]
    assert open_note(note, verifiers) == ("tekst\n", [audit_key.verifier(), other_key.verifier()])


def test_unknown_signer_is_ignored(audit_key: NoteSigner, other_key: NoteSigner) -> None:
    note = sign_note("tekst\n", [other_key, audit_key])
    assert open_note(note, [audit_key.verifier()]) == ("tekst\n", [audit_key.verifier()])


def test_unknown_signer_with_garbage_signature_is_ignored(audit_key: NoteSigner) -> None:
    note = audit_key.sign("tekst\n") + "— witness.example.org AAAAAAAA\n"
    assert open_note(note, [audit_key.verifier()])[0] == "tekst\n"


def test_known_key_with_bad_signature_fails_despite_a_good_one(
    audit_key: NoteSigner, other_key: NoteSigner
) -> None:
    note = flip_signature_byte(sign_note("tekst\n", [audit_key, other_key]), index=10)
    with pytest.raises(NoteError, match=r"invalid signature for key witness\.example\.org"):
        open_note(note, [audit_key.verifier(), other_key.verifier()])


def test_repeated_line_from_known_key_is_verified_too(audit_key: NoteSigner) -> None:
    note = audit_key.sign("tekst\n")
    tampered = note + flip_signature_byte(note, index=10).rsplit("\n", 2)[1] + "\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(tampered, [audit_key.verifier()])


def test_tampered_text_fails(audit_key: NoteSigner) -> None:
    note = audit_key.sign("seq 41\n").replace("seq 41", "seq 42")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note, [audit_key.verifier()])


def test_tampered_signature_fails(audit_key: NoteSigner) -> None:
    note = flip_signature_byte(audit_key.sign("tekst\n"), index=40)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note, [audit_key.verifier()])


def test_wrong_key_hash_with_the_right_name_is_unknown(audit_key: NoteSigner) -> None:
    # The key ID lives in the signature's first four bytes; changed, the line is from an
    # unknown key (spec: ignored), and with no other signature the note is unverified.
    note = flip_signature_byte(audit_key.sign("tekst\n"), index=0)
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        open_note(note, [audit_key.verifier()])


def test_right_key_hash_with_another_name_is_unknown(audit_key: NoteSigner) -> None:
    note = audit_key.sign("tekst\n").replace(f"— {ORIGIN} ", "— impostor.example/audit ")
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        open_note(note, [audit_key.verifier()])


def test_no_known_verifier_fails(audit_key: NoteSigner, other_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        open_note(audit_key.sign("tekst\n"), [other_key.verifier()])


def test_ambiguous_verifiers_fail(audit_key: NoteSigner) -> None:
    real = audit_key.verifier()
    twin = object.__new__(NoteVerifier)  # a colliding key: skip the key ID check on purpose
    for attr, value in (("name", real.name), ("key_id", real.key_id), ("public_key", b"\0" * 32)):
        object.__setattr__(twin, attr, value)
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(audit_key.sign("tekst\n"), [real, twin])


def test_note_without_blank_line_fails(audit_key: NoteSigner) -> None:
    note = audit_key.sign("tekst\n").replace("\n\n", "\n")
    with pytest.raises(NoteError, match="no blank line"):
        open_note(note, [audit_key.verifier()])


def test_empty_signatures_section_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="no signature lines"):
        open_note("tekst\n\n", [audit_key.verifier()])


def test_note_without_final_newline_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="does not end in a newline"):
        open_note(audit_key.sign("tekst\n")[:-1], [audit_key.verifier()])


def test_line_after_signatures_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="em dash"):
        open_note(audit_key.sign("tekst\n") + "Unexpected line.\n", [audit_key.verifier()])


def test_signature_line_with_hyphen_instead_of_em_dash_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="em dash"):
        open_note(audit_key.sign("tekst\n").replace("— ", "- "), [audit_key.verifier()])


def test_signature_line_with_space_in_name_fails() -> None:
    # Go's vector: the name ends at the first space, so the rest is not a signature.
    note = GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")
    with pytest.raises(NoteError, match="base64"):
        open_note(note, [NoteVerifier.from_encoded(PETER_VKEY)])


def test_signature_line_with_plus_in_name_fails() -> None:
    note = GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann")
    with pytest.raises(NoteError, match="'\\+'"):
        open_note(note, [NoteVerifier.from_encoded(PETER_VKEY)])


def test_signature_not_base64_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="base64"):
        open_note(f"tekst\n\n— {ORIGIN} !!!!\n", [audit_key.verifier()])


def test_signature_too_short_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="too short"):
        open_note(f"tekst\n\n— {ORIGIN} AAAAAA==\n", [audit_key.verifier()])


def test_non_utf8_note_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff" + audit_key.sign("tekst\n").encode(), [audit_key.verifier()])


def test_lone_surrogate_in_note_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        open_note("\udcff" + audit_key.sign("tekst\n"), [audit_key.verifier()])


def test_control_character_in_note_fails(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="control character"):
        open_note("\x01" + audit_key.sign("tekst\n"), [audit_key.verifier()])


def test_carriage_return_in_note_fails(audit_key: NoteSigner) -> None:
    note = audit_key.sign("tekst\n").replace("\n", "\r\n")
    with pytest.raises(NoteError, match="control character"):
        open_note(note, [audit_key.verifier()])


def test_oversized_note_fails(audit_key: NoteSigner) -> None:
    note = "x" * MAX_NOTE_BYTES + "\n" + audit_key.sign("tekst\n")
    with pytest.raises(NoteError, match="larger than"):
        open_note(note, [audit_key.verifier()])


def test_oversized_note_counted_in_utf8_bytes_fails(audit_key: NoteSigner) -> None:
    note = "é" * (MAX_NOTE_BYTES // 2) + "\n" + audit_key.sign("tekst\n")
    assert len(note) < MAX_NOTE_BYTES
    with pytest.raises(NoteError, match="larger than"):
        open_note(note, [audit_key.verifier()])


def test_too_many_signature_lines_fail(audit_key: NoteSigner) -> None:
    note = GO_TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1)
    with pytest.raises(NoteError, match="more than 100 signature lines"):
        open_note(note, [NoteVerifier.from_encoded(PETER_VKEY)])


def test_many_signature_lines_up_to_the_limit_open() -> None:
    peter = NoteVerifier.from_encoded(PETER_VKEY)
    assert open_note(GO_TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [peter]) == (GO_TEXT, [peter])


def test_sign_refuses_text_without_final_newline(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="newline"):
        audit_key.sign("tekst")


def test_sign_refuses_control_characters(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="control character"):
        audit_key.sign("tab\there\n")


def test_sign_refuses_the_same_key_twice(audit_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="twice"):
        sign_note("tekst\n", [audit_key, audit_key])


def test_sign_refuses_no_signers() -> None:
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note("tekst\n", [])


# --- Checkpoints -----------------------------------------------------------------------------


def test_checkpoint_text_format() -> None:
    text = Checkpoint(ORIGIN, 20852163, ROOT).to_text()
    assert text == f"{ORIGIN}\n20852163\n{base64.b64encode(ROOT).decode()}\n"


def test_checkpoint_text_round_trip() -> None:
    for size in (0, 1, 20852163, 2**63 - 1):
        checkpoint = Checkpoint(ORIGIN, size, ROOT)
        assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint


def checkpoint_text(size: str = "7", root: str | None = None) -> str:
    root = base64.b64encode(ROOT).decode() if root is None else root
    return f"{ORIGIN}\n{size}\n{root}\n"


def test_checkpoint_size_with_leading_zero_refused() -> None:
    with pytest.raises(NoteError, match="leading zeros"):
        Checkpoint.from_text(checkpoint_text(size="07"))


def test_checkpoint_size_with_plus_sign_refused() -> None:
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint.from_text(checkpoint_text(size="+7"))


def test_checkpoint_size_with_space_refused() -> None:
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint.from_text(checkpoint_text(size=" 7"))


def test_checkpoint_size_negative_refused() -> None:
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint.from_text(checkpoint_text(size="-7"))


def test_checkpoint_size_with_underscore_refused() -> None:
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint.from_text(checkpoint_text(size="1_000"))


def test_checkpoint_size_in_non_ascii_digits_refused() -> None:
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint.from_text(checkpoint_text(size="\u0667"))  # ARABIC-INDIC DIGIT SEVEN


def test_checkpoint_size_beyond_int64_refused() -> None:
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint.from_text(checkpoint_text(size=str(2**63)))


def test_checkpoint_empty_size_refused() -> None:
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint.from_text(checkpoint_text(size=""))


def test_checkpoint_root_of_wrong_length_refused() -> None:
    with pytest.raises(NoteError, match="32 bytes"):
        Checkpoint.from_text(checkpoint_text(root=base64.b64encode(ROOT[:31]).decode()))


def test_checkpoint_root_not_base64_refused() -> None:
    with pytest.raises(NoteError, match="base64"):
        Checkpoint.from_text(checkpoint_text(root="not base64!"))


def test_checkpoint_root_without_padding_refused() -> None:
    with pytest.raises(NoteError, match="base64"):
        Checkpoint.from_text(checkpoint_text(root=base64.b64encode(ROOT).decode().rstrip("=")))


def test_checkpoint_extension_line_refused() -> None:
    with pytest.raises(NoteError, match="exactly 3"):
        Checkpoint.from_text(checkpoint_text() + "extension\n")


def test_checkpoint_missing_line_refused() -> None:
    with pytest.raises(NoteError, match="exactly 3"):
        Checkpoint.from_text(f"{ORIGIN}\n7\n")


def test_checkpoint_without_final_newline_refused() -> None:
    with pytest.raises(NoteError, match="newline"):
        Checkpoint.from_text(checkpoint_text()[:-1])


def test_checkpoint_empty_origin_refused() -> None:
    with pytest.raises(NoteError, match="origin"):
        Checkpoint.from_text(checkpoint_text().removeprefix(ORIGIN))


def test_checkpoint_constructor_refuses_short_root() -> None:
    with pytest.raises(NoteError, match="32 bytes"):
        Checkpoint(ORIGIN, 1, b"\0" * 31)


def test_checkpoint_constructor_refuses_negative_size() -> None:
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint(ORIGIN, -1, ROOT)


def test_checkpoint_sign_open_round_trip(audit_key: NoteSigner) -> None:
    checkpoint = Checkpoint(ORIGIN, 42, ROOT)
    note = sign_checkpoint(audit_key, checkpoint)
    assert note.startswith(checkpoint.to_text() + "\n— " + ORIGIN + " ")
    assert open_checkpoint(note, audit_key.verifier()) == checkpoint


def test_checkpoint_with_witness_cosignature_opens(
    audit_key: NoteSigner, other_key: NoteSigner
) -> None:
    checkpoint = Checkpoint(ORIGIN, 42, ROOT)
    note = sign_note(checkpoint.to_text(), [audit_key, other_key])
    assert open_checkpoint(note, audit_key.verifier()) == checkpoint


def test_checkpoint_origin_not_the_verifier_name_fails(other_key: NoteSigner) -> None:
    # Signed by a valid key, but for another log's origin.
    note = other_key.sign(Checkpoint(ORIGIN, 42, ROOT).to_text())
    with pytest.raises(NoteError, match="is not the key name"):
        open_checkpoint(note, other_key.verifier())


def test_sign_checkpoint_refuses_other_origin(other_key: NoteSigner) -> None:
    with pytest.raises(NoteError, match="is not the key name"):
        sign_checkpoint(other_key, Checkpoint(ORIGIN, 42, ROOT))


def test_signed_checkpoint_with_extra_line_fails(audit_key: NoteSigner) -> None:
    note = audit_key.sign(Checkpoint(ORIGIN, 42, ROOT).to_text() + "time 1700000000\n")
    with pytest.raises(NoteError, match="exactly 3"):
        open_checkpoint(note, audit_key.verifier())


def test_checkpoint_with_tampered_size_fails(audit_key: NoteSigner) -> None:
    note = sign_checkpoint(audit_key, Checkpoint(ORIGIN, 42, ROOT)).replace("\n42\n", "\n41\n")
    with pytest.raises(NoteError, match="invalid signature"):
        open_checkpoint(note, audit_key.verifier())


# --- Receipts --------------------------------------------------------------------------------


def test_receipt_text_format() -> None:
    leaf64 = base64.b64encode(LEAF).decode()
    assert receipt_text(ORIGIN, 41, LEAF) == f"{ORIGIN}/receipt\nseq 41\nleaf {leaf64}\n"


def test_receipt_round_trip(audit_key: NoteSigner) -> None:
    note = sign_receipt(audit_key, seq=41, leaf_hash=LEAF)
    assert open_receipt(note, audit_key.verifier()) == Receipt(ORIGIN, 41, LEAF)


def test_receipt_round_trip_through_sign_and_open_note(audit_key: NoteSigner) -> None:
    text = receipt_text(ORIGIN, 0, LEAF)
    opened, _ = open_note(audit_key.sign(text), [audit_key.verifier()])
    assert Receipt.from_text(opened) == Receipt(ORIGIN, 0, LEAF)


def test_receipt_is_not_a_checkpoint(audit_key: NoteSigner) -> None:
    note = sign_receipt(audit_key, seq=41, leaf_hash=LEAF)
    with pytest.raises(NoteError):
        open_checkpoint(note, audit_key.verifier())


def test_checkpoint_is_not_a_receipt(audit_key: NoteSigner) -> None:
    note = sign_checkpoint(audit_key, Checkpoint(ORIGIN, 41, LEAF))
    with pytest.raises(NoteError):
        open_receipt(note, audit_key.verifier())


def test_receipt_from_other_key_fails(audit_key: NoteSigner, other_key: NoteSigner) -> None:
    note = sign_receipt(other_key, seq=41, leaf_hash=LEAF)
    with pytest.raises(NoteError, match="no valid signature from a known key"):
        open_receipt(note, audit_key.verifier())


def test_receipt_with_tampered_seq_fails(audit_key: NoteSigner) -> None:
    note = sign_receipt(audit_key, seq=41, leaf_hash=LEAF).replace("seq 41", "seq 40")
    with pytest.raises(NoteError, match="invalid signature"):
        open_receipt(note, audit_key.verifier())


def test_receipt_seq_with_leading_zero_refused() -> None:
    text = receipt_text(ORIGIN, 41, LEAF).replace("seq 41", "seq 041")
    with pytest.raises(NoteError, match="leading zeros"):
        Receipt.from_text(text)
