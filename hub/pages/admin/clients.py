"""The partner clients: the list (state, last use), registering one, disabling and enabling.

The same work as ``ketenhub client add|list|disable|enable``, through
:class:`hub.clients.administration.ClientAdministration`, recorded with the administrator as the
actor. A registration offers the scopes as checkboxes and the policy's purposes; a refusal (the
separation of duties among them) is said on the form with what was entered, in the person's
language. A generated private key is shown once, on the answer to the form, and kept nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Final

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from auth.scopes import Scope
from hub.clients import service as clients
from hub.clients.administration import ClientAdministration, Registration
from hub.core.cached import BOUND
from hub.core.errors import HubError, Unprocessable
from hub.directory import organisations_repository
from hub.pages.admin.serving import ClientAdder, ClientDisabler, ClientEnabler, ClientsReader
from hub.pages.dependencies import check_form
from hub.pages.display import display, page_context
from hub.ui.person import CurrentPerson
from hub.ui.rendering import N_, render, translator

router = APIRouter(include_in_schema=False)

STOP_WITHIN: Final = int(BOUND)
"""Seconds within which a disabled client's tokens stop working on every replica (decision 0036;
:data:`hub.core.cached.CUT_OFF` plus the time of one read)."""

ClientId = Annotated[str, Path(min_length=1, max_length=64)]

STATE_NAMES: Final[Mapping[str, str]] = {
    "enabled": N_("enabled"),
    "disabled": N_("disabled"),
    "organisation disabled": N_("organisation disabled"),
    "scopes break separation of duties": N_("scopes break the separation of duties"),
}
SCOPE_DESCRIPTIONS: Final[Mapping[Scope, str]] = {
    Scope.DOCUMENTS_WRITE: N_("upload documents, and delete where the policy allows"),
    Scope.DOCUMENTS_READ: N_("list, search and download what the policy and shares allow"),
    Scope.SHARES_WRITE: N_("grant and revoke shares"),
    Scope.AUDIT_READ: N_("read, export and verify the audit trail; never content"),
    Scope.ADMIN: N_("manage organisations, clients and the policy; never content"),
    Scope.METRICS_READ: N_("scrape the operational metrics; held alone"),
}


def _list_page(
    request: Request,
    service: ClientAdministration,
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "pages/admin/clients.html",
        page_context(
            request,
            clients=service.clients(),
            methods=clients.methods,
            client_states=STATE_NAMES,
            # Decision 0036's bound on every replica (the cache's CUT_OFF plus a read's time).
            stop_within=STOP_WITHIN,
            errors=errors or [],
        ),
        status_code=status_code,
    )


@router.get("/admin/clients", response_class=HTMLResponse)
def client_list(request: Request, service: ClientsReader) -> HTMLResponse:
    return _list_page(request, service)


def _form_page(
    request: Request,
    service: ClientAdministration,
    *,
    values: Mapping[str, object],
    errors: list[str],
    status_code: int = 200,
) -> HTMLResponse:
    shown = display(request)
    _ = translator(request)
    organisations = [
        (o.code, f"{o.name} ({o.code})")
        for o in organisations_repository.list_all(service.session)
        if o.enabled
    ]
    purposes = service.deps.policy.purposes
    return render(
        request,
        "pages/admin/client_new.html",
        page_context(
            request,
            values=values,
            errors=errors,
            organisation_options=[("", ""), *organisations],
            purpose_options=[(c, shown.purpose(c, d)) for c, d in purposes.items()],
            scopes=[(scope.value, _(text)) for scope, text in SCOPE_DESCRIPTIONS.items()],
        ),
        status_code=status_code,
    )


@router.get("/admin/clients/new", response_class=HTMLResponse)
def new_client(request: Request, service: ClientAdder) -> HTMLResponse:
    values = {"key": "generate", "scopes": [], "processing_activity": "terugkeer"}
    return _form_page(request, service, values=values, errors=[])


@router.post("/admin/clients/new", response_class=HTMLResponse)
async def add_client(request: Request, service: ClientAdder, person: CurrentPerson) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    text = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    scopes = [v for v in form.getlist("scopes") if isinstance(v, str)]
    values: dict[str, object] = {
        "organisation": text.get("organisation", ""),
        "name": text.get("name", ""),
        "scopes": scopes,
        "processing_activity": text.get("processing_activity", ""),
        "key": text.get("key", ""),
        "jwks": text.get("jwks", ""),
        "jwks_uri": text.get("jwks_uri", ""),
    }
    _ = translator(request)
    if values["key"] not in ("generate", "jwks", "jwks_uri"):
        return _form_page(
            request,
            service,
            values=values,
            errors=[_("Choose whether to generate a key pair, paste a JWK Set or give its URL.")],
            status_code=422,
        )
    registration = Registration(
        organisation=text.get("organisation", ""),
        name=text.get("name", ""),
        scopes=scopes,
        processing_activity=text.get("processing_activity", ""),
        generate=values["key"] == "generate",
        jwks=text.get("jwks", ""),
        jwks_uri=text.get("jwks_uri", "").strip() if values["key"] == "jwks_uri" else None,
    )
    try:
        new = service.add(registration)
    except Unprocessable as exc:
        said = client_refusal(exc, _)
        return _form_page(request, service, values=values, errors=[said], status_code=422)
    return render(
        request,
        "pages/admin/client_added.html",
        page_context(
            request,
            client=new.client,
            private_jwk=json.dumps(new.private_jwk, indent=2) if new.private_jwk else None,
        ),
        status_code=201,
    )


async def _change(
    request: Request,
    service: ClientAdministration,
    person: CurrentPerson,
    act: Callable[[str], None],
    client_id: str,
) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    try:
        act(client_id)
    except Unprocessable as exc:
        return _list_page(
            request, service, errors=[client_refusal(exc, translator(request))], status_code=422
        )
    return RedirectResponse("/admin/clients", status_code=303)


@router.post("/admin/clients/{client_id}/disable")
async def disable_client(
    request: Request, service: ClientDisabler, person: CurrentPerson, client_id: ClientId
) -> Response:
    return await _change(request, service, person, service.disable, client_id)


@router.post("/admin/clients/{client_id}/enable")
async def enable_client(
    request: Request, service: ClientEnabler, person: CurrentPerson, client_id: ClientId
) -> Response:
    return await _change(request, service, person, service.enable, client_id)


def client_refusal(exc: HubError, _: Callable[[str], str]) -> str:
    """What the clients' pages say for a refusal of :mod:`hub.clients.service` (its messages,
    pinned by the tests), in the person's language; the JWK Set's own problem is technical
    and stays as the key library words it."""
    message = exc.message
    said = (
        ("no enabled organisation", _("Choose an enabled organisation from the list.")),
        ("organisation ", _("The organisation is disabled; enable it first.")),
        ("a name must not be empty", _("Give the client a name.")),
        ("a name is at most", _("The name is too long.")),
        ("a name may hold", _("The name holds an invisible control character; type it again.")),
        ("unknown scope", _("Choose the scopes from the list.")),
        ("metrics:read is held alone", _("metrics:read is held alone, without any other scope.")),
        ("name at least one scope", _("Choose at least one scope.")),
        ("unknown processing activity", _("Choose a processing activity from the list.")),
        ("give the client's public keys", _("Paste the client's public JWK Set.")),
        ("the JWK Set holds no keys", _("The JWK Set holds no keys.")),
        (
            "the JWK Set holds a private key",
            _("The JWK Set holds a private key: paste the public keys only."),
        ),
        ("RSA keys must have", _("RSA keys must have at least 2048 bits.")),
        ("keys must be RSA", _("The keys must be RSA or EC P-256 keys.")),
        ("the jwks_uri must use https", _("The key set's URL must begin with https://.")),
        ("a jwks_uri is", _("The key set's URL is too long or holds spaces.")),
        ("the jwks_uri", _("The key set's URL is not a valid https:// URL.")),
    )
    if "separation of duties" in message and "cannot be held together" in message:
        return _(
            "audit:read and admin cannot be held together with documents:read, "
            "documents:write or shares:write: whoever audits or administers the casework "
            "must not also do it (separation of duties)."
        )
    if "cannot be enabled" in message:
        return _(
            "This client cannot be enabled: its scopes break the separation of duties. "
            "Register a new client for each duty."
        )
    if "the one people log in through" in message:
        return _(
            "People log in through this client: disabling it would end everyone's login, yours "
            "included. Disable it on the command line if you must."
        )
    if message.startswith("client ") and "which is disabled" in message:
        return _("The client's organisation is disabled; enable the organisation first.")
    if message.startswith("the JWK Set is not valid: "):
        return _("The JWK Set is not valid: %(problem)s") % {
            "problem": message.removeprefix("the JWK Set is not valid: ")
        }
    found = next((text for start, text in said if message.startswith(start)), None)
    return found or _("The client could not be registered. Check what you entered.")
