"""The shares pages: what the person's organisation granted and received, revoking, and the
form that shares one document or a case.

The list is the shares service's audited ``page``; revoking and sharing are its ``revoke`` and
``create``, so the policy decides and the trail records exactly as for ``/api/v1/shares``. The
form offers only what the policy allows the organisation (:func:`hub.pages.choices.
share_choices`) and names the rule for what it does not; the service decides again on submit,
and its refusal is shown on the form (422 or 403) with what the person entered, the v-number
only in the page's body.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from hub.core.errors import Forbidden, NotFound, Unprocessable
from hub.directory import organisations_repository
from hub.documents.service import Shown
from hub.pages.choices import (
    ShareChoices,
    form_day,
    latest_day,
    share_choices,
    share_expiry,
    today,
)
from hub.pages.dependencies import (
    ShareGranter,
    ShareLister,
    SharePages,
    ShareRevoker,
    check_form,
)
from hub.pages.display import display, page_context
from hub.pages.refusals import share_refusal
from hub.shares.schemas import ShareIn
from hub.ui.i18n import language_of, translations
from hub.ui.person import CurrentPerson
from hub.ui.rendering import render, translator

router = APIRouter(include_in_schema=False)

PAGE_SIZE: Final = 25
ShareId = Annotated[uuid.UUID, Path()]


@router.get("/shares", response_class=HTMLResponse)
def shares(
    request: Request,
    pages: ShareLister,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    service = pages.shares
    items, next_cursor = service.page(role=None, active_only=False, cursor=cursor, limit=PAGE_SIZE)
    names = {o.code: o.name for o in organisations_repository.list_all(service.session)}
    return render(
        request,
        "pages/shares.html",
        page_context(
            request,
            items=items,
            next_cursor=next_cursor,
            names=names,
            purposes=service.deps.policy.purposes,
            own=service.caller.party.code,
        ),
    )


@router.post("/shares/{share_id:uuid}/revoke")
async def revoke(
    request: Request, pages: ShareRevoker, person: CurrentPerson, share_id: ShareId
) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    pages.shares.revoke(share_id)
    return RedirectResponse("/shares", status_code=303)


def _choices(pages: SharePages, document_id: uuid.UUID | None) -> tuple[ShareChoices, Shown | None]:
    """The form's choices; for one document, decided for it after an audited read of it (the
    form shows its title and type; hidden and missing alike are 404)."""
    service = pages.shares
    organisations = organisations_repository.list_all(service.session)
    party, policy = service.caller.party, service.deps.policy
    if document_id is None:
        return share_choices(policy, party, organisations), None
    shown = pages.documents.get(document_id)
    choices = share_choices(
        policy,
        party,
        organisations,
        document_type=shown.document.document_type,
        uploader=shown.document.uploader,
    )
    return choices, shown


def _form_page(
    request: Request,
    pages: SharePages,
    *,
    choices: ShareChoices,
    document: Shown | None,
    values: dict[str, object],
    errors: list[str],
    status_code: int = 200,
) -> HTMLResponse:
    now = pages.shares.now
    wanted = values.get("document_types")
    # The date field's bounds hold for every choice of types the form offers; each type says
    # its own maximum, and the service decides on the ticked ones.
    max_days = choices.longest_days(wanted if isinstance(wanted, list) else [])
    shown = display(request)
    last = latest_day(now, max_days) if max_days else None
    return render(
        request,
        "pages/share_new.html",
        page_context(
            request,
            choices=choices,
            document=document,
            values=values,
            errors=errors,
            grantee_options=[(g.code, f"{g.name} ({g.code})") for g in choices.grantees],
            purpose_options=[
                (code, shown.purpose(code, text)) for code, text in choices.purposes.items()
            ],
            # The date field's min and max (ISO, as the field takes them) and the last day as
            # the description reads it.
            first_day=today(now).isoformat(),
            last_day=last.isoformat() if last else "",
            last_day_shown=shown.day(last) if last else "",
        ),
        status_code=status_code if choices.allowed else 403,
    )


@router.get("/shares/new", response_class=HTMLResponse)
def new_share(
    request: Request,
    pages: ShareGranter,
    document: Annotated[uuid.UUID | None, Query()] = None,
) -> HTMLResponse:
    choices, shown = _choices(pages, document)
    return _form_page(request, pages, choices=choices, document=shown, values={}, errors=[])


@router.post("/shares/new", response_class=HTMLResponse)
async def create_share(request: Request, pages: ShareGranter, person: CurrentPerson) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    _ = translator(request)
    text = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    types = [v for v in form.getlist("document_types") if isinstance(v, str)]
    values: dict[str, object] = {
        "grantee": text.get("grantee", ""),
        "purpose": text.get("purpose", ""),
        "until": text.get("until", ""),
        "v_number": text.get("v_number", ""),
        "document_types": types,
    }
    document_id: uuid.UUID | None = None
    if text.get("document_id"):
        try:
            document_id = uuid.UUID(text["document_id"])
        except ValueError:
            raise NotFound("no such document") from None
    choices, shown = _choices(pages, document_id)

    def again(errors: list[str], status_code: int) -> HTMLResponse:
        return _form_page(
            request,
            pages,
            choices=choices,
            document=shown,
            values=values,
            errors=errors,
            status_code=status_code,
        )

    try:
        until = form_day(text.get("until", ""))
    except ValueError:
        return again([_("Give the last day of the share as a date.")], 422)
    try:
        request_body = ShareIn(
            grantee=text.get("grantee", ""),
            document_id=document_id,
            v_number=None if document_id else text.get("v_number") or None,
            document_types=None if document_id else (types or None),
            purpose=text.get("purpose", ""),
            expires_at=share_expiry(until).astimezone(UTC),
        )
    except ValidationError as exc:
        return again([_field_error(_, error) for error in exc.errors()], 422)
    try:
        share, receipt = pages.shares.create(request_body)
    except (Unprocessable, Forbidden) as exc:
        # Recorded by the service; the form again, with its reason as the page says it.
        max_days = choices.max_days(types)
        said = share_refusal(
            exc,
            last_day=latest_day(pages.shares.now, max_days) if max_days else None,
            max_days=max_days,
            shown=display(request),
            _=_,
            ngettext=translations(language_of(request)).ngettext,
        )
        return again([said], exc.status_code)
    return render(
        request,
        "pages/share_created.html",
        page_context(
            request,
            share=share,
            receipt=receipt,
            document=shown,
            names={g.code: g.name for g in choices.grantees},
            purposes=choices.purposes,
        ),
        status_code=201,
    )


def _field_error(_: Callable[[str], str], error: Mapping[str, object]) -> str:
    """A validation error of the share as the person reads it: the field, never the input."""
    where = error.get("loc") or ()
    field = str(where[0]) if isinstance(where, tuple) and where else ""
    messages = {
        "grantee": _("Choose the organisation to share with."),
        "v_number": _("A v-number is exactly 10 digits."),
        "document_types": _("Choose at least one document type."),
        "purpose": _("Choose the purpose of the share."),
        "expires_at": _("Give the last day of the share as a date."),
    }
    return messages.get(field, _("Give either one document, or a v-number with document types."))
