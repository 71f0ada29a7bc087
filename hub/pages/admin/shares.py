"""The shares overview of the administration: every organisation's active shares, filtered by
grantor, grantee and purpose, each with a revoke button.

An administrator reads no personal data: a case share is shown as "case" and its types, never
its v-number (:meth:`hub.shares.service.ShareService.every_active`, recorded as ``share.list``).
Revoking is :meth:`~hub.shares.service.ShareService.revoke_as_administrator`, recorded as
``share.revoke`` with the administrator as the actor and ``detail`` saying it was an
administrator's revoke.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.directory import organisations_repository
from hub.pages.admin.serving import ShareRevoking, SharesOverview
from hub.pages.dependencies import check_form
from hub.pages.display import page_context
from hub.ui.person import CurrentPerson
from hub.ui.rendering import render, translator

router = APIRouter(include_in_schema=False)

PAGE_SIZE: Final = 50
_CODE: Final = re.compile(r"[A-Z][A-Z0-9]{1,15}")
Filter = Annotated[str, Query(max_length=64)]


def _code(value: str) -> str | None:
    """A filter's organisation code; anything else (empty: all) filters nothing."""
    value = value.strip().upper()
    return value if _CODE.fullmatch(value) else None


@router.get("/admin/shares", response_class=HTMLResponse)
def every_share(
    request: Request,
    service: SharesOverview,
    *,
    grantor: Filter = "",
    grantee: Filter = "",
    purpose: Filter = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    purposes = service.deps.policy.purposes
    chosen = {
        "grantor": _code(grantor),
        "grantee": _code(grantee),
        "purpose": purpose if purpose in purposes else None,
    }
    items, next_cursor = service.every_active(**chosen, cursor=cursor, limit=PAGE_SIZE)
    organisations = organisations_repository.list_all(service.session)
    filters = {k: v for k, v in chosen.items() if v}
    _ = translator(request)
    return render(
        request,
        "pages/admin/shares.html",
        page_context(
            request,
            items=items,
            names={o.code: o.name for o in organisations},
            organisation_options=[
                ("", _("All organisations")),
                *((o.code, f"{o.name} ({o.code})") for o in organisations),
            ],
            purpose_options=[("", _("All purposes")), *((code, code) for code in purposes)],
            purposes=purposes,
            chosen=chosen,
            next_page=urlencode({**filters, "cursor": next_cursor}) if next_cursor else None,
            back=f"/admin/shares?{urlencode(filters)}" if filters else "/admin/shares",
        ),
    )


@router.post("/admin/shares/{share_id:uuid}/revoke")
async def revoke_share(
    request: Request,
    service: ShareRevoking,
    person: CurrentPerson,
    share_id: Annotated[uuid.UUID, Path()],
) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    service.revoke_as_administrator(share_id)
    back = form.get("back")
    target = back if isinstance(back, str) and back.startswith("/admin/shares") else "/admin/shares"
    return RedirectResponse(target, status_code=303)
