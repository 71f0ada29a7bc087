"""A receipt, and every form it reaches a partner in.

The hub hands a receipt out as ``{"seq", "leaf_hash", "note"}`` in an upload's body, and as
the headers ``Audit-Seq``, ``Audit-Leaf-Hash`` and ``Audit-Receipt`` (base64 of the note's
UTF-8 bytes: a header cannot hold its newlines) on a download and on a tus upload's last
``PATCH``. A partner stores whichever it got, or the client's ``--json`` output around it, or
only the signed note (whose text states the seq and the leaf hash).
:func:`load_receipts` reads them all; nothing here is verified yet
(:func:`ketenhub_client.receipts.verify_receipt` does that).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ketenhub_client.notes import ReceiptStatement
from ketenhub_client.verification_errors import MalformedEvidence

__all__ = ["Receipt", "load_receipts"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """A receipt as the hub hands it out: ``leaf_hash`` base64, ``note`` the signed note."""

    seq: int
    leaf_hash: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "leaf_hash": self.leaf_hash, "note": self.note}

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Receipt:
        """From a download's (or the last tus PATCH's) ``Audit-*`` headers."""
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            seq, leaf, note64 = (
                lowered["audit-seq"],
                lowered["audit-leaf-hash"],
                lowered["audit-receipt"],
            )
        except KeyError as exc:
            raise MalformedEvidence(f"the answer has no {exc.args[0]} header") from None
        try:
            note = base64.b64decode(note64.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise MalformedEvidence("Audit-Receipt is not base64 of a UTF-8 note") from None
        return cls(_seq_of(seq.strip()), leaf.strip(), note)

    @classmethod
    def from_json(cls, value: object) -> Receipt:
        if not isinstance(value, Mapping):
            raise MalformedEvidence("a receipt is a JSON object with seq, leaf_hash and note")
        seq, leaf, note = value.get("seq"), value.get("leaf_hash"), value.get("note")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise MalformedEvidence("the receipt's seq is not an integer")
        if not isinstance(leaf, str) or not isinstance(note, str):
            raise MalformedEvidence("the receipt's leaf_hash and note are not strings")
        return cls(seq, leaf, note)

    @classmethod
    def from_note(cls, note: str) -> Receipt:
        """From the bare signed note (its text states the seq and the leaf hash)."""
        text = note[: note.rfind("\n\n") + 1] if "\n\n" in note else note
        statement = ReceiptStatement.parse(text)
        leaf = base64.b64encode(statement.leaf_hash).decode("ascii")
        return cls(statement.seq, leaf, note)


def _seq_of(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise MalformedEvidence(f"Audit-Seq {text!r} is not a number")
    return int(text)


def load_receipts(text: str) -> list[Receipt]:
    """Every receipt in ``text``, which may be what the hub or the client printed:

    * JSON: a receipt ``{"seq", "leaf_hash", "note"}``, an upload's answer (``{"receipt": …}``),
      the client's ``--json`` output (``"receipt"`` or ``"receipts"``: one per part of a
      resumed download), or a list of any of these;
    * the headers of an answer (``curl -D``): ``Audit-Seq``, ``Audit-Leaf-Hash``,
      ``Audit-Receipt`` lines;
    * the signed receipt note itself.
    """
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise MalformedEvidence(f"the receipt is not valid JSON: {exc}") from None
        receipts = _receipts_in(value)
        if not receipts:
            raise MalformedEvidence("the JSON holds no receipt (seq, leaf_hash, note)")
        return receipts
    if "audit-receipt:" in text.lower():
        headers = {}
        for line in text.splitlines():
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip()] = value.strip()
        return [Receipt.from_headers(headers)]
    return [Receipt.from_note(text if text.endswith("\n") else text + "\n")]


def _receipts_in(value: object) -> list[Receipt]:
    if isinstance(value, list):
        return [receipt for item in value for receipt in _receipts_in(item)]
    if not isinstance(value, Mapping):
        return []
    if {"seq", "leaf_hash", "note"} <= value.keys():
        return [Receipt.from_json(value)]
    found: list[Receipt] = []
    for key in ("receipt", "receipts"):
        if key in value:
            found.extend(_receipts_in(value[key]))
    return found
