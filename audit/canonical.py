"""RFC 8785 JSON Canonicalization Scheme (JCS) for audit leaves.

The leaf hash is ``SHA-256(0x00 || JCS(leaf))``, so every verifier must produce the same bytes
for the same event. JCS fixes them:

* no whitespace; object members sorted by the UTF-16 code units of their names (§3.2.3);
* strings escaped as ECMAScript's ``JSON.stringify`` does: ``\\"``, ``\\\\``, the short forms
  ``\\b \\f \\n \\r \\t``, other controls as ``\\u00xx`` in lowercase hex, everything else
  literal UTF-8 (§3.2.2.2);
* numbers serialised as ECMAScript does (§3.2.2.3).

The audit leaves hold only strings, integers, booleans and nested objects or arrays of those,
so this module accepts exactly that: integers must be exactly representable as IEEE 754
doubles (|n| ≤ 2**53 - 1), where ECMAScript prints them as plain digits, and floats are
refused rather than risk a second number formatter. Lone surrogates are refused: JCS requires
valid Unicode. Within those limits Python's ``json`` encoder, with sorted keys, writes exactly
the JCS bytes, except for member order when a name holds characters beyond the BMP; names are
therefore sorted by their UTF-16 encoding here.

The test suite checks the output against Trail of Bits' independent ``rfc8785`` package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["MAX_SAFE_INTEGER", "canonical_json"]

MAX_SAFE_INTEGER: Final = 2**53 - 1
_encode_string = json.JSONEncoder(ensure_ascii=False).encode
_encode_flat = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode

JsonValue = str | int | bool | None | Sequence["JsonValue"] | Mapping[str, "JsonValue"]


def canonical_json(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value``; ``TypeError``/``ValueError`` if it has
    something a leaf may not hold (floats, unsafe integers, non-string keys, lone surrogates)."""
    if isinstance(value, dict) and _is_flat_ascii(value):
        text = _encode_flat(value)
    else:
        parts: list[str] = []
        _write(value, parts)
        text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("JCS requires valid Unicode: a string holds a lone surrogate") from None


def _is_flat_ascii(value: dict[object, object]) -> bool:
    """The common leaf: ASCII names (sorted alike in UTF-16 and code points) and scalar values,
    which the C encoder writes exactly as JCS does."""
    for key, item in value.items():
        if not (isinstance(key, str) and key.isascii()):
            return False
        kind = type(item)
        if kind is str or kind is bool:
            continue
        if kind is not int or not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:  # type: ignore[operator]
            return False
    return True


def _write(value: object, out: list[str]) -> None:  # noqa: PLR0912 - one branch per JSON type
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is not exactly representable in JSON (JCS)")
        out.append(str(int(value)))
    elif isinstance(value, float):
        raise TypeError("audit leaves hold no floating-point numbers")
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_order):
            if not isinstance(key, str):
                raise TypeError(f"JSON object names must be strings, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def _utf16_order(key: object) -> bytes:
    if not isinstance(key, str):
        raise TypeError(f"JSON object names must be strings, not {type(key).__name__}")
    return key.encode("utf-16-be", "surrogatepass")
