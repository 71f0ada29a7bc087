"""RFC 8785 (JCS) canonical JSON of an audit leaf, so a partner recomputes its leaf hash.

The hub's leaf hash is ``SHA-256(0x00 || JCS(leaf))``: the event as a JSON object, written in
the one byte sequence RFC 8785 fixes. A leaf is flat: its members are strings and integers
(``seq``, ``content_size``). This module writes exactly that subset, by the RFC's rules:

* no whitespace; members sorted by their names' UTF-16 code units (§3.2.3), which is the
  order of their UTF-16BE bytes;
* strings (§3.2.2.2, ECMAScript's ``JSON.stringify``): ``"`` and ``\\`` escaped, the controls
  U+0008, U+0009, U+000A, U+000C, U+000D as ``\\b \\t \\n \\f \\r``, the other controls below
  U+0020 as ``\\u00xx`` in lowercase hex, everything else as its literal UTF-8; a lone surrogate
  is not valid Unicode and is refused;
* integers (§3.2.2.3): within ±(2**53 - 1), where ECMAScript prints plain digits; anything
  larger has no exact JSON number and is refused, as are floats (a leaf holds none);
* ``true`` and ``false`` for booleans.

It is written out rather than borrowed from ``json.dumps(sort_keys=True, ...)``: Python sorts
keys by code point, which differs from UTF-16 order for names beyond the BMP, and ``json``'s
escaping rules are an implementation detail here, not a contract. The tests hold it against
Trail of Bits' independent ``rfc8785`` package. What a leaf never holds (``null``, nested
objects, arrays, floats) raises :class:`MalformedEvidence`: a partner's check refuses what it
cannot reproduce exactly instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping

from ketenhub_client.verification_errors import MalformedEvidence

__all__ = ["MAX_SAFE_INTEGER", "canonical_leaf"]

MAX_SAFE_INTEGER = 2**53 - 1

_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def canonical_leaf(leaf: Mapping[str, object]) -> bytes:
    """The RFC 8785 bytes of a flat JSON object of strings, integers and booleans."""
    if not isinstance(leaf, Mapping):
        raise MalformedEvidence("an audit leaf is a JSON object")
    members = []
    for name in leaf:
        if not isinstance(name, str):
            raise MalformedEvidence("an audit leaf's member names are strings")
        members.append((_utf16(name), name))
    members.sort()
    parts = [f"{_string(name)}:{_value(name, leaf[name])}" for _, name in members]
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def _utf16(name: str) -> bytes:
    try:
        return name.encode("utf-16-be")
    except UnicodeEncodeError:
        raise MalformedEvidence("a leaf member name is not valid Unicode") from None


def _value(name: str, value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise MalformedEvidence(f"leaf member {name!r}: {value} has no exact JSON number")
        return str(value)
    raise MalformedEvidence(
        f"leaf member {name!r} is a {type(value).__name__}; a leaf holds strings and integers"
    )


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        short = _SHORT.get(ch)
        if short is not None:
            out.append(short)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        elif "\ud800" <= ch <= "\udfff":
            raise MalformedEvidence("a leaf string holds a lone surrogate (not valid Unicode)")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
