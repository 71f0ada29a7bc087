"""The rule for names that administrators give things: organisations and OAuth clients.

A name is shown in tables on an operator's terminal, in the admin UI and in CSV files, so it
must not be able to move a cursor, hide text or reorder it. After NFC normalisation (so that the
same name typed on two systems compares equal, which ``ketenhub org import`` relies on) and
trimming, a name is 1 to :data:`MAX_NAME` characters, every one printable in Python's sense:
no control characters (C0, C1, DEL), no format characters (the bidi controls U+202A-U+202E and
U+2066-U+2069, zero-width characters, the soft hyphen), no line or paragraph separators, no
surrogates, private-use or unassigned code points, and no space other than the ASCII space.
"""

from __future__ import annotations

import unicodedata
from typing import Final

MAX_NAME: Final = 200
_CATEGORIES: Final = {
    "Cc": "a control character",
    "Cf": "a format character",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than the ASCII space",
}


_HIDDEN: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def hidden_character(value: str) -> str | None:
    """What is wrong with free text a caller sets (a title, a purpose): ``None`` when every
    character is one that shows, else a description of the first that does not. Spaces of
    any kind are allowed here; controls, format characters (the bidi overrides and isolates,
    zero-width characters), separators of lines and paragraphs, surrogates, private-use and
    unassigned code points are not: they reorder or hide text wherever it is shown."""
    for char in value:
        category = unicodedata.category(char)
        if category in _HIDDEN:
            return f"U+{ord(char):04X} ({_CATEGORIES[category]})"
    return None


def clean_name(value: str) -> str:
    """``value`` normalised and trimmed; raises ``ValueError`` saying what is wrong with it."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ValueError("a name must not be empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"a name is at most {MAX_NAME} characters")
    bad = next((char for char in name if not char.isprintable()), None)
    if bad is not None:
        what = _CATEGORIES.get(unicodedata.category(bad), "not printable")
        raise ValueError(
            f"a name may hold printable characters only, not U+{ord(bad):04X} ({what})"
        )
    return name
