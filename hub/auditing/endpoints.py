"""The audit API under ``/api/v1/audit``: the auditors' (scope ``audit:read``), and the log's
public parts for every authenticated caller.

Auditors read the trail and nothing else. Any authenticated client or person, whatever its
scopes, reads the audit keys, the latest checkpoint and consistency proofs, and the inclusion
proof of an event it was the actor of, so a partner can verify its receipts and act as a
witness (decision 0030). Every read is itself recorded (see :mod:`hub.auditing.queries`), and so
is a refusal.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from audit.events import Action, Outcome, format_time
from auth.scopes import Scope
from hub.auditing.filters import event_filter_of
from hub.auditing.queries import MAX_SEQ, AuditQueries, audit_queries
from hub.auditing.repository import EventFilter, Order
from hub.auditing.schemas import (
    AuditKeysOut,
    CheckpointOut,
    ConsistencyOut,
    EventPage,
    InclusionOut,
    SubjectReportIn,
    SubjectReportOut,
)
from hub.auditing.stats import MAX_DAYS, ZONE, AuditStats
from hub.core.errors import Unprocessable
from hub.core.rfc3339 import Timestamp
from hub.web.caller import Serving
from hub.web.deps import ServicesDep, StrictQuery
from hub.web.pagination import Cursor, Limit
from hub.web.problems import problem, problem_responses
from hub.web.routes import TokenFirstRoute

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    responses=problem_responses(not_found=True),
    dependencies=[StrictQuery],
    route_class=TokenFirstRoute,
)

_MAX_SEQ = MAX_SEQ


Queries = Annotated[
    AuditQueries,
    Depends(
        Serving(
            audit_queries,
            scope=Scope.AUDIT_READ,
            action=Action.AUDIT_QUERY,
            resource_type="audit_log",
        )
    ),
]


PublicQueries = Annotated[
    AuditQueries,
    Depends(
        Serving(
            audit_queries,
            scope=None,
            action=Action.AUDIT_QUERY,
            resource_type="audit_log",
        )
    ),
]
"""The log's public parts: any authenticated caller; what it may read beyond the keys, the
checkpoint and consistency proofs is decided by :class:`AuditQueries`."""

_FOR_PARTNERS = (
    " Any authenticated client or person may ask, whatever its scopes (no `audit:read` needed)."
)

_TEXT = 512


def event_filter(  # noqa: PLR0917 - FastAPI reads query parameters from the signature
    services: ServicesDep,
    since: Annotated[Timestamp | None, Query(description="Events at or after (RFC 3339)")] = None,
    until: Annotated[Timestamp | None, Query(description="Events before (RFC 3339)")] = None,
    organisation: Annotated[str | None, Query(max_length=16, pattern=r"^[A-Z0-9]+$")] = None,
    actor: Annotated[
        str | None,
        Query(min_length=1, max_length=_TEXT, description="actor_id: a client id or a username"),
    ] = None,
    client: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=_TEXT,
            description="The OAuth client the action came through: actor_client, or actor_id "
            "when actor_type is client",
        ),
    ] = None,
    action: Annotated[Action | None, Query()] = None,
    document_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    share_id: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Events about this share"),
    ] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    purpose: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="A processing-activity code of the policy (terugkeer); matches the "
            "URI it stands for in processing_activity_id. An unknown code is 422",
        ),
    ] = None,
    policy_rule: Annotated[
        str | None, Query(min_length=1, max_length=_TEXT, description="The deciding rule, exact")
    ] = None,
) -> EventFilter:
    return event_filter_of(
        services,
        since=since,
        until=until,
        organisation=organisation,
        actor=actor,
        client=client,
        action=action,
        outcome=outcome,
        document_id=document_id,
        share_id=share_id,
        purpose=purpose,
        policy_rule=policy_rule,
    )


Filters = Annotated[EventFilter, Depends(event_filter)]
OrderQuery = Annotated[
    Order,
    Query(description="asc: log order, oldest first (the default); desc: newest first"),
]


@router.get(
    "/events",
    response_model=EventPage,
    summary="Audit events, filtered, in log order or newest first",
)
def list_events(
    queries: Queries,
    where: Filters,
    limit: Limit = 50,
    cursor: Cursor = None,
    order: OrderQuery = "asc",
) -> EventPage:
    return queries.events(where, cursor=cursor, limit=limit, order=order)


@router.get(
    "/events/{seq}",
    response_model=InclusionOut,
    summary="One event with its inclusion proof against the latest checkpoint",
    description="With `audit:read`: any event. Any other authenticated caller: an event it was "
    "the actor of (the client, of the same issuer, or the person), such as the download its "
    "receipt names; another's event is 403, recorded as a denied `audit.query`.",
    responses={403: problem("Not the caller's own event, and the caller lacks audit:read")},
)
def get_event(queries: PublicQueries, seq: Annotated[int, Path(ge=0, le=_MAX_SEQ)]) -> InclusionOut:
    return queries.event(seq)


@router.get(
    "/checkpoints/latest",
    response_model=CheckpointOut,
    summary="The newest checkpoint",
    description="The signed tree head to verify inclusion proofs against; keep it, and ask "
    "for a consistency proof from it next time." + _FOR_PARTNERS,
)
def latest_checkpoint(queries: PublicQueries) -> CheckpointOut:
    return queries.latest_checkpoint()


@router.get(
    "/consistency",
    response_model=ConsistencyOut,
    response_model_by_alias=True,
    summary="Consistency proof between two tree sizes",
    description="Shows that the tree of size `to` extends that of size `from` (RFC 9162)."
    + _FOR_PARTNERS,
)
def consistency(
    queries: PublicQueries,
    size1: Annotated[int, Query(alias="from", ge=1, le=_MAX_SEQ)],
    size2: Annotated[int, Query(alias="to", ge=1, le=_MAX_SEQ)],
) -> ConsistencyOut:
    return queries.consistency(size1, size2)


@router.get(
    "/keys",
    response_model=AuditKeysOut,
    summary="The audit keys (checkpoints, receipts)",
    description="Every audit key, retired ones included, as signed-note verifier keys."
    + _FOR_PARTNERS,
)
def keys(queries: PublicQueries) -> AuditKeysOut:
    return queries.keys()


@router.get(
    "/export",
    summary="Every matching event as CSV or JSON Lines, streamed",
    description="The same filters as `GET /events`. CSV with `separator=semicolon&bom=true` "
    "opens in Dutch Excel as columns; the default comma form is for tools. Text cells that "
    "a spreadsheet would take for a formula get a leading `'` (docs/api.md).",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/jsonl": {}}}},
)
def export(
    queries: Queries,
    where: Filters,
    *,
    format: Literal["csv", "jsonl"] = "jsonl",  # noqa: A002
    separator: Annotated[
        Literal["comma", "semicolon"],
        Query(description="CSV only: comma (for tools) or semicolon (for Dutch Excel)"),
    ] = "comma",
    bom: Annotated[
        bool, Query(description="CSV only: a UTF-8 byte order mark first (for Excel)")
    ] = False,
    order: OrderQuery = "asc",
) -> StreamingResponse:
    media = "text/csv; charset=utf-8" if format == "csv" else "application/jsonl"
    stamp = format_time(datetime.now().astimezone())[:19].replace(":", "")
    cells = ";" if separator == "semicolon" else ","
    return StreamingResponse(
        queries.export(where, format, separator=cells, bom=bom, order=order),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"'},
    )


_DAY = r"^\d{4}-\d{2}-\d{2}$"


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Unprocessable(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


@router.get(
    "/stats",
    response_model=AuditStats,
    summary="Counts for the console's charts: accesses, denials, downloads per day or purpose",
    description="Days are whole days in Europe/Amsterdam, `since` to `until` both included, "
    f"at most {MAX_DAYS} (the default: the last 14 days up to today). Each figure equals "
    "the number of events `GET /events` returns for the same day, organisation, action, "
    "outcome and purpose (see docs/api.md).",
)
def stats(
    queries: Queries,
    since: Annotated[
        str | None, Query(pattern=_DAY, description="First day, YYYY-MM-DD (Europe/Amsterdam)")
    ] = None,
    until: Annotated[
        str | None, Query(pattern=_DAY, description="Last day, included, YYYY-MM-DD")
    ] = None,
) -> AuditStats:
    last = _day(until, "until") or datetime.now(ZONE).date()
    first = _day(since, "since") or last - timedelta(days=13)
    return queries.stats(first, last)


@router.post(
    "/subject-report",
    response_model=SubjectReportOut,
    summary="Every recorded access to one person's documents, and why",
)
def subject_report(queries: Queries, body: SubjectReportIn) -> SubjectReportOut:
    return queries.subject_report(body.v_number, cursor=body.cursor, limit=body.limit)
