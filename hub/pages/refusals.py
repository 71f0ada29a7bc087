"""The services' refusals as a page says them: in the person's language, about what they entered.

The upload and the share pages call the same services as the API, whose refusals are English
problem details for programs (``the file is larger than the limit of 2 GiB``); the API keeps
them unchanged. A page maps each refusal it knows (by the error's class and, where one class
covers several, the service's message) to a message of the catalogs, filled in with what the
page itself knows: the type by its name, the maximum as a size or a day. A refusal it does not
know (a malformed request no page form sends) is said in general terms, never in English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Final

from hub.core.errors import (
    Forbidden,
    HubError,
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
    UnsupportedMediaType,
)
from hub.pages.choices import UploadChoices
from hub.pages.display import Display
from hub.web.limits import TooManyUploads, UploadsBusy

Gettext = Callable[[str], str]

# The services' messages of one class that a page tells apart (hub/documents/uploads.py,
# hub/documents/sniff.py, hub/shares/service.py; tests/hub/pages/test_refusals.py pins them).
_UPLOAD_INVALID: Final = (
    ("v_number:", "v_number"),
    ("the file is empty", "empty"),
    ("unknown document type", "type"),
    ("missing form field", "missing"),
    ("title: at most", "title_long"),
    ("title: may not hold", "title_hidden"),
    ("the form has no file part", "no_file"),
)
_NOT_LET: Final = re.compile(
    r"the policy does not let (?P<who>\S+) (?P<what>share|receive) documents of type (?P<type>\S+)"
)


def upload_refusal(
    exc: HubError,
    *,
    document_type: str | None,
    choices: UploadChoices,
    shown: Display,
    _: Gettext,
) -> str:
    """What the upload page says for ``exc``; ``document_type`` is the type the form chose
    (``None`` when the refusal came before the form's fields were read)."""
    option = next((o for o in choices.options if o.document_type == document_type), None)
    type_name = shown.document_type(document_type) if document_type else ""
    if isinstance(exc, PayloadTooLarge) and option is not None:
        return _("The file is larger than the maximum of %(size)s for %(type)s.") % {
            "size": shown.size(option.max_size),
            "type": type_name,
        }
    if isinstance(exc, UnsupportedMediaType) and option is not None:
        return _("For %(type)s you can upload only %(allowed)s; this file is of another kind.") % {
            "type": type_name,
            "allowed": shown.content_types(option.content_types),
        }
    if isinstance(exc, Forbidden) and document_type:
        return _("Your organisation may not upload documents of type %(type)s.") % {
            "type": type_name
        }
    if isinstance(exc, TooManyUploads | UploadsBusy | ServiceUnavailable):
        return _("The hub is busy with other uploads. Try again in a minute.")
    if isinstance(exc, Unprocessable):
        kind = next((k for start, k in _UPLOAD_INVALID if exc.message.startswith(start)), None)
        messages: Mapping[str | None, str] = {
            "v_number": _("A v-number is exactly 10 digits."),
            "empty": _("The file is empty."),
            "type": _("Choose a document type from the list."),
            "missing": _("Choose a document type and fill in the v-number."),
            "title_long": _("The title is too long."),
            "title_hidden": _("The title holds an invisible control character; type it again."),
            "no_file": _("Choose a file."),
        }
        if kind in messages:
            return messages[kind]
    return _("The upload could not be processed. Try again.")


def share_refusal(
    exc: HubError,
    *,
    last_day: date | None,
    max_days: int,
    shown: Display,
    _: Gettext,
    ngettext: Callable[[str, str, int], str],
) -> str:
    """What the share form says for the share service's refusal ``exc``; ``last_day`` is the
    latest day the policy allows for the chosen types (``max_days`` from now)."""
    message = exc.message
    if isinstance(exc, Forbidden) and (found := _NOT_LET.search(message)):
        names = {"type": shown.document_type(found["type"]), "organisation": found["who"]}
        if found["what"] == "share":
            text = _("The policy does not let your organisation share documents of type %(type)s.")
        else:
            text = _("The policy does not let %(organisation)s receive documents of type %(type)s.")
        return text % names
    if isinstance(exc, Unprocessable):
        if "may last at most" in message and last_day is not None:
            return ngettext(
                "This share may last at most %(num)d day: until %(day)s at the latest.",
                "This share may last at most %(num)d days: until %(day)s at the latest.",
                max_days,
            ) % {"num": max_days, "day": shown.day(last_day)}
        said = {
            "expires_at must lie in the future": _("The last day must be today or later."),
            "unknown organisation": _("Choose the organisation to share with from the list."),
            "an organisation cannot share with itself": _(
                "Your organisation cannot share with itself."
            ),
            "organisation ": _("Choose the organisation to share with from the list."),
            "purpose must be": _("Choose the purpose of the share."),
            "unknown document type": _("Choose at least one document type."),
        }
        known = next((text for start, text in said.items() if message.startswith(start)), None)
        if known is not None:
            return known
    return _("The share could not be made. Check what you entered and try again.")
