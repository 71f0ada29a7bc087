"""``/admin``: the administration's start page, with what it counts (organisations, people,
clients, active shares) and a link to each of its pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub.pages.admin.people import OrganisationAdmin, counts
from hub.pages.display import page_context
from hub.ui.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/admin", response_class=HTMLResponse)
def index(request: Request, service: OrganisationAdmin) -> HTMLResponse:
    return render(
        request,
        "pages/admin/index.html",
        page_context(request, counts=counts(service.session, now=service.now)),
    )
