"""Header values of multipart parts: media types, parameters, and safe file names.

Split from :mod:`hub.documents.form`, which parses the body; these are the pure functions it
uses on each part's headers.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final
from urllib.parse import unquote_to_bytes

MAX_FILENAME_BYTES: Final = 255

_TCHAR: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"  # RFC 9110 §5.6.2
_PARAMETER: Final = re.compile(r"[ \t;]*(" + _TCHAR + r"+)[ \t]*=[ \t]*")
_MEDIA_TYPE: Final = re.compile(_TCHAR + "{1,127}/" + _TCHAR + "{1,127}")  # RFC 6838 §4.2
# Cs cannot survive strict decoding; it is listed so the rule reads as "no invisible code points".
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Cs"})
_MAX_KEPT_SUFFIX: Final = 16


def media_type(value: str) -> str | None:
    """The lowercased ``type/subtype`` of a Content-Type value, or ``None`` if it has none."""
    essence = value.partition(";")[0].strip(" \t").lower()
    return essence if _MEDIA_TYPE.fullmatch(essence) else None


def parse_parameters(value: str) -> tuple[str, dict[str, str]]:
    """Split ``value; name=token; name="quoted"`` (RFC 9110 §5.6.6) into its lowercased first
    item and its parameters, with lowercased names. Raises ``ValueError`` when malformed.

    Written here rather than taken from python-multipart's ``parse_options_header`` because that
    drops ``filename*`` (RFC 8187) and lets the last of two equal parameters win silently; a
    parameter given twice is an error here, since parsers that pick different ones disagree on
    what was sent. Inside quotes, a backslash escapes only ``"`` and ``\\``, so an unescaped
    Windows path keeps its separators.
    """
    first, _, rest = value.partition(";")
    params: dict[str, str] = {}
    i = 0
    while match := _PARAMETER.match(rest, i):
        name, i = match.group(1).lower(), match.end()
        quoted = rest.startswith('"', i)
        if quoted:
            text, i = _quoted_string(rest, i + 1)
        stop = rest.find(";", i)
        stop = len(rest) if stop == -1 else stop
        if not quoted:
            text = rest[i:stop].strip(" \t")
        elif rest[i:stop].strip(" \t"):
            raise ValueError("text follows a quoted string")
        if name in params:
            raise ValueError("a parameter is given twice")
        params[name], i = text, stop
    if rest[i:].strip(" \t;"):
        raise ValueError("a parameter has no name or no value")
    return first.strip(" \t").lower(), params


def _quoted_string(text: str, start: int) -> tuple[str, int]:
    """The content of the quoted string whose opening quote precedes ``start``, and the index
    after its closing quote."""
    out: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\" and text[i + 1 : i + 2] in ('"', "\\"):
            i += 1
            char = text[i]
        out.append(char)
        i += 1
    raise ValueError("unterminated quoted string")


def decode_header_value(raw: bytes) -> str:
    # Browsers send UTF-8 in form part headers (WHATWG HTML, multipart/form-data encoding);
    # anything else is taken as ISO-8859-1, HTTP's historical header charset, rather than refused.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def filename_of(params: dict[str, str]) -> str | None:
    """The sanitised ``filename*`` (RFC 8187) when it decodes to a usable name, else ``filename``.

    RFC 7578 §4.2 tells senders not to use ``filename*``; a client that does anyway means it.
    """
    extended = params.get("filename*")
    if extended is not None:
        charset, _, rest = extended.partition("'")
        _language, quote, encoded = rest.partition("'")
        if quote and charset.lower() in ("utf-8", "iso-8859-1"):
            try:
                name = sanitise_filename(unquote_to_bytes(encoded).decode(charset))
            except UnicodeDecodeError:
                name = None
            if name is not None:
                return name
    plain = params.get("filename")
    return None if plain is None else sanitise_filename(plain)


def sanitise_filename(raw: str) -> str | None:
    """A file name that is safe to keep as metadata and show in a Content-Disposition.

    The last path segment (after ``/`` or ``\\``), without invisible code points (Unicode
    categories Cc and Cf, which include the bidi overrides that make ``fdp.exe`` display as
    ``exe.pdf``), whitespace collapsed to single spaces, leading dots and spaces removed (no
    hidden files, no ``..``), NFC-normalised and at most 255 UTF-8 bytes, cut between
    characters and keeping a short extension. ``None`` if nothing is left.
    """
    name = re.split(r"[/\\]", raw)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in _INVISIBLE)
    name = unicodedata.normalize("NFC", " ".join(name.split())).lstrip(". ")
    if len(name.encode("utf-8")) > MAX_FILENAME_BYTES:
        stem, dot, suffix = name.rpartition(".")
        kept = dot + suffix
        if not stem or " " in suffix or len(kept.encode("utf-8")) > _MAX_KEPT_SUFFIX:
            stem, kept = name, ""
        room = MAX_FILENAME_BYTES - len(kept.encode("utf-8"))
        # Cutting the encoding and dropping the incomplete last character never splits one.
        cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(" .")
        name = unicodedata.normalize("NFC", cut + kept)
    return name or None
