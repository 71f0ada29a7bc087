"""How the pages show values that are not text yet, in the person's language: document types
and purposes by name, moments and days as the Netherlands writes them, file sizes.

- **Document types and purposes** are codes of the policy (``travel_document``, ``terugkeer``).
  A page names them through the catalogs: the hub's own types have a name here
  (:data:`DOCUMENT_TYPE_NAMES`), a purpose is its code with its description translated (the
  demo policy's descriptions are in :data:`PURPOSE_DESCRIPTIONS`, marked for the catalogs). A
  type or description the catalogs do not know (a policy may add its own) is shown as the
  policy writes it. Translation happens here, in code, never with ``_()`` on a value inside a
  template: Jinja's ``_()`` marks its result safe, and a policy's text is no markup.
- **Moments** are shown in the Netherlands' time (:data:`~hub.pages.choices.ZONE`), Dutch
  ``06-12-2026 10:37``, English ``6 Dec 2026, 10:37`` (never the American month first).
- **Sizes**: bytes below 1 KB, else one decimal in the language's own way: ``5,0 MB``. A KB is
  1,024 bytes, as the file manager a caseworker uses counts it, so the size of a file on the
  page is the size they see on their computer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal
from starlette.requests import Request

from hub.core.db import as_utc
from hub.pages.choices import ZONE
from hub.shares.schemas import ShareState
from hub.ui.i18n import Language, language_of, translations
from hub.ui.rendering import N_

STATE_NAMES: Final[Mapping[str, str]] = {
    ShareState.ACTIVE: N_("active"),
    ShareState.EXPIRED: N_("expired"),
    ShareState.REVOKED: N_("revoked"),
    ShareState.SUSPENDED: N_("suspended"),
}

DOCUMENT_TYPE_NAMES: Final[Mapping[str, str]] = {
    "travel_document": N_("Travel document"),
    "decision": N_("Decision"),
    "case_info": N_("Case information"),
}
"""The names of the hub's document types (the demo policy's, and the design's)."""

PURPOSE_DESCRIPTIONS: Final = (
    N_("preparing and carrying out departure"),
    N_("reception and guidance"),
    N_("guardianship of minors"),
    N_("supervision and border control"),
    N_("accountability and audit"),
)
"""The descriptions of the processing activities (:mod:`hub.core.purposes`), for the catalogs:
a policy's description is translated when it is one of these."""

_LOCALES: Final = {Language.NL: "nl_NL", Language.EN: "en_GB"}
_MOMENT: Final = {Language.NL: "dd-MM-yyyy HH:mm", Language.EN: "d MMM yyyy, HH:mm"}
_UNITS: Final = (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10))
_FILE_KINDS: Final = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
}


@dataclass(frozen=True, slots=True)
class Display:
    """The values of one page, shown in ``language``."""

    language: Language

    @property
    def _gettext(self) -> Callable[[str], str]:
        return translations(self.language).gettext

    def document_type(self, name: str) -> str:
        """``travel_document`` as ``Reisdocument``; a type the hub has no name for, as it is."""
        known = DOCUMENT_TYPE_NAMES.get(name)
        return self._gettext(known) if known is not None else name

    def document_types(self, names: Iterable[str]) -> str:
        return ", ".join(self.document_type(name) for name in names)

    def content_types(self, content_types: Iterable[str]) -> str:
        """``PDF, JPEG of PNG``: the kinds of file a type takes, as a person names them."""
        kinds = [_FILE_KINDS.get(c, c) for c in content_types]
        return format_list(kinds, style="or", locale=_LOCALES[self.language])

    def purpose(self, code: str, description: str | None) -> str:
        """``terugkeer: vertrek voorbereiden en uitvoeren``: the code (the register's word,
        Dutch in every language) and its description, translated when the catalogs know it."""
        if not description:
            return code
        return f"{code}: {self._gettext(description)}"

    def moment(self, value: datetime) -> str:
        """``value`` in the Netherlands' time, as the language writes a date and time."""
        local = as_utc(value).astimezone(ZONE)
        return format_datetime(local, _MOMENT[self.language], locale=_LOCALES[self.language])

    def until(self, value: datetime) -> str:
        """The end of a share as a person reads it. A share given "until and including" a day
        ends at the next day's midnight in the Netherlands (:func:`hub.pages.choices.
        share_expiry`): that is shown as the last day itself (``5 januari 2027``), not as
        ``06-01-2027 00:00``, which reads as one day too many; any other end as a moment."""
        local = as_utc(value).astimezone(ZONE)
        if local.time() == time(0):
            return self.day(local.date() - timedelta(days=1))
        return self.moment(value)

    def day(self, value: date) -> str:
        """``5 maart 2027`` / ``5 March 2027``."""
        return format_date(value, "long", locale=_LOCALES[self.language])

    def seconds(self, value: float) -> str:
        """A duration in seconds to one decimal: ``1,5`` (``1.5`` in English)."""
        return format_decimal(value, format="#,##0.0", locale=_LOCALES[self.language])

    def size(self, size: int) -> str:
        """``597 bytes``, ``5,0 MB`` (``5.0 MB`` in English)."""
        for unit, factor in _UNITS:
            if size >= factor:
                number = format_decimal(
                    size / factor, format="#,##0.0", locale=_LOCALES[self.language]
                )
                return f"{number} {unit}"
        return translations(self.language).ngettext("%(num)d byte", "%(num)d bytes", size) % {
            "num": size
        }


def display(request: Request) -> Display:
    """The values of ``request``'s page, in the person's language."""
    return Display(language_of(request))


def options(values: Iterable[str], name: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """A select's (value, text) pairs: each value shown by ``name`` (as it is by default)."""
    return [(value, name(value)) for value in values]


def page_context(request: Request, **context: object) -> dict[str, object]:
    """A page's context with the helpers every page template may call."""
    shown = display(request)
    return {
        "moment": shown.moment,
        "day": shown.day,
        "until": shown.until,
        "size": shown.size,
        "seconds": shown.seconds,
        "type_name": shown.document_type,
        "type_names": shown.document_types,
        "file_kinds": shown.content_types,
        "purpose_name": shown.purpose,
        "state_names": STATE_NAMES,
        **context,
    }
