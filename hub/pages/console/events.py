"""The auditor's event pages: the filtered events (``/audit/events``), one event with its
verified inclusion proof (``/audit/events/{seq}``) and the export of a selection
(``/audit/export``).

Each is the audit API's own operation with the person as the caller
(:class:`~hub.auditing.queries.AuditQueries`: ``events``, ``event``, ``export``), so the page
reads and records exactly what ``/api/v1/audit`` would: one ``audit.query`` per page of events
or event shown, one ``audit.export`` per export. The form's fields carry the API's filter names
(:mod:`hub.pages.console.filters`); input the filter cannot take is the form again with the
error on its field (422). The event's proof is checked by the server
(:mod:`hub.pages.console.proofs`) and the verdict shown with the signed note to copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from audit.events import LEAF_FIELDS, Action, Outcome, parse_time
from hub.auditing.endpoints import export as export_events
from hub.auditing.queries import MAX_SEQ
from hub.directory import organisations_repository
from hub.pages.console.dependencies import Console, EventReader, EventsExporter, EventsReader
from hub.pages.console.filters import FIELDS, Selection, read_selection
from hub.pages.console.labels import ACTION_LABELS, FIELD_LABELS, OUTCOME_LABELS
from hub.pages.console.proofs import check_inclusion
from hub.pages.console.views import event_view, resource_link
from hub.pages.display import display, page_context
from hub.ui.rendering import N_, render, translator

router = APIRouter(include_in_schema=False)

PAGE_SIZE: Final = 50
EXPORTS: Final = (
    ("csv-excel", {"format": "csv", "separator": "semicolon", "bom": "true"}),
    ("csv", {"format": "csv", "separator": "comma"}),
    ("jsonl", {"format": "jsonl"}),
)
"""The export links of a selection: CSV for Dutch Excel, CSV for tools, JSON Lines."""
FIELD_NAMES: Final = {
    "since": N_("From (day or moment)"),
    "until": N_("Up to and including (day), or before (moment)"),
    "organisation": N_("Organisation"),
    "actor": N_("Person or client (user name or client id)"),
    "client": N_("Through client"),
    "action": N_("Action"),
    "outcome": N_("Outcome"),
    "document_id": N_("Document id"),
    "share_id": N_("Share id"),
    "purpose": N_("Purpose (processing activity)"),
    "policy_rule": N_("Policy rule"),
}
"""The form's label of each filter field (:data:`~hub.pages.console.filters.FIELDS`)."""


def _form_options(console: Console, request: Request) -> dict[str, object]:
    """The form's choices: organisations, actions, outcomes and purposes, each with "any"."""
    _ = translator(request)
    shown = display(request)
    organisations = organisations_repository.list_all(console.queries.session)
    purposes = console.policy.purposes
    return {
        "organisation_options": [("", _("Any organisation"))]
        + [(o.code, f"{o.name} ({o.code})") for o in organisations],
        "action_options": [("", _("Any action"))]
        + [(a.value, f"{_(ACTION_LABELS[a])} ({a.value})") for a in Action],
        "outcome_options": [("", _("Any outcome"))]
        + [(o.value, _(OUTCOME_LABELS[o])) for o in Outcome],
        "purpose_options": [("", _("Any purpose"))]
        + [(code, shown.purpose(code, text)) for code, text in purposes.items()],
        "order_options": [("desc", _("Newest first")), ("asc", _("Oldest first"))],
    }


def _events_page(
    request: Request,
    console: Console,
    selection: Selection,
    *,
    items: list[object],
    next_cursor: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    _ = translator(request)
    errors = {name: [_(m) for m in messages] for name, messages in selection.errors.items()}
    labels = {name: _(label) for name, label in FIELD_NAMES.items()}
    return render(
        request,
        "pages/audit/events.html",
        page_context(
            request,
            values=selection.values,
            order=selection.order,
            errors=errors,
            labels=labels,
            # Each message with the field it is about: the summary is read apart from the form.
            summary=[f"{labels[name]}: {m}" for name in FIELDS for m in errors.get(name, [])],
            items=items,
            next_query=selection.query(cursor=next_cursor) if next_cursor else None,
            exports=[(name, selection.query(**more)) for name, more in EXPORTS],
            **_form_options(console, request),
        ),
        status_code=status_code,
    )


def _selection(request: Request, console: Console) -> Selection:
    return read_selection(request.query_params, purposes=console.policy.purposes)


@router.get("/audit/events", response_class=HTMLResponse)
def events(
    request: Request,
    console: EventsReader,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    selection = _selection(request, console)
    if not selection.valid:
        return _events_page(
            request, console, selection, items=[], next_cursor=None, status_code=422
        )
    page = console.queries.events(
        selection.where(console.services),
        cursor=cursor or None,
        limit=PAGE_SIZE,
        order=selection.order,
    )
    gettext, purposes = translator(request), console.purpose_codes()
    items: list[object] = [
        event_view(item, gettext=gettext, purposes=purposes) for item in page.items
    ]
    return _events_page(request, console, selection, items=items, next_cursor=page.next_cursor)


@router.get("/audit/events/{seq}", response_class=HTMLResponse)
def event(
    request: Request, console: EventReader, seq: Annotated[int, Path(ge=0, le=MAX_SEQ)]
) -> HTMLResponse:
    answer = console.queries.event(seq)
    check = check_inclusion(answer, console.queries.auditor.verifiers)
    gettext = translator(request)
    leaf: Mapping[str, object] = answer.event.leaf
    fields = [
        (gettext(FIELD_LABELS[name]), name, str(leaf[name])) for name in LEAF_FIELDS if name in leaf
    ]
    return render(
        request,
        "pages/audit/event.html",
        page_context(
            request,
            answer=answer,
            view=event_view(answer.event, gettext=gettext, purposes=console.purpose_codes()),
            fields=fields,
            check=check,
            failure=gettext(check.failed) if check.failed else "",
            resource=resource_link(
                str(leaf.get("resource_type", "")), str(leaf.get("resource_id", ""))
            ),
            signed_at=parse_time(answer.checkpoint.signed_at),
            # The page's own read is recorded after this event, so a later one always exists.
            previous_seq=seq - 1 if seq > 0 else None,
            next_seq=seq + 1 if seq < MAX_SEQ else None,
        ),
    )


@router.get("/audit/export", response_model=None)
def export(
    request: Request,
    console: EventsExporter,
    *,
    format: Literal["csv", "jsonl"] = "csv",  # noqa: A002 - the API's name
    separator: Literal["comma", "semicolon"] = "comma",
    bom: bool = False,
) -> HTMLResponse | StreamingResponse:
    selection = _selection(request, console)
    if not selection.valid:
        return _events_page(
            request, console, selection, items=[], next_cursor=None, status_code=422
        )
    # The API's own answer: the same stream, media type and file name.
    response = export_events(
        console.queries,
        selection.where(console.services),
        format=format,
        separator=separator,
        bom=bom,
        order=selection.order,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
