"""C2SP signed notes, tlog checkpoints and the hub's receipt statements, read by a partner.

The hub signs two kinds of text with its audit key (Ed25519), both as C2SP signed notes
(https://c2sp.org/signed-note): checkpoints of its audit log (https://c2sp.org/tlog-checkpoint)
and receipts of single events. This module reads and verifies them with nothing but the
standard library and ``cryptography``, so a partner's check does not depend on the hub's code;
the tests run Go's reference vectors (golang.org/x/mod/sumdb/note) through it.

Verifier key (base64 is RFC 4648 §4, padded; the key ID is 8 lowercase hex digits)::

    <name> "+" hex(key ID) "+" base64(0x01 || 32-byte Ed25519 public key)
    key ID = first 4 bytes (big-endian) of SHA-256(name || "\\n" || 0x01 || public key)

A name is non-empty UTF-8 without Unicode spaces or ``+``.

Signed note (UTF-8; no ASCII control character but ``\\n`` anywhere)::

    <text: lines, each ending in "\\n">
    "\\n"
    "— " <key name> " " base64(key ID (4 bytes) || signature) "\\n"      one or more lines

The dash is U+2014 (em dash). The signature covers the text's UTF-8 bytes up to and including
its final newline, not the blank line; the text ends at the *last* blank line. Signatures of
keys the verifier does not know are ignored (witness cosignatures, rotated keys); a known
key's signature that fails rejects the whole note (the note was altered), and a note that no
known key signed is refused.

Checkpoint text (tlog-checkpoint)::

    <origin> "\\n"  <tree size, decimal, no leading zero> "\\n"  base64(32-byte root) "\\n"
    [extension lines]

Receipt text (the hub's own statement, DESIGN.md "Receipts"), exactly three lines::

    <origin> "/receipt" "\\n"  "seq " <seq> "\\n"  "leaf " base64(32-byte leaf hash) "\\n"

Its first line is not a bare origin and its second is not a number, so a receipt can never be
read as a checkpoint of size ``seq`` and root ``leaf``, though the same key signs both.

Every failure raises a :mod:`~ketenhub_client.verification_errors` error:
``MalformedEvidence`` for what is not well-formed, ``SignatureInvalid`` for a known key's
failed signature, ``UnknownKey`` when no known key signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ketenhub_client.verification_errors import MalformedEvidence, SignatureInvalid, UnknownKey

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteSignature",
    "OpenedNote",
    "ReceiptStatement",
    "SignedNote",
    "VerifierKey",
    "b64decode",
    "open_note",
    "parse_note",
]

MAX_NOTE_BYTES = 256 * 1024
"""The largest note read (the hub's own limit; its notes are a few hundred bytes)."""
MAX_SIGNATURES = 100
"""Signature lines read in one note (Go's limit)."""

_ED25519 = 0x01
_DASH = "\u2014 "
_HEX8 = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_MAX_INT64 = 2**63 - 1


def b64decode(value: str, *, what: str, size: int | None = None) -> bytes:
    """Standard padded base64, in its one canonical spelling; ``size`` bytes if given."""
    if not isinstance(value, str):
        raise MalformedEvidence(f"{what} is not a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvidence(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise MalformedEvidence(f"{what} is not canonical base64")
    if size is not None and len(raw) != size:
        raise MalformedEvidence(f"{what} is {len(raw)} bytes, expected {size}")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_name(name: str) -> None:
    if not name:
        raise MalformedEvidence("key name is empty")
    if "+" in name or any(ch.isspace() for ch in name) or _CONTROL.search(name):
        raise MalformedEvidence(f"key name {name!r} holds a space, '+' or a control character")


def _key_id(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([_ED25519]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """An Ed25519 public key under a name; the key ID is checked to be the name's and key's."""

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise MalformedEvidence("an Ed25519 public key is 32 bytes")
        if self.key_id != _key_id(self.name, self.public_key):
            raise MalformedEvidence(f"key ID {self.key_id:08x} is not that of key {self.name!r}")

    @classmethod
    def parse(cls, encoded: str) -> VerifierKey:
        """Read ``<name>+<hex8>+<base64(0x01 || key)>``."""
        if not isinstance(encoded, str):
            raise MalformedEvidence("a verifier key is a string")
        name, _, rest = encoded.partition("+")
        hex_id, _, key64 = rest.partition("+")
        _check_name(name)
        if not _HEX8.fullmatch(hex_id):
            raise MalformedEvidence("a verifier key's ID is 8 lowercase hex digits")
        raw = b64decode(key64, what="verifier key")
        if not raw or raw[0] != _ED25519:
            raise MalformedEvidence("verifier key is not an Ed25519 key (type 0x01)")
        return cls(name, int(hex_id, 16), raw[1:])

    def encoded(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{_b64encode(bytes([_ED25519]) + self.public_key)}"

    @property
    def label(self) -> str:
        """``name+keyid``: how messages name the key (without the key material)."""
        return f"{self.name}+{self.key_id:08x}"

    def verifies(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note split into its signed text and its signature lines, none of them verified yet."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note whose signatures from the known keys all verified; ``signed_by`` lists them."""

    text: str
    signed_by: tuple[VerifierKey, ...]


def parse_note(note: str | bytes) -> SignedNote:
    """Split ``note`` into its text and signature lines; :class:`MalformedEvidence` if it is
    not a well-formed signed note."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedEvidence(f"note is larger than {MAX_NOTE_BYTES} bytes")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEvidence("note is not valid UTF-8") from None
    if not isinstance(note, str):
        raise MalformedEvidence("a note is text")
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError:
        raise MalformedEvidence("note is not valid UTF-8") from None
    if size > MAX_NOTE_BYTES:
        raise MalformedEvidence(f"note is larger than {MAX_NOTE_BYTES} bytes")
    if _CONTROL.search(note):
        raise MalformedEvidence("note holds a control character other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedEvidence("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedEvidence("note's signature lines are missing or unterminated")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedEvidence(f"note has more than {MAX_SIGNATURES} signature lines")
    return SignedNote(text, tuple(_signature(line) for line in lines))


def _signature(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise MalformedEvidence("a signature line starts with an em dash (U+2014) and a space")
    name, _, sig64 = line.removeprefix(_DASH).partition(" ")
    _check_name(name)
    raw = b64decode(sig64, what="signature")
    if len(raw) < 5:
        raise MalformedEvidence("a signature holds a key ID and at least one byte")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def open_note(note: str | bytes, keys: Sequence[VerifierKey]) -> OpenedNote:
    """Verify ``note`` against ``keys``: every signature of a known key must verify (else
    :class:`SignatureInvalid`), and at least one must be there (else :class:`UnknownKey`)."""
    parsed = parse_note(note)
    known = {(key.name, key.key_id): key for key in keys}
    message = parsed.text.encode("utf-8")
    signed_by: list[VerifierKey] = []
    for signature in parsed.signatures:
        key = known.get((signature.name, signature.key_id))
        if key is None:
            continue  # a witness's cosignature, another log's key, a rotated one: not ours
        if not key.verifies(message, signature.signature):
            raise SignatureInvalid(f"the signature of key {key.label} does not verify the note")
        if key not in signed_by:
            signed_by.append(key)
    if not signed_by:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in parsed.signatures)
        raise UnknownKey(f"no trusted key signed the note (it is signed by {names})")
    return OpenedNote(parsed.text, tuple(signed_by))


def _lines(text: str, *, what: str) -> list[str]:
    if not text.endswith("\n"):
        raise MalformedEvidence(f"{what} text does not end in a newline")
    return text[:-1].split("\n")


def _decimal(value: str, *, what: str) -> int:
    if not _DECIMAL.fullmatch(value) or int(value) > _MAX_INT64:
        raise MalformedEvidence(f"{what} {value!r} is not a decimal number without leading zeros")
    return int(value)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head: the log ``origin`` held ``size`` leaves whose root is ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = _lines(text, what="checkpoint")
        if len(lines) < 3:
            raise MalformedEvidence(f"a checkpoint has at least 3 lines, this one {len(lines)}")
        origin, size, root64, *extensions = lines
        if not origin:
            raise MalformedEvidence("checkpoint origin is empty")
        if any(not line for line in extensions):
            raise MalformedEvidence("checkpoint extension lines are not empty")
        return cls(
            origin,
            _decimal(size, what="tree size"),
            b64decode(root64, what="root hash", size=32),
            tuple(extensions),
        )


@dataclass(frozen=True, slots=True)
class ReceiptStatement:
    """What a receipt note says: event ``seq`` of log ``origin`` has leaf hash ``leaf_hash``."""

    origin: str
    seq: int
    leaf_hash: bytes

    @classmethod
    def parse(cls, text: str) -> ReceiptStatement:
        lines = _lines(text, what="receipt")
        if len(lines) != 3:
            raise MalformedEvidence(f"a receipt has exactly 3 lines, this one {len(lines)}")
        head, seq, leaf = lines
        if not head.endswith("/receipt") or head == "/receipt":
            raise MalformedEvidence("a receipt's first line is <origin>/receipt")
        if not seq.startswith("seq ") or not leaf.startswith("leaf "):
            raise MalformedEvidence("a receipt's lines are 'seq <n>' and 'leaf <base64>'")
        return cls(
            head.removesuffix("/receipt"),
            _decimal(seq.removeprefix("seq "), what="seq"),
            b64decode(leaf.removeprefix("leaf "), what="leaf hash", size=32),
        )
