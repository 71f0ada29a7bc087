"""Rendering pages: :func:`render` and the Jinja2 environment behind it.

Templates live in ``hub/ui/templates`` and extend ``base.html`` (skip link, header with the
hub's name, navigation for the person's roles, language switch, main landmark, footer); the form,
error, table and alert macros are in ``macros.html`` and use the NL Design System's
``utrecht-*`` and ``rhc-*`` classes, styled by the vendored Rijkshuisstijl CSS
(``scripts/vendor-assets``) and ``/static/ui/hub.css``.

Invariants:

- **Autoescape is on** for every template, so a value is text unless a template says otherwise
  (none does for anything that came from a request).
- **No inline script or style** in any template: the pages' Content-Security-Policy
  (:data:`PAGE_CSP`, set on every HTML answer by the app's header middleware) refuses both.
- **One environment per language**, each with that language's gettext catalog installed
  (``{% trans %}`` and ``_()``), built once; templates are compiled once per environment.
- The person a page is for, and the CSRF token its forms carry, reach ``base.html`` through
  :func:`show_person` / :func:`show_csrf_token` (called by :mod:`hub.ui.person` and the login
  flow), so a page's own context holds only what the page itself shows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from auth.scopes import Scope
from auth.tokens import Principal
from hub.ui.i18n import Language, language_of, translations
from hub.ui.navigation import local_path
from hub.web.assets import PREFIX as STATIC_PREFIX
from hub.web.assets import vendored

# The policy of every page (decision 0024): nothing but the hub's own scripts, styles and
# images (data: for the icons the NL Design System CSS inlines), forms post only to the hub,
# no framing, no <base>; scripts fetch only from the hub (the upload's progress, the
# receipts after a download). The API docs set a policy of their own (with a nonce) and keep it.
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)
PAGE_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": PAGE_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # Every page shows something of a person or is a step of a login: none may be kept.
    "Cache-Control": "no-store",
}

HUB_NAME: Final = "Ketenhub"


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark, do not translate"
    """Marks ``message`` for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link of the main navigation, shown to a person holding ``scope``."""

    path: str
    label: str
    scope: Scope | None

    def current(self, path: str) -> str | None:
        """The link's ``aria-current`` on the page at ``path``: ``page`` on its own page,
        ``true`` on a page under it (a document under Documents), none elsewhere."""
        if path == self.path:
            return "page"
        if self.path != "/" and path.startswith(f"{self.path}/"):
            return "true"
        return None


NAVIGATION: Final = (
    NavItem("/", N_("Home"), None),
    NavItem("/documents", N_("Documents"), Scope.DOCUMENTS_READ),
    NavItem("/shares", N_("Shares"), Scope.SHARES_WRITE),
    NavItem("/audit", N_("Audit"), Scope.AUDIT_READ),
    NavItem("/admin", N_("Administration"), Scope.ADMIN),
)

SECTIONS: Final = {
    "/audit": (
        NavItem("/audit", N_("Overview"), Scope.AUDIT_READ),
        NavItem("/audit/events", N_("Events"), Scope.AUDIT_READ),
        NavItem("/audit/subject-report", N_("Subject report"), Scope.AUDIT_READ),
        NavItem("/audit/integrity", N_("Integrity"), Scope.AUDIT_READ),
        NavItem("/audit/policy", N_("Policy"), Scope.AUDIT_READ),
    ),
    "/admin": (
        NavItem("/admin", N_("Overview"), Scope.ADMIN),
        NavItem("/admin/organisations", N_("Organisations"), Scope.ADMIN),
        NavItem("/admin/users", N_("People"), Scope.ADMIN),
        NavItem("/admin/clients", N_("Clients"), Scope.ADMIN),
        NavItem("/admin/shares", N_("Shares"), Scope.ADMIN),
        NavItem("/admin/policy", N_("Policy"), Scope.ADMIN),
    ),
}
"""The second navigation of a section: the auditor's console and the administration each have
several pages, shown as links under the main navigation on every page of the section."""


def navigation(principal: Principal | None) -> tuple[NavItem, ...]:
    """The links ``principal`` may follow; none before login."""
    if principal is None:
        return ()
    return tuple(i for i in NAVIGATION if i.scope is None or i.scope in principal.scopes)


def section_navigation(principal: Principal | None, path: str) -> tuple[NavItem, ...]:
    """The section links of the page at ``path`` that ``principal`` may follow (none outside a
    section)."""
    if principal is None:
        return ()
    for prefix, items in SECTIONS.items():
        if path == prefix or path.startswith(f"{prefix}/"):
            return tuple(i for i in items if i.scope is None or i.scope in principal.scopes)
    return ()


def show_person(request: Request, principal: Principal) -> None:
    """Make ``principal`` the person the page's header names and navigates for."""
    request.state.ui_principal = principal


def show_csrf_token(request: Request, token: str) -> None:
    """The token every form of the page carries (``csrf_token``: :mod:`hub.ui.csrf`)."""
    request.state.ui_csrf_token = token


def static_url(path: str) -> str:
    """The URL of ``path`` under ``hub/static``."""
    return f"{STATIC_PREFIX}/{path}"


@functools.cache
def _stylesheets() -> tuple[str, ...]:
    return (
        static_url(vendored("@rijkshuisstijl-community/design-tokens", "index.css")),
        static_url(vendored("@rijkshuisstijl-community/components-css", "index.css")),
        static_url("ui/hub.css"),
    )


@functools.cache
def environment(language: Language) -> jinja2.Environment:
    """The template environment of ``language``: autoescaped, strict, with its catalog."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hub.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails the test, not the page
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        hub_name=HUB_NAME,
        lang=language.value,
        languages=tuple(Language),
        static_url=static_url,
        stylesheets=_stylesheets(),
    )
    return env


def render(
    request: Request,
    template: str,
    context: Mapping[str, object],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` in the person's language. The security headers of a page are added
    to every HTML answer by the app (:data:`PAGE_HEADERS`); they are set here as well, so a
    page answers with them however it is served."""
    language = language_of(request)
    principal: Principal | None = getattr(request.state, "ui_principal", None)
    page: dict[str, object] = {
        "principal": principal,
        # oauth-code's person tokens carry the username; a client's token only its client id.
        "person_name": (getattr(principal, "username", None) or principal.client_id)
        if principal is not None
        else None,
        "navigation": navigation(principal),
        "section_navigation": section_navigation(principal, request.url.path),
        "csrf_token": getattr(request.state, "ui_csrf_token", None),
        "current_path": request.url.path,
        # Where the language switch returns to: this page (its path only, never a query, which
        # a search form's page could hold), checked like every `next`.
        "return_path": local_path(request.url.path),
    }
    page.update(context)
    body = environment(language).get_template(template).render(page)
    return HTMLResponse(body, status_code=status_code, headers=dict(PAGE_HEADERS))


def translator(request: Request) -> Callable[[str], str]:
    """``gettext`` in the person's language, for text a page builds in code."""
    return translations(language_of(request)).gettext
