"""``/audit/subject-report``: who accessed one person's documents, when, why and under which
rule, for an auditor answering an AVG inzage request.

``GET`` shows the form; ``POST`` (``csrf_token`` first, ``v_number``, ``format``) shows the
report as a page (``format`` ``html`` or none; paged: the "next page" form posts the cursor
back), or downloads it whole as ``csv`` or ``pdf`` (:mod:`hub.pages.console.report_files`).
The v-number travels only in a form's body: never in an address, a file name or a log. Every
page and file read is the API's own query (:mod:`hub.pages.console.reporting`), recorded as
``audit.subject_report`` about the person's pseudonym; a person without ``audit:read`` gets the
403 page, recorded as that action too.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter, ValidationError

from audit.events import Action
from auth.scopes import Scope
from hub.auditing.queries import audit_queries
from hub.pages.console.report_files import Wording, report_csv, report_pdf
from hub.pages.console.reporting import ReportLine, SubjectReports
from hub.pages.dependencies import check_form
from hub.pages.display import display, page_context
from hub.runtime import Services
from hub.ui.person import CurrentPerson, PageServing
from hub.ui.rendering import HUB_NAME, PAGE_HEADERS, render, translator
from hub.web.recording import Call
from hub.web.schemas import VNumber

router = APIRouter(include_in_schema=False)

PATH: Final = "/audit/subject-report"
FORMATS: Final = ("html", "csv", "pdf")
_V_NUMBER: Final = TypeAdapter(VNumber)


def _reports(call: Call, services: Services) -> SubjectReports:
    return SubjectReports(
        audit_queries(call, services),
        policy=services.policy,
        purpose_uri=services.audit.purpose_uri,
    )


Reporter = Annotated[
    SubjectReports,
    Depends(
        PageServing(
            _reports,
            scope=Scope.AUDIT_READ,
            action=Action.AUDIT_SUBJECT_REPORT,
            resource_type="audit_log",
        )
    ),
]


def _wording(request: Request, reports: SubjectReports) -> Wording:
    return Wording(
        shown=display(request),
        gettext=translator(request),
        names=reports.organisation_names(),
        purposes=dict(reports.purpose_descriptions),
    )


def _page(
    request: Request,
    *,
    v_number: str = "",
    errors: tuple[str, ...] = (),
    lines: tuple[ReportLine, ...] | None = None,
    next_cursor: str | None = None,
    wording: Wording | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "pages/audit/subject_report.html",
        page_context(
            request,
            v_number=v_number,
            errors=errors,
            lines=lines,
            next_cursor=next_cursor,
            wording=wording,
        ),
        status_code=status_code,
    )


@router.get(PATH, response_class=HTMLResponse)
def subject_report_form(request: Request, _reports: Reporter) -> HTMLResponse:
    return _page(request)


def _download(content: bytes | str, *, media_type: str, name: str) -> Response:
    headers = {
        **PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    return Response(content, media_type=media_type, headers=headers)


@router.post(PATH, response_class=HTMLResponse)
async def subject_report(request: Request, reports: Reporter, person: CurrentPerson) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    _ = translator(request)
    text = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    v_number = text.get("v_number", "").strip()
    fmt = text.get("format") or "html"
    try:
        _V_NUMBER.validate_python(v_number)
    except ValidationError:
        error = _("A v-number is exactly 10 digits.")
        return _page(request, v_number=v_number, errors=(error,), status_code=422)
    if fmt not in FORMATS:
        error = _("Choose the report as a page, a CSV file or a PDF file.")
        return _page(request, v_number=v_number, errors=(error,), status_code=422)
    wording = _wording(request, reports)
    stamp = reports.now.strftime("%Y%m%d-%H%M%S")
    if fmt == "csv":
        body = report_csv(reports.whole(v_number, gettext=_), wording)
        return _download(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            name=f"subject-report-{stamp}.csv",
        )
    if fmt == "pdf":
        pdf = report_pdf(
            reports.whole(v_number, gettext=_),
            wording,
            v_number=v_number,
            made_at=reports.now,
            maker=reports.maker,
            hub_name=HUB_NAME,
        )
        return _download(pdf, media_type="application/pdf", name=f"subject-report-{stamp}.pdf")
    page = reports.page(v_number, cursor=text.get("cursor") or None, gettext=_)
    return _page(
        request,
        v_number=v_number,
        lines=page.lines,
        next_cursor=page.next_cursor,
        wording=wording,
    )
