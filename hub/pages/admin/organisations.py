"""``/admin/organisations``: the chain's organisations, adding one, disabling and enabling, and
the bulk import of a CSV file of gemeenten.

The same rules and records as ``/api/v1/organisations`` and ``ketenhub org``: adding and
changing go through :class:`~hub.organisations.service.OrganisationService` (the API's), the
import through :func:`hub.organisations.importing.import_file` (``ketenhub org import``'s
reading, plan and changes). A refusal is the page again with its reason, in the person's
language, with the service's status (422 invalid, 409 taken, 403 one's own organisation).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from hub.accounts import repository as accounts_repository
from hub.core.errors import Conflict, Forbidden, HubError
from hub.directory import clients_repository, organisations_repository
from hub.organisations.importing import MAX_BYTES, ImportRefused, import_file
from hub.organisations.schemas import OrganisationIn, OrganisationPatch
from hub.organisations.service import OrganisationService
from hub.pages.admin.people import (
    OrganisationAdder,
    OrganisationAdmin,
    OrganisationDisabler,
    OrganisationEnabler,
)
from hub.pages.dependencies import check_form
from hub.pages.display import page_context
from hub.pages.refusals import Gettext
from hub.tables.organisations import CODE_PATTERN, OrganisationKind
from hub.ui.person import CurrentPerson
from hub.ui.rendering import render, translator

router = APIRouter(include_in_schema=False)

PAGE: Final = "/admin/organisations"
Code = Annotated[str, Path(pattern=CODE_PATTERN)]

# The service's refusals of a new organisation (hub/organisations/service.py), as the form
# says them; the first that the message starts with or holds.
_SAID: Final = (
    ("is not an organisation code", "code"),
    ("unknown kind", "kind"),
    ("a gemeente's code is its CBS code", "gemeente"),
    ("is a gemeente's CBS code", "not_gemeente"),
)


def refusal(exc: HubError, _: Gettext) -> str:
    """What the organisations page says for the service's refusal ``exc``."""
    if isinstance(exc, Conflict):
        return _("An organisation with this code exists already.")
    if isinstance(exc, Forbidden):
        return _("You cannot disable your own organisation; an operator can, on the hub's host.")
    kind = next((k for text, k in _SAID if text in exc.message), "name")
    said = {
        "code": _("A code is an upper-case letter, then 1 to 15 upper-case letters or digits."),
        "kind": _("Choose the kind of organisation from the list."),
        "gemeente": _("A gemeente's code is its CBS code: GM and four digits, such as GM0363."),
        "not_gemeente": _("Only a gemeente may have a code of GM and four digits."),
        "name": _("Give a name of 1 to 200 characters, without control characters."),
    }
    return said[kind]


def _page(
    request: Request,
    service: OrganisationService,
    *,
    values: dict[str, str] | None = None,
    errors: list[str] | None = None,
    import_problems: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    session = service.session
    _ = translator(request)
    return render(
        request,
        "pages/admin/organisations.html",
        page_context(
            request,
            organisations=organisations_repository.list_all(session),
            people=accounts_repository.count_by_organisation(session),
            clients=clients_repository.count_by_organisation(session),
            kind_options=[("", _("Choose a kind"))]
            + [(k.value, k.value) for k in OrganisationKind],
            values=values or {},
            errors=errors or [],
            import_problems=import_problems or [],
            own=service.caller.party.code,
            max_kib=MAX_BYTES // 1024,
        ),
        status_code=status_code,
    )


@router.get(PAGE, response_class=HTMLResponse)
def organisations(request: Request, service: OrganisationAdmin) -> HTMLResponse:
    return _page(request, service)


@router.post(PAGE, response_class=HTMLResponse)
async def add_organisation(
    request: Request, service: OrganisationAdder, person: CurrentPerson
) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    values = {k: v for k in ("code", "name", "kind") if isinstance(v := form.get(k, ""), str)}
    _ = translator(request)
    try:
        body = OrganisationIn(**values)
    except ValidationError:
        return _page(request, service, values=values, errors=[refusal_of_size(_)], status_code=422)
    try:
        service.add(body)
    except HubError as exc:  # recorded by the service
        return _page(
            request,
            service,
            values=values,
            errors=[refusal(exc, _)],
            status_code=exc.status_code,
        )
    return RedirectResponse(PAGE, status_code=303)


def refusal_of_size(_: Gettext) -> str:
    return _("A field is too long: a code has at most 16 characters, a name at most 200.")


async def _set_enabled(
    request: Request,
    service: OrganisationService,
    person: CurrentPerson,
    code: str,
    *,
    enabled: bool,
) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    try:
        service.update(code, OrganisationPatch(enabled=enabled))
    except HubError as exc:  # recorded by the service
        if exc.status_code == 404:
            raise
        _ = translator(request)
        return _page(request, service, errors=[refusal(exc, _)], status_code=exc.status_code)
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{code}/disable", response_class=HTMLResponse)
async def disable(
    request: Request, service: OrganisationDisabler, person: CurrentPerson, code: Code
) -> Response:
    return await _set_enabled(request, service, person, code, enabled=False)


@router.post(PAGE + "/{code}/enable", response_class=HTMLResponse)
async def enable(
    request: Request, service: OrganisationEnabler, person: CurrentPerson, code: Code
) -> Response:
    return await _set_enabled(request, service, person, code, enabled=True)


@router.post(PAGE + "/import", response_class=HTMLResponse)
async def import_organisations(
    request: Request, service: OrganisationAdder, person: CurrentPerson
) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    upload = form.get("file")
    _ = translator(request)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, service, import_problems=[_("Choose a CSV file.")], status_code=422)
    data = await upload.read(MAX_BYTES + 1)
    source = upload.filename[-100:]
    try:
        changes = import_file(service, data, source=source)
    except ImportRefused as exc:  # nothing imported; the refusal is recorded
        return _page(request, service, import_problems=exc.problems, status_code=422)
    return render(
        request,
        "pages/admin/organisations_imported.html",
        page_context(request, changes=changes, source=source),
    )
