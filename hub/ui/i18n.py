"""The languages of the web UI: Dutch (the default) and English, through gettext catalogs.

Message ids are English; ``hub/ui/locale/<lang>/LC_MESSAGES/messages.po`` holds each language's
translations and ``messages.mo`` their compiled form, both in the package (``scripts/messages``
extracts, updates and compiles them; a test fails when a compiled catalog is behind its source
or a message of the templates or code has no Dutch translation).

A person chooses the language with the switch in every page's header (a POST form, see
:mod:`hub.ui.endpoints`); the choice is kept in the cookie :data:`LANGUAGE_COOKIE`. Without
one, pages are Dutch: the hub's people work for Dutch organisations, and a page that changed
language with the browser's settings would surprise more than it helps.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from importlib import resources
from typing import Final

from babel.support import NullTranslations, Translations
from starlette.requests import Request

LANGUAGE_COOKIE: Final = "__Host-ketenhub-lang"
LANGUAGE_COOKIE_MAX_AGE: Final = 365 * 24 * 3600
DOMAIN: Final = "messages"


class Language(StrEnum):
    """A language of the pages; the value is its BCP 47 tag, as ``<html lang>`` carries it."""

    NL = "nl"
    EN = "en"

    @property
    def autonym(self) -> str:
        """The language's name in itself, as the switch shows it (never translated)."""
        return _AUTONYMS[self]


_AUTONYMS: Final = {Language.NL: "Nederlands", Language.EN: "English"}
DEFAULT_LANGUAGE: Final = Language.NL


def parse_language(value: str | None) -> Language | None:
    """The language ``value`` names, or ``None`` for anything else (a cookie is input)."""
    try:
        return Language(value) if value is not None else None
    except ValueError:
        return None


def language_of(request: Request) -> Language:
    """The language the person chose (their cookie), else Dutch."""
    return parse_language(request.cookies.get(LANGUAGE_COOKIE)) or DEFAULT_LANGUAGE


@functools.cache
def translations(language: Language) -> NullTranslations:
    """The compiled catalog of ``language``, read once from the package."""
    directory = resources.files("hub.ui").joinpath("locale")
    if not directory.joinpath(language.value, "LC_MESSAGES", f"{DOMAIN}.mo").is_file():
        # Babel falls back to no translations at all when the file is missing: for Dutch that
        # would show English pages without a word of warning; it is a packaging error.
        raise LookupError(f"no compiled {DOMAIN}.mo for {language.value}: run scripts/messages")
    with resources.as_file(directory) as path:
        return Translations.load(str(path), [language.value], domain=DOMAIN)
