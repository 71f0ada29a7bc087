"""C2SP signed notes, tlog checkpoints and the hub's audit receipts, signed with Ed25519.

Why this format: a checkpoint is only useful if parties other than the hub keep and compare it.
Witnesses, monitors and the Go tooling (``golang.org/x/mod/sumdb/note``, the transparency-dev
witness) all speak C2SP ``signed-note`` (https://c2sp.org/signed-note) and ``tlog-checkpoint``
(https://c2sp.org/tlog-checkpoint). Following them byte for byte lets a partner verify and
cosign our checkpoints with off-the-shelf tools; the tests reproduce Go's reference vectors.

Keys (``0x01`` is the Ed25519 signature type; base64 is RFC 4648 section 4, with padding)::

    key ID       = uint32_be(SHA-256(name || 0x0A || 0x01 || public key (32 bytes))[0:4])
    verifier key = <name> "+" <key ID, 8 lowercase hex digits> "+" base64(0x01 || public key)
    signer key   = "PRIVATE+KEY+" <name> "+" <key ID> "+" base64(0x01 || private seed (32))

A key name is non-empty, valid UTF-8, and contains no Unicode space, no ``+`` and (because it
must fit in a note) no ASCII control character. Both key strings are parsed strictly: exactly
eight lowercase hex digits and canonical base64, so ``from_encoded(s).encoded() == s``.

Signed note (UTF-8, no ASCII control character other than ``\\n`` anywhere)::

    <text: one or more lines, each ending in "\\n"; empty lines allowed>
    "\\n"                                           (the blank line)
    "— " <name> " " base64(key ID (4 bytes, big-endian) || signature) "\\n"   (one or more)

The dash is an em dash, U+2014 (bytes ``E2 80 94``). The signature is Ed25519 (RFC 8032) over
the UTF-8 text bytes, final newline included, separating blank line excluded. The text ends at
the *last* blank line of the note. When opening, signatures from unknown keys (name and key ID
not both matching a known verifier) are ignored, so witnesses can add cosignatures and keys
can rotate. Every signature line from a known key is verified; one bad signature rejects the
whole note. (Go skips a repeated line from a key it has already verified; the spec says a
known key's signature MUST be verified, so we check them all.) A note is limited to
``MAX_NOTE_BYTES`` and ``MAX_SIGNATURES`` lines, Go's limit, well above the spec's minimum of 16.

Checkpoint text (tlog-checkpoint), exactly three lines::

    <origin>                "\\n"   the audit key's name, e.g. ketenhub.example.nl/audit
    <tree size>             "\\n"   ASCII decimal, no sign, no leading zero except "0" itself
    base64(<32-byte root>)  "\\n"   the RFC 6962 root hash at that size

The spec allows extension lines; the hub emits none and refuses any (DESIGN: "no extra
lines"; the signing time is kept beside the note). The origin must equal the signing key's
name, which is also the tlog-checkpoint convention witnesses rely on.

Receipt text (the hub's own format, not a C2SP one), exactly three lines::

    <origin> "/receipt"     "\\n"
    "seq " <seq>            "\\n"   decimal, same rules as the tree size
    "leaf " base64(<32-byte leaf hash>) "\\n"

It is signed by the same audit key as the checkpoints, so it must never be mistaken for one:
the first line is not the origin and the second line is not a number, so no checkpoint parser,
strict or lax, accepts a receipt as a tree head claiming size ``seq`` and root ``leaf_hash``.

Errors: every failure raises ``NoteError`` (a ``ValueError``); its message says what is wrong
and never contains key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "Receipt",
    "UnverifiedNote",
    "open_checkpoint",
    "open_note",
    "open_receipt",
    "receipt_text",
    "sign_checkpoint",
    "sign_note",
    "sign_receipt",
]

MAX_SIGNATURES = 100
"""Signature lines accepted in one note (Go's limit; the spec requires at least 16)."""

MAX_NOTE_BYTES = 256 * 1024
"""Largest note accepted: room for 16 post-quantum signatures of ~5 kB each, and more."""

_ALG_ED25519 = 0x01
_ALG = bytes([_ALG_ED25519])
_HASH_SIZE = 32
_SIG_PREFIX = "— "
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX8 = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_MAX_TREE_SIZE = 2**63 - 1  # Go's tlog uses int64; a larger size would not interoperate


class NoteError(ValueError):
    """A key, note, checkpoint or receipt is malformed, or its signature does not verify."""


class UnverifiedNote(NoteError):
    """A well-formed note that no known key signed, or whose known key's signature fails:
    someone else's note, or a forged one (as opposed to something that is not a note)."""


def _check_name(name: str) -> None:
    if not name:
        raise NoteError("key name is empty")
    if "+" in name or any(ch.isspace() for ch in name) or _FORBIDDEN_CONTROL.search(name):
        raise NoteError(f"key name {name!r} contains a space, '+' or control character")
    _utf8(name, what="key name")


def _utf8(text: str, *, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8") from exc


def _b64decode(data: str, *, what: str) -> bytes:
    """Decode standard padded base64, refusing any other spelling of the same bytes."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != data:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key_id(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + _ALG + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


def _check_text(text: str, *, what: str) -> bytes:
    if not text.endswith("\n"):
        raise NoteError(f"{what} does not end in a newline")
    if _FORBIDDEN_CONTROL.search(text):
        raise NoteError(f"{what} contains a control character other than newline")
    return _utf8(text, what=what)


@dataclass(frozen=True)
class NoteVerifier:
    """A known Ed25519 public key under a name; ``key_id`` is derived and checked."""

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("Ed25519 public key is not 32 bytes")
        if self.key_id != _key_id(self.name, self.public_key):
            raise NoteError(f"key ID {self.key_id:#010x} does not match key {self.name!r}")

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> NoteVerifier:
        _check_name(name)
        return cls(name, _key_id(name, public_key), public_key)

    @classmethod
    def from_encoded(cls, encoded: str) -> NoteVerifier:
        """Parse ``<name>+<hex8>+<base64(0x01 || public key)>``."""
        name, _, rest = encoded.partition("+")
        hex_id, _, key64 = rest.partition("+")
        _check_name(name)
        if not _HEX8.fullmatch(hex_id):
            raise NoteError("verifier key ID is not 8 lowercase hex digits")
        key = _b64decode(key64, what="verifier key")
        if len(key) < 1 or key[0] != _ALG_ED25519:
            raise NoteError("verifier key algorithm is not Ed25519 (0x01)")
        return cls(name, int(hex_id, 16), key[1:])

    def encoded(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{_b64encode(_ALG + self.public_key)}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature over ``text``."""
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 private key under a name. Its ``encoded()`` form is a secret."""

    name: str
    key_id: int
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.key_id != self.verifier().key_id:
            raise NoteError(f"key ID {self.key_id:#010x} does not match key {self.name!r}")

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls.from_private_key(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key(cls, name: str, private_key: Ed25519PrivateKey) -> NoteSigner:
        _check_name(name)
        return cls(name, _key_id(name, _public_bytes(private_key)), private_key)

    @classmethod
    def from_encoded(cls, encoded: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>``."""
        if not encoded.startswith(_PRIVATE_PREFIX):
            raise NoteError("signer key does not start with PRIVATE+KEY+")
        name, _, rest = encoded.removeprefix(_PRIVATE_PREFIX).partition("+")
        hex_id, _, key64 = rest.partition("+")
        _check_name(name)
        if not _HEX8.fullmatch(hex_id):
            raise NoteError("signer key ID is not 8 lowercase hex digits")
        key = _b64decode(key64, what="signer key")
        if len(key) < 1 or key[0] != _ALG_ED25519:
            raise NoteError("signer key algorithm is not Ed25519 (0x01)")
        if len(key) != 33:
            raise NoteError("Ed25519 signer seed is not 32 bytes")
        return cls(name, int(hex_id, 16), Ed25519PrivateKey.from_private_bytes(key[1:]))

    def seed(self) -> bytes:
        """The 32-byte Ed25519 private seed. Secret: seal it before it is stored."""
        return self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def encoded(self) -> str:
        seed64 = _b64encode(_ALG + self.seed())
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id:08x}+{seed64}"

    def verifier(self) -> NoteVerifier:
        return NoteVerifier.from_public_key(self.name, _public_bytes(self.private_key))

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line and this key's signature line."""
        return sign_note(text, [self])

    def signature_line(self, text: bytes) -> str:
        signature = self.key_id.to_bytes(4, "big") + self.private_key.sign(text)
        return f"{_SIG_PREFIX}{self.name} {_b64encode(signature)}\n"


def _public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` with every signer, in order; a note needs at least one signature."""
    raw = _check_text(text, what="note text")
    if not signers:
        raise NoteError("a note needs at least one signer")
    if len({(s.name, s.key_id) for s in signers}) != len(signers):
        raise NoteError("the same key is listed twice among the signers")
    return text + "\n" + "".join(s.signature_line(raw) for s in signers)


def open_note(
    note: str | bytes, verifiers: Sequence[NoteVerifier]
) -> tuple[str, list[NoteVerifier]]:
    """Verify ``note`` and return its text and the known verifiers that signed it, in order.

    Raises ``NoteError`` when the note is malformed or too large, when any signature from a
    known key fails, or when no known key signed it. Unknown signatures are ignored.
    """
    text, lines = _split_note(note)
    known: dict[tuple[str, int], list[NoteVerifier]] = {}
    for verifier in verifiers:
        same_key = known.setdefault((verifier.name, verifier.key_id), [])
        if verifier not in same_key:
            same_key.append(verifier)

    raw_text = text.encode("utf-8")
    signed_by: list[NoteVerifier] = []
    for line in lines:
        name, key_id, signature = _parse_signature_line(line)
        candidates = known.get((name, key_id), [])
        if not candidates:
            continue  # an unknown key: a witness, a rotated key, or noise (spec: ignore)
        if len(candidates) > 1:
            raise NoteError(f"ambiguous verifiers for key {name}+{key_id:08x}")
        verifier = candidates[0]
        if not verifier.verify(raw_text, signature):
            raise UnverifiedNote(f"invalid signature for key {name}+{key_id:08x}")
        if verifier not in signed_by:
            signed_by.append(verifier)
    if not signed_by:
        raise UnverifiedNote("note has no valid signature from a known key")
    return text, signed_by


def _split_note(note: str | bytes) -> tuple[str, list[str]]:
    """Check the note's size and characters; return its text and its signature lines."""
    if len(note) > MAX_NOTE_BYTES:
        raise NoteError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not valid UTF-8") from exc
    elif len(_utf8(note, what="note")) > MAX_NOTE_BYTES:
        raise NoteError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    if _FORBIDDEN_CONTROL.search(note):
        raise NoteError("note contains a control character other than newline")

    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    if not signatures:
        raise NoteError("note has no signature lines")
    if not signatures.endswith("\n"):
        raise NoteError("note does not end in a newline")
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signature lines")
    return text, lines


def _parse_signature_line(line: str) -> tuple[str, int, bytes]:
    if not line.startswith(_SIG_PREFIX):
        raise NoteError("signature line does not start with an em dash and a space")
    name, _, sig64 = line.removeprefix(_SIG_PREFIX).partition(" ")
    _check_name(name)
    raw = _b64decode(sig64, what="signature")
    if len(raw) < 5:
        raise NoteError("signature is too short")
    return name, int.from_bytes(raw[:4], "big"), raw[4:]


def _parse_decimal(line: str, *, what: str) -> int:
    if not _DECIMAL.fullmatch(line) or int(line) > _MAX_TREE_SIZE:
        raise NoteError(f"{what} {line!r} is not a decimal below 2**63 without leading zeros")
    return int(line)


def _check_decimal(value: int, *, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TREE_SIZE:
        raise NoteError(f"{what} must be an integer in [0, 2**63)")


def _check_hash(value: bytes, *, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != _HASH_SIZE:
        raise NoteError(f"{what} must be {_HASH_SIZE} bytes")


def _three_lines(text: str, *, what: str) -> list[str]:
    _check_text(text, what=what)
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise NoteError(f"{what} has {len(lines)} lines, expected exactly 3")
    return lines


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log ``origin`` had ``tree_size`` leaves with ``root_hash``."""

    origin: str
    tree_size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin must be one non-empty line")
        _check_text(self.origin + "\n", what="checkpoint origin")
        _check_decimal(self.tree_size, what="tree size")
        _check_hash(self.root_hash, what="root hash")

    def to_text(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{_b64encode(self.root_hash)}\n"

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        origin, size, root64 = _three_lines(text, what="checkpoint")
        tree_size = _parse_decimal(size, what="tree size")
        return cls(origin, tree_size, _b64decode(root64, what="root hash"))


def sign_checkpoint(signer: NoteSigner, checkpoint: Checkpoint) -> str:
    """Sign ``checkpoint``; its origin must be the signer's key name."""
    if checkpoint.origin != signer.name:
        raise NoteError(f"origin {checkpoint.origin!r} is not the key name {signer.name!r}")
    return signer.sign(checkpoint.to_text())


def open_checkpoint(note: str | bytes, verifier: NoteVerifier) -> Checkpoint:
    """Verify a checkpoint signed by ``verifier``, whose name must be the origin line."""
    text, _ = open_note(note, [verifier])
    checkpoint = Checkpoint.from_text(text)
    if checkpoint.origin != verifier.name:
        raise NoteError(f"origin {checkpoint.origin!r} is not the key name {verifier.name!r}")
    return checkpoint


@dataclass(frozen=True)
class Receipt:
    """The hub's signed statement that event ``seq`` with ``leaf_hash`` is in log ``origin``."""

    origin: str
    seq: int
    leaf_hash: bytes

    def __post_init__(self) -> None:
        _check_name(self.origin)
        _check_decimal(self.seq, what="seq")
        _check_hash(self.leaf_hash, what="leaf hash")

    def to_text(self) -> str:
        return f"{self.origin}/receipt\nseq {self.seq}\nleaf {_b64encode(self.leaf_hash)}\n"

    @classmethod
    def from_text(cls, text: str) -> Receipt:
        head, seq_line, leaf_line = _three_lines(text, what="receipt")
        if not head.endswith("/receipt"):
            raise NoteError("receipt's first line does not end in /receipt")
        if not seq_line.startswith("seq ") or not leaf_line.startswith("leaf "):
            raise NoteError("receipt lines are not 'seq <n>' and 'leaf <base64>'")
        seq = _parse_decimal(seq_line.removeprefix("seq "), what="seq")
        leaf_hash = _b64decode(leaf_line.removeprefix("leaf "), what="leaf hash")
        return cls(head.removesuffix("/receipt"), seq, leaf_hash)


def receipt_text(origin: str, seq: int, leaf_hash: bytes) -> str:
    """The note text of a receipt for event ``seq`` (see the module docstring)."""
    return Receipt(origin, seq, leaf_hash).to_text()


def sign_receipt(signer: NoteSigner, *, seq: int, leaf_hash: bytes) -> str:
    """A receipt note for event ``seq``, signed by the audit key (its name is the origin)."""
    return signer.sign(receipt_text(signer.name, seq, leaf_hash))


def open_receipt(note: str | bytes, verifier: NoteVerifier) -> Receipt:
    """Verify a receipt signed by ``verifier``, whose name must be the receipt's origin."""
    text, _ = open_note(note, [verifier])
    receipt = Receipt.from_text(text)
    if receipt.origin != verifier.name:
        raise NoteError(f"receipt origin {receipt.origin!r} is not the key name {verifier.name!r}")
    return receipt
