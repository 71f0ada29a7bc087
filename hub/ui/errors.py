"""Errors as pages: what a browser is shown when a page (or an unknown path) fails.

The design lets errors outside ``/api`` and the OAuth endpoints be HTML for a browser that asks
for ``text/html``; the API, the OAuth JSON endpoints and the operational ones always answer as
before (problem+json, or OAuth's error JSON). :class:`ErrorPages` is what the exception
handlers of :mod:`hub.web.error_handlers` consult (installed by the app): for a request that
should see a page it renders ``error.html`` with the answer's status, else it returns ``None``
and the JSON answer stands.

The page says what happened in general words of the person's language, never the error's own
message (developer English, possibly naming internals), and for a server error only the
reference that the log line carries. A document that does not exist and one the person may not
see both raise the same not-found error, so both get this one 404 page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from fastapi import Request
from fastapi.responses import HTMLResponse

from hub.ui.rendering import N_, render, translator
from hub.web.problems import answers_oauth_errors

# Paths whose errors are never pages, whatever the client accepts: the API, the machine
# readable metadata, and the files (a missing stylesheet is a 404, not a page).
_MACHINE_PREFIXES: Final = ("/api/", "/.well-known/", "/static/")
# Headers of the JSON answer a page keeps: what a client should do next.
_KEPT_HEADERS: Final = ("retry-after", "allow")

_PAGES: Final[Mapping[int, tuple[str, str]]] = {
    400: (
        N_("The request could not be read"),
        N_("Something in what was sent was not right. Go back and try again."),
    ),
    401: (N_("Not logged in"), N_("Log in to see this page.")),
    403: (
        N_("Not allowed"),
        N_("You may not do this. If you think you should, ask your administrator."),
    ),
    404: (
        N_("Page not found"),
        N_("This page does not exist, or you may not see it. Check the address or the link."),
    ),
    405: (N_("Not possible here"), N_("This page cannot be used this way.")),
    408: (N_("Too slow"), N_("What was sent took too long to arrive. Try again.")),
    413: (N_("Too large"), N_("What was sent is larger than the hub accepts.")),
    415: (N_("Not accepted"), N_("The hub does not accept this kind of file here.")),
    422: (
        N_("The form could not be processed"),
        N_("Some of what was entered is not valid. Go back, check the fields and try again."),
    ),
    429: (N_("Too many attempts"), N_("Wait a little, then try again.")),
    500: (
        N_("Something went wrong"),
        N_(
            "The hub could not handle this. Try again later; if it keeps happening, report it "
            "with the reference below."
        ),
    ),
    503: (N_("Temporarily unavailable"), N_("The hub cannot do this right now. Try again later.")),
}
_OTHER_CLIENT_ERROR: Final = (
    N_("The request could not be handled"),
    N_("Go back and try again."),
)
_OTHER_SERVER_ERROR: Final = _PAGES[500]


def accepts_html(accept: str) -> bool:
    """Whether an ``Accept`` header names ``text/html`` (with a q above 0), as every browser's
    navigation does; ``*/*`` alone is a program's, and gets JSON."""
    for item in accept.split(","):
        media, _, parameters = item.partition(";")
        if media.strip().lower() != "text/html":
            continue
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def wants_page(request: Request) -> bool:
    """Whether an error of ``request`` is answered with a page."""
    path = request.url.path
    if path.startswith(_MACHINE_PREFIXES) or answers_oauth_errors(path):
        return False
    return accepts_html(request.headers.get("accept", ""))


class ErrorPages:
    """The error pages of :mod:`hub.web.error_handlers` (its ``ErrorPages`` protocol)."""

    def __call__(
        self,
        request: Request,
        *,
        status: int,
        headers: Mapping[str, str],
        reference: str | None = None,
    ) -> HTMLResponse | None:
        if not wants_page(request):
            return None
        title, explanation = _PAGES.get(
            status, _OTHER_SERVER_ERROR if status >= 500 else _OTHER_CLIENT_ERROR
        )
        gettext = translator(request)
        response = render(
            request,
            "error.html",
            {
                "title": gettext(title),
                "explanation": gettext(explanation),
                "reference": reference if status >= 500 else None,
            },
            status_code=status,
        )
        for name, value in headers.items():
            if name.lower() in _KEPT_HEADERS:
                response.headers[name] = value
        return response
